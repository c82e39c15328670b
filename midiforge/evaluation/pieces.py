"""MIDI files as note arrays in quarter-note time, the common input of every evaluation metric.

Metrics work in quarter notes ("beats") rather than seconds so that tempo does not change them,
as in MusPy. Files are read with symusic (fast C++ parser); a set of files is resolved from a
folder, a single file or a registered corpus name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from midiforge.errors import MidiforgeError
from midiforge.paths import MIDI_SUFFIXES, midi_files_in


@dataclass(frozen=True)
class TrackNotes:
    """The notes of one track, sorted by (onset, pitch); times in quarter notes."""

    name: str
    program: int
    is_drum: bool
    onset: np.ndarray  # float64
    duration: np.ndarray  # float64
    pitch: np.ndarray  # int64

    @property
    def end(self) -> np.ndarray:
        return self.onset + self.duration

    def __len__(self) -> int:
        return len(self.pitch)


@dataclass(frozen=True)
class Meter:
    """Time-signature changes: ``starts`` (quarters) with the bar length (quarters) from each."""

    starts: np.ndarray = field(default_factory=lambda: np.zeros(1))
    bar_lengths: np.ndarray = field(default_factory=lambda: np.full(1, 4.0))

    def bar_length_at(self, time: float) -> float:
        return float(self.bar_lengths[max(0, np.searchsorted(self.starts, time, "right") - 1)])

    def bars(self, until: float) -> np.ndarray:
        """Start times of every bar that begins before ``until``."""
        out: list[np.ndarray] = []
        for i, (start, length) in enumerate(zip(self.starts, self.bar_lengths, strict=True)):
            stop = self.starts[i + 1] if i + 1 < len(self.starts) else max(until, start)
            out.append(np.arange(start, stop, length))
        bars = np.concatenate(out) if out else np.zeros(0)
        return bars[bars < until] if until > 0 else bars[:0]


@dataclass(frozen=True)
class PieceNotes:
    """One MIDI file: its tracks and meter."""

    path: Path
    tracks: list[TrackNotes]
    meter: Meter

    @property
    def pitched_tracks(self) -> list[TrackNotes]:
        return [t for t in self.tracks if not t.is_drum and len(t)]

    def merged(self, include_drums: bool = False) -> TrackNotes:
        """All notes of the piece (drums optional) in one sorted array set."""
        tracks = [t for t in self.tracks if include_drums or not t.is_drum]
        return merge_tracks(tracks)

    @property
    def end(self) -> float:
        ends = [float(t.end.max()) for t in self.tracks if len(t)]
        return max(ends, default=0.0)


def merge_tracks(tracks: Iterable[TrackNotes], name: str = "all") -> TrackNotes:
    tracks = list(tracks)
    onset = np.concatenate([t.onset for t in tracks]) if tracks else np.zeros(0)
    duration = np.concatenate([t.duration for t in tracks]) if tracks else np.zeros(0)
    pitch = np.concatenate([t.pitch for t in tracks]) if tracks else np.zeros(0, dtype=np.int64)
    return make_track(name, 0, False, onset, duration, pitch)


def make_track(name: str, program: int, is_drum: bool, onset, duration, pitch) -> TrackNotes:
    """Build a ``TrackNotes`` sorted by (onset, pitch)."""
    onset = np.asarray(onset, dtype=np.float64)
    duration = np.asarray(duration, dtype=np.float64)
    pitch = np.asarray(pitch, dtype=np.int64)
    order = np.lexsort((pitch, onset))
    return TrackNotes(name, int(program), bool(is_drum), onset[order], duration[order], pitch[order])


def _meter_of(score) -> Meter:
    sigs = sorted(score.time_signatures, key=lambda s: s.time)
    if not sigs:
        return Meter()
    starts, lengths = [], []
    for sig in sigs:
        length = sig.numerator * 4.0 / sig.denominator
        if length <= 0:
            continue
        if starts and abs(starts[-1] - sig.time) < 1e-9:  # two signatures at one time: the last wins
            lengths[-1] = length
            continue
        starts.append(float(sig.time))
        lengths.append(length)
    if not starts:
        return Meter()
    if starts[0] > 0:  # MIDI default before the first signature is 4/4
        starts.insert(0, 0.0)
        lengths.insert(0, 4.0)
    return Meter(np.asarray(starts), np.asarray(lengths))


def load_piece(path: str | Path) -> PieceNotes:
    """Read one MIDI file; ``MidiforgeError`` if it is missing or unreadable."""
    from symusic import Score

    from midiforge.limits import check_midi_file

    path = Path(path)
    if not path.is_file():
        raise MidiforgeError(f"{path}: no such MIDI file")
    check_midi_file(path, f"{path}:")
    try:
        score = Score(str(path)).to("quarter")
    except Exception as exc:  # symusic raises RuntimeError/ValueError variants on corrupt input
        raise MidiforgeError(f"{path}: not a readable MIDI file ({exc})") from None
    tracks = []
    for track in score.tracks:
        arr = track.notes.numpy()
        tracks.append(
            make_track(track.name, track.program, track.is_drum, arr["time"], arr["duration"], arr["pitch"])
        )
    return PieceNotes(path, tracks, _meter_of(score))


def resolve_midi_files(source: str | Path, what: str = "input", split: str = "val") -> list[Path]:
    """MIDI files of a folder (recursive), a single file, a registered corpus name, or the
    ``split`` files of a dataset folder made by ``midiforge prepare`` (``DATASET:train`` or
    ``DATASET:val`` picks the split explicitly)."""
    text = str(source)
    for name in ("train", "val"):
        if text.endswith(f":{name}") and is_prepared_dataset(Path(text[: -len(name) - 1])):
            return dataset_split_files(Path(text[: -len(name) - 1]), name, what)
    path = Path(source)
    if is_prepared_dataset(path):
        return dataset_split_files(path, split, what)
    if path.is_dir():
        files = midi_files_in(path)
        if not files:
            raise MidiforgeError(f"{what}: no .mid/.midi files in folder {path}")
        return files
    if path.is_file():
        if path.suffix.lower() not in MIDI_SUFFIXES:
            raise MidiforgeError(f"{what}: {path} is not a .mid/.midi file")
        return [path]
    return _corpus_files(str(source), what)


def is_prepared_dataset(path: Path) -> bool:
    return path.is_dir() and (path / "report.json").is_file() and (path / "codec.json").is_file()


def dataset_split_files(dataset: Path, split: str, what: str) -> list[Path]:
    """The source MIDI files a prepared dataset put into ``split`` (its report.json records them)."""
    import json

    try:
        entries = json.loads((dataset / "report.json").read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MidiforgeError(f"{what}: {dataset}/report.json is unreadable ({exc})") from None
    files = [Path(e["file"]) for e in entries if e.get("status") == "ok" and e.get("split") == split]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise MidiforgeError(
            f"{what}: {len(missing)} {split} files of dataset {dataset} are gone, e.g. {missing[0]}"
        )
    if not files:
        raise MidiforgeError(f"{what}: dataset {dataset} has no {split} files")
    return files


def _corpus_files(name: str, what: str) -> list[Path]:
    from midiforge import registry
    from midiforge.data.sources import resolve_source

    reg = registry.registry()
    if name not in reg.names("corpus"):
        known = ", ".join(reg.names("corpus")) or "none installed"
        raise MidiforgeError(
            f"{what}: '{name}' is neither a MIDI file, a folder nor a corpus (corpora: {known})"
        )
    return resolve_source(corpus=name).files  # the one corpus resolver prepare and analyze use


@dataclass
class PieceSet:
    """Pieces loaded from a source, with the files that could not be read."""

    source: str
    pieces: list[PieceNotes]
    skipped: dict[str, str]

    def __len__(self) -> int:
        return len(self.pieces)


def load_pieces(files: Iterable[Path], source: str, on_file=None) -> PieceSet:
    """Load files, skipping (and recording) unreadable or empty ones; ``on_file`` ticks progress."""
    pieces, skipped = [], {}
    for path in files:
        try:
            piece = load_piece(path)
        except MidiforgeError as exc:
            skipped[str(path)] = str(exc).split(": ", 1)[-1]
        else:
            if any(len(t) for t in piece.tracks):
                pieces.append(piece)
            else:
                skipped[str(path)] = "no notes"
        if on_file is not None:
            on_file(path)
    if not pieces:
        reasons = Counter(skipped.values()).most_common(3)
        raise MidiforgeError(f"{source}: none of the {len(skipped)} MIDI files is usable "
                             f"({', '.join(f'{n} x {why}' for why, n in reasons)})")
    return PieceSet(source, pieces, skipped)
