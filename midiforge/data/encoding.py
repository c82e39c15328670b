"""Encoding one piece into role-view sequences with control tokens.

The piece is first rebuilt as one track per role (written with the role's GM program), MidiTok
preprocesses it once (grid quantisation: output is beat-aligned), then every view is encoded from
that same preprocessed score, so all views share bars, key and chords.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import symusic
from miditok.utils import get_bars_ticks

from midiforge.data import vocab
from midiforge.music.chords import Chord, recognize_chord
from midiforge.music.keys import Key, estimate_key

if TYPE_CHECKING:
    from midiforge.data.codec import Codec

DEFAULT_TEMPO = 120.0


@dataclass
class EncodedPiece:
    """All role views of one piece plus the conditioning values found for it."""

    views: dict[str, list[int]] = field(default_factory=dict)
    key: Key | None = None
    tempo_bpm: float = DEFAULT_TEMPO
    meter: str = "4_4"
    chords: list[Chord | None] = field(default_factory=list)
    notes: int = 0
    groove: str = "none"


def role_score(score: symusic.Score, roles: Mapping[str, Sequence[int]]) -> symusic.Score:
    """One track per role (melody, chords, bass, drums), named and programmed as the role."""
    out = symusic.Score(score.ticks_per_quarter)
    out.time_signatures = score.time_signatures.copy()
    out.tempos = score.tempos.copy()
    for role, program in vocab.ROLE_PROGRAMS.items():
        indices = roles.get(role) or []
        if not indices:
            continue
        track = symusic.Track(role, program=max(program, 0), is_drum=program < 0)
        for i in indices:
            track.notes.extend(score.tracks[i].notes)
        track.notes.sort()
        out.tracks.append(track)
    return out


def bar_chords(score: symusic.Score, bar_ticks: Sequence[int]) -> list[Chord | None]:
    """Chord of every bar from all pitched notes sounding in it, weighted by sounding time."""
    arrays = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
    if not arrays:
        return [None] * len(bar_ticks)
    start = np.concatenate([a["time"] for a in arrays]).astype(np.int64)
    end = start + np.concatenate([a["duration"] for a in arrays])
    pitch = np.concatenate([a["pitch"] for a in arrays])
    bounds = list(bar_ticks) + [max(int(end.max()), bar_ticks[-1] + 1) if len(bar_ticks) else int(end.max())]
    chords = []
    for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
        overlap = np.minimum(end, b1) - np.maximum(start, b0)
        sounding = overlap > 0
        chords.append(
            recognize_chord(pitch[sounding].tolist(), overlap[sounding].tolist()) if sounding.any() else None
        )
    return chords


_SYMBOLS: dict[str, Chord] = {}


def chord_of_symbol(text: str) -> Chord | None:
    """A chord marker written by midiforge (``Am``, ``G7``, ``Bbmaj7``), or None for other text."""
    if not _SYMBOLS:
        from midiforge.music.chords import ALL_CHORDS

        _SYMBOLS.update((c.symbol, c) for c in ALL_CHORDS)
    return _SYMBOLS.get(text.strip())


def marked_chords(score: symusic.Score, bar_ticks: Sequence[int]) -> list[Chord | None] | None:
    """The chord of each bar from chord markers at bar starts (band arrangements carry the chart
    they were rendered from); None when the file has no such markers."""
    found = {int(m.time): c for m in score.markers if (c := chord_of_symbol(m.text)) is not None}
    if not found or not len(bar_ticks):
        return None
    chords, last = [], None
    for tick in bar_ticks:
        last = found.get(int(tick), last)
        chords.append(last)
    return chords


def marked_groove(score: symusic.Score) -> str:
    """``groove:<family>`` text marker of a band arrangement; ``none`` otherwise."""
    for m in score.markers:
        if m.text.startswith("groove:"):
            name = m.text.split(":", 1)[1].strip()
            return name if name in vocab.GROOVES else "none"
    return "none"


def view_density(tracks: Sequence[symusic.Track], view: str, n_bars: int) -> str:
    """Density of a view: the melody's notes per bar (``full``) or the view's own part's."""
    role = "melody" if view == "full" else view
    part = [t for t in tracks if t.name == role]
    notes = sum(len(t.notes) for t in part)
    return vocab.density_name(role, notes / max(1, n_bars))


def piece_conditions(original: symusic.Score, pre: symusic.Score) -> tuple[Key, float, str]:
    """Key (Krumhansl-Kessler on all pitched notes), first tempo, first meter."""
    arrays = [t.notes.numpy() for t in pre.tracks if not t.is_drum and len(t.notes)]
    if arrays:
        key = estimate_key(
            np.concatenate([a["pitch"] for a in arrays]), np.concatenate([a["duration"] for a in arrays])
        )
    else:
        key = estimate_key([])
    tempo = float(original.tempos[0].qpm) if len(original.tempos) else DEFAULT_TEMPO
    meter = "4_4"
    if len(pre.time_signatures):
        ts = pre.time_signatures[0]
        meter = vocab.meter_name(ts.numerator, ts.denominator)
    return key, tempo, meter


def insert_chords(codec: Codec, body: Sequence[int], chords: Sequence[Chord | None]) -> list[int]:
    """Put ``Chord_x`` right after every ``Bar`` token (bar i gets chords[i], Chord_N beyond)."""
    out: list[int] = []
    bar = 0
    for tok in body:
        out.append(int(tok))
        if tok == codec.bar_id:
            out.append(codec.chord_id(chords[bar] if bar < len(chords) else None))
            bar += 1
    return out


def encode_piece(
    codec: Codec, score: symusic.Score, roles: Mapping[str, Sequence[int]], views: Sequence[str]
) -> EncodedPiece:
    """Encode the requested role views (``full`` = melody + chords + bass) of ``score``."""
    combined = role_score(score, roles)
    pre = codec.tokenizer.preprocess_score(combined)
    piece = EncodedPiece(notes=sum(len(t.notes) for t in pre.tracks))
    piece.key, piece.tempo_bpm, piece.meter = piece_conditions(score, pre)
    bar_ticks = get_bars_ticks(pre) if piece.notes else []
    marked = marked_chords(score, get_bars_ticks(score)) if piece.notes and len(score.markers) else None
    if marked is not None:
        marked = (marked + [marked[-1]] * len(bar_ticks))[: len(bar_ticks)]
    piece.chords = marked if marked is not None else (bar_chords(pre, bar_ticks) if piece.notes else [])
    piece.groove = marked_groove(score)
    by_name = {t.name: t for t in pre.tracks}
    for view in views:
        wanted = vocab.FULL_ROLES if view == "full" else (view,)
        tracks = [by_name[r] for r in wanted if r in by_name and len(by_name[r].notes)]
        if not tracks:
            continue
        view_score = symusic.Score(pre.ticks_per_quarter)
        view_score.time_signatures = pre.time_signatures.copy()
        for t in tracks:
            view_score.tracks.append(t.copy())
        seq = codec.tokenizer.encode(view_score, no_preprocess_score=True)
        body = insert_chords(codec, seq.ids, piece.chords)
        density = view_density(tracks, view, len(bar_ticks))
        prefix = codec.prefix_ids(view, piece.key, piece.tempo_bpm, piece.meter, piece.groove, density)
        piece.views[view] = prefix + body + [codec.eos_id]
    return piece
