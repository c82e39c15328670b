"""MIDI events as a file plays them, for comparing live output with written files (test helper)."""

from __future__ import annotations

import mido

TOLERANCE_S = 0.005


def file_events(path) -> tuple[list[tuple[float, str, int, int, int]], dict[int, int]]:
    """Note events and programs as mido reads the written file back (times in seconds)."""
    events, programs, now = [], {}, 0.0
    for msg in mido.MidiFile(path):
        now += msg.time
        if msg.type == "program_change":
            programs[msg.channel] = msg.program
        elif msg.type in ("note_on", "note_off"):
            off = msg.type == "note_off" or msg.velocity == 0
            events.append(
                (now, "note_off" if off else "note_on", msg.channel, msg.note, 0 if off else msg.velocity)
            )
    return events, programs


def canonical(events):
    """Order events the same way in both lists (ties at one instant have no musical order).

    Events less than 0.1 ms apart (far below a tick, far above a float clock's drift) count as one
    instant: a live clock adds up float seconds and a file's times are exact, so rounding each time
    on its own could split an instant on a rounding boundary and order its note-off after another
    note's note-on in one list only."""
    rows = sorted((t, kind, ch, pitch, vel if kind == "note_on" else 0) for t, kind, ch, pitch, vel in events)
    instants, start, number = [], None, -1
    for row in rows:
        if start is None or row[0] - start > 1e-4:
            start, number = row[0], number + 1
        instants.append((number, start, *row[1:]))
    instants.sort(key=lambda r: (r[0], r[2] == "note_on", r[3], r[4]))
    return [row[1:] for row in instants]


def assert_same_events(expected, played) -> None:
    exp, got = canonical(expected), canonical(played)
    assert len(exp) == len(got) > 0
    for want, have in zip(exp, got, strict=True):
        assert want[1:] == have[1:], (want, have)
        assert abs(want[0] - have[0]) <= TOLERANCE_S, (want, have)
