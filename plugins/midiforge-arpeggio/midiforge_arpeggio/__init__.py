"""midiforge-arpeggio: arpeggiates the chords the model writes.

Registered through the ``midiforge`` entry-point group (see pyproject.toml); midiforge itself is
not touched. The model composes the harmony and voicing; this plugin only re-times each chord as a
broken chord, one note per ``step`` grid cells, going up (or up-down).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from midiforge.plugins.role_styles import RoleStyle

import midiforge


@dataclass(frozen=True)
class ArpeggioStyle:
    name: str = "arpeggio"
    description: str = "Arpeggios: the model's chord progression played as broken chords (example plugin)."
    folder: str = "arpeggios"
    sixteenths_per_note: int = 2
    pattern: str = "up-down"

    def generate(self, engine, options):
        chords = RoleStyle("arpeggio", "chords", self.folder, self.description)
        if options.listener is not None:  # `generate --live`: play the arpeggios, not the block chords
            options = replace(options, listener=ArpeggiatedListener(options.listener, self))
        pieces = chords.generate(engine, options)
        for piece in pieces:
            self.arpeggiate_score(piece.score)
            piece.meta["style"] = self.name
        return pieces

    def arpeggiate_score(self, score):
        for track in score.tracks:
            track.notes = arpeggiate(track.notes, score.ticks_per_quarter // 4 * self.sixteenths_per_note, self.pattern)
            track.name = "Arpeggio"
        return score


@dataclass(frozen=True)
class ArpeggiatedListener:
    """Passes the chord style's bars on to live playback, drawn as this plugin's arpeggios."""

    listener: object
    style: ArpeggioStyle

    def piece(self, row, n_bars, render):
        self.listener.piece(row, n_bars, lambda tokens: self.style.arpeggiate_score(render(tokens)))

    def bars(self, row, first_bar, bars):
        self.listener.bars(row, first_bar, bars)


def arpeggiate(notes, step_ticks: int, pattern: str = "up-down"):
    """Turn every group of notes starting together into a broken chord lasting as long as the group."""
    import symusic

    groups: dict[int, list] = {}
    for note in notes:
        groups.setdefault(note.time, []).append(note)
    out = []
    starts = sorted(groups)
    for i, start in enumerate(starts):
        chord = sorted(groups[start], key=lambda n: n.pitch)
        end = min(max(n.end for n in chord), starts[i + 1] if i + 1 < len(starts) else 1 << 30)
        order = [n.pitch for n in chord]
        if pattern == "up-down" and len(order) > 2:
            order = order + order[-2:0:-1]
        t, k = start, 0
        while t < end:
            dur = min(step_ticks, end - t)
            out.append(symusic.Note(t, dur, order[k % len(order)], chord[0].velocity))
            t, k = t + step_ticks, k + 1
    return out


@midiforge.hookimpl
def register_styles(register):
    register(ArpeggioStyle())
