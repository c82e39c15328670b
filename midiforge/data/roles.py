"""Finding the roles (melody, chords, bass, drums) of a MIDI file's tracks.

Corpora that know their parts pass a track-name map (chorales: soprano = melody, alto and tenor
= chords, bass = bass *and* chords, so the chords track has 3+ notes at most onsets). Otherwise
heuristics decide, in this order: drum channel -> drums; GM bass programs 32-39, or else the
lowest monophonic track, -> bass; the highest mostly-monophonic track -> melody; every other
pitched track -> chords (and when no track is polyphonic, the bass line joins the chords too,
as for four-part vocal writing). See docs/data.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import symusic

from midiforge.data.vocab import FULL_ROLES, ROLE_PROGRAMS

#: A track counts as monophonic when fewer than this share of its notes overlap an earlier one.
MONOPHONIC_OVERLAP = 0.15
#: A monophonic line this low (mean pitch below A#3) can be a bass line, not a melody.
BASS_MEAN_PITCH = 58.0


@dataclass(frozen=True)
class TrackStats:
    """What the heuristics look at for one track."""

    index: int
    name: str
    program: int
    is_drum: bool
    notes: int
    mean_pitch: float
    overlap: float  # share of notes starting before the previous notes ended (0 = monophonic)

    @property
    def monophonic(self) -> bool:
        return self.overlap < MONOPHONIC_OVERLAP


def track_stats(score: symusic.Score) -> list[TrackStats]:
    out = []
    for index, track in enumerate(score.tracks):
        if len(track.notes) == 0:
            continue
        arr = track.notes.numpy()
        order = np.argsort(arr["time"], kind="stable")
        start, end = arr["time"][order], (arr["time"] + arr["duration"])[order]
        running_end = np.maximum.accumulate(end)
        # tolerate tiny legato overlaps (a 32nd at this resolution)
        slack = max(1, score.ticks_per_quarter // 8)
        overlaps = int(np.sum(start[1:] < running_end[:-1] - slack)) if len(start) > 1 else 0
        out.append(
            TrackStats(
                index=index,
                name=track.name,
                program=int(track.program),
                is_drum=bool(track.is_drum),
                notes=len(start),
                mean_pitch=float(arr["pitch"].mean()),
                overlap=overlaps / len(start),
            )
        )
    return out


def roles_from_names(score: symusic.Score, track_roles: Mapping[str, str]) -> dict[str, list[int]]:
    """Roles from a corpus map of lower-case track names to ``role`` or ``role+role``."""
    roles: dict[str, list[int]] = {}
    for index, track in enumerate(score.tracks):
        spec = track_roles.get(track.name.strip().lower())
        if spec is None or len(track.notes) == 0:
            continue
        for role in spec.split("+"):
            roles.setdefault(role, []).append(index)
    return roles


def find_roles(score: symusic.Score, track_roles: Mapping[str, str] | None = None) -> dict[str, list[int]]:
    """Role name -> track indices (a track may serve two roles, e.g. a chorale bass)."""
    if track_roles:
        named = roles_from_names(score, track_roles)
        if named:
            return named
    stats = track_stats(score)
    roles: dict[str, list[int]] = {}
    drums = [s.index for s in stats if s.is_drum]
    if drums:
        roles["drums"] = drums
    pitched = [s for s in stats if not s.is_drum]
    if not pitched:
        return roles
    if len(pitched) == 1:
        only = pitched[0]
        role = (
            "chords"
            if not only.monophonic
            else ("bass" if 32 <= only.program <= 39 or only.mean_pitch < BASS_MEAN_PITCH else "melody")
        )
        roles[role] = [only.index]
        return roles
    bass = [s for s in pitched if 32 <= s.program <= 39]
    if not bass:
        lowest = min(pitched, key=lambda s: s.mean_pitch)
        if lowest.monophonic and lowest.mean_pitch < BASS_MEAN_PITCH:
            bass = [lowest]
    rest = [s for s in pitched if s not in bass]
    melody_candidates = [s for s in rest if s.monophonic] or rest
    melody = max(melody_candidates, key=lambda s: s.mean_pitch) if len(rest) > 1 or not bass else None
    if melody is None and rest and rest[0].monophonic:
        melody = rest[0]
    chords = [s for s in rest if s is not melody]
    if bass:
        roles["bass"] = [s.index for s in bass]
    if melody is not None:
        roles["melody"] = [melody.index]
    if chords:
        roles["chords"] = [s.index for s in chords]
        if bass and all(s.monophonic for s in chords):
            roles["chords"] += roles["bass"]  # voices only: harmony = inner voices + bass
    return roles


def views_for(roles: Mapping[str, list[int]]) -> list[str]:
    """Which role sequences a file yields: each role alone, plus ``full`` when 2+ of
    melody/chords/bass are present."""
    present = [r for r in ROLE_PROGRAMS if roles.get(r)]
    views = list(present)
    if sum(1 for r in FULL_ROLES if roles.get(r)) >= 2:
        views.insert(0, "full")
    return views
