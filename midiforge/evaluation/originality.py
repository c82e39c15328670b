"""Originality: does generated music copy passages of the training data?

Each track becomes a sequence of (pitch interval, onset delta) tokens, so a copied passage is
found even when it is transposed (training data is usually transposition-augmented). For each
generated track we find the longest passage that also occurs in some reference track, and the
share of its n-note passages that occur anywhere in the reference.

Passages are compared through 64-bit polynomial hashes of token n-grams computed with numpy for
every position at once; the longest match is a binary search over the length (a passage of
length L occurring implies its prefix of length L-1 occurs). Reference hashes per length are
cached, so hundreds of reference files take well under a second.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from midiforge.evaluation.pieces import PieceNotes, TrackNotes

#: Onset deltas are quantised to this many steps per quarter note (sixteenths and triplets).
DELTA_STEPS_PER_QUARTER = 12
_MAX_DELTA = 16 * DELTA_STEPS_PER_QUARTER
_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)


def note_tokens(track: TrackNotes) -> np.ndarray:
    """One token per note after the first: (pitch interval, quantised onset delta) packed into int64."""
    if len(track) < 2:
        return np.zeros(0, dtype=np.int64)
    interval = np.clip(np.diff(track.pitch), -127, 127) + 128
    delta = np.clip(np.round(np.diff(track.onset) * DELTA_STEPS_PER_QUARTER), 0, _MAX_DELTA).astype(np.int64)
    return interval.astype(np.int64) * 1024 + delta + 1


def _mix(tokens: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads token values over 64 bits before polynomial hashing."""
    with np.errstate(over="ignore"):
        z = tokens.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _Hasher:
    """Hashes of every length-L window of a token array, position independent."""

    def __init__(self, tokens: np.ndarray):
        n = len(tokens)
        with np.errstate(over="ignore"):
            powers = np.ones(n + 1, dtype=np.uint64)
            powers[1:] = np.cumprod(np.full(n, _BASE, dtype=np.uint64))
            inverse = np.uint64(pow(int(_BASE), -1, 1 << 64))
            self._inv_powers = np.ones(n + 1, dtype=np.uint64)
            self._inv_powers[1:] = np.cumprod(np.full(n, inverse, dtype=np.uint64))
            self._prefix = np.zeros(n + 1, dtype=np.uint64)
            self._prefix[1:] = np.cumsum(_mix(tokens) * powers[:-1])
        self.n = n

    def windows(self, length: int, starts: np.ndarray | None = None) -> np.ndarray:
        if starts is None:
            starts = np.arange(0, max(self.n - length + 1, 0))
        with np.errstate(over="ignore"):
            return (self._prefix[starts + length] - self._prefix[starts]) * self._inv_powers[starts]


@dataclass(frozen=True)
class Match:
    """The longest copied passage of one generated file."""

    notes: int  # passage length in notes (0: not even two notes in a row are shared)
    source: str  # "file.mid#track" of the reference where it occurs, "" when none


class ReferenceIndex:
    """All reference tracks as one token array, with per-length sorted n-gram hashes."""

    def __init__(self, sequences: Sequence[np.ndarray], labels: Sequence[str], cache_size: int = 64):
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        self.tokens = np.concatenate(list(sequences)) if len(sequences) else np.zeros(0, np.int64)
        self.sequence_of = np.repeat(np.arange(len(sequences)), lengths)
        self.labels = list(labels)
        self.max_length = int(lengths.max()) if len(lengths) else 0
        self._hasher = _Hasher(self.tokens)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_pieces(cls, pieces: Sequence[PieceNotes]) -> ReferenceIndex:
        sequences, labels = [], []
        for piece in pieces:
            for index, track in enumerate(piece.pitched_tracks):
                sequences.append(note_tokens(track))
                labels.append(f"{piece.path.name}#{track.name or index}")
        return cls(sequences, labels)

    def _sorted_hashes(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of every window of ``length`` tokens inside one reference track, sorted, with starts."""
        if length in self._cache:
            self._cache.move_to_end(length)
            return self._cache[length]
        starts = np.arange(0, max(len(self.tokens) - length + 1, 0))
        starts = (
            starts[self.sequence_of[starts] == self.sequence_of[starts + length - 1]]
            if len(starts)
            else starts
        )
        hashes = self._hasher.windows(length, starts)
        order = np.argsort(hashes, kind="stable")
        entry = (hashes[order], starts[order])
        self._cache[length] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def find(self, hashes: np.ndarray, length: int) -> np.ndarray:
        """Reference start position of each query window hash, -1 where it does not occur."""
        table, starts = self._sorted_hashes(length)
        if not len(table):
            return np.full(len(hashes), -1)
        at = np.clip(np.searchsorted(table, hashes), 0, len(table) - 1)
        return np.where(table[at] == hashes, starts[at], -1)

    def longest_match(self, tokens: np.ndarray) -> Match:
        """Longest run of ``tokens`` occurring in one reference track (binary search on its length)."""
        hasher = _Hasher(tokens)
        lo, hi, where = 0, min(len(tokens), self.max_length), -1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            found = self.find(hasher.windows(mid), mid)
            hit = np.flatnonzero(found >= 0)
            if len(hit):
                lo, where = mid, int(found[hit[0]])
            else:
                hi = mid - 1
        if lo == 0:
            return Match(0, "")
        return Match(lo + 1, self.labels[int(self.sequence_of[where])])

    def shared_windows(self, tokens: np.ndarray, length: int) -> tuple[int, int]:
        """(windows of ``length`` tokens found in the reference, all windows) of one track."""
        if len(tokens) < length:
            return 0, 0
        found = self.find(_Hasher(tokens).windows(length), length)
        return int((found >= 0).sum()), len(found)


@dataclass(frozen=True)
class FileOriginality:
    path: str
    longest_copied_notes: int
    longest_copied_from: str
    ngram_overlap: float  # share of the file's n-note passages that occur in the reference (nan if none)


@dataclass(frozen=True)
class OriginalityReport:
    ngram_notes: int
    copy_threshold_notes: int
    files: list[FileOriginality]

    @property
    def copied_files(self) -> list[FileOriginality]:
        """Files whose longest copied passage reaches the threshold: likely memorised."""
        return [f for f in self.files if f.longest_copied_notes >= self.copy_threshold_notes]

    @property
    def max_copied_notes(self) -> int:
        return max((f.longest_copied_notes for f in self.files), default=0)

    @property
    def mean_ngram_overlap(self) -> float:
        values = [f.ngram_overlap for f in self.files if not np.isnan(f.ngram_overlap)]
        return float(np.mean(values)) if values else float("nan")


def originality(
    generated: Sequence[PieceNotes],
    reference: Sequence[PieceNotes] | ReferenceIndex,
    *,
    ngram_notes: int = 8,
    copy_threshold_notes: int = 16,
    on_file=None,
) -> OriginalityReport:
    """Longest copied passage and n-gram overlap of every generated piece against the reference."""
    if ngram_notes < 2:
        raise ValueError("ngram_notes must be at least 2")
    index = reference if isinstance(reference, ReferenceIndex) else ReferenceIndex.from_pieces(reference)
    files = []
    for piece in generated:
        best, shared, total = Match(0, ""), 0, 0
        for track in piece.pitched_tracks:
            tokens = note_tokens(track)
            match = index.longest_match(tokens)
            if match.notes > best.notes:
                best = match
            hit, count = index.shared_windows(tokens, ngram_notes - 1)
            shared, total = shared + hit, total + count
        overlap = shared / total if total else float("nan")
        files.append(FileOriginality(str(piece.path), best.notes, best.source, overlap))
        if on_file is not None:
            on_file(piece.path)
    return OriginalityReport(ngram_notes, copy_threshold_notes, files)
