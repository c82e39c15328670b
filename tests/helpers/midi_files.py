"""MIDI files made for the data tests: small songs, and a folder of good and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import symusic

TPQ = 480


def write_song(path: Path, bars: int, seed: int, drums_only: bool = False) -> None:
    rng = np.random.default_rng(seed)
    score = symusic.Score(TPQ)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    score.tempos.append(symusic.Tempo(0, 96))
    if drums_only:
        drums = symusic.Track("Drums", program=0, is_drum=True)
        drums.notes.extend(
            symusic.Note(i * TPQ, TPQ // 2, 36 if i % 2 == 0 else 38, 100) for i in range(bars * 4)
        )
        score.tracks.append(drums)
    else:
        melody = symusic.Track("Lead", program=81)
        piano = symusic.Track("Piano", program=0)
        bass = symusic.Track("Bass", program=33)
        for b in range(bars):
            root = int(rng.choice([48, 53, 55, 57]))
            for p in (root + 12, root + 16, root + 19):
                piano.notes.append(symusic.Note(b * 4 * TPQ, 4 * TPQ, p, 70))
            bass.notes.append(symusic.Note(b * 4 * TPQ, 2 * TPQ, root - 12, 90))
            for i in range(8):
                melody.notes.append(
                    symusic.Note(b * 4 * TPQ + i * TPQ // 2, TPQ // 2, int(rng.integers(67, 80)), 90)
                )
        score.tracks.extend([melody, piano, bass])
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))


def bad_folder(root: Path) -> dict[str, str]:
    """Good and bad files; returns expected skip reason (prefix) per bad file name."""
    write_song(root / "good1.mid", 6, 1)
    write_song(root / "sub" / "good2.midi", 10, 2)
    write_song(root / "sub" / "deeper" / "good3.MID", 4, 3)
    (root / "empty.mid").write_bytes(b"")
    (root / "notes.mid").write_text("these are my notes, not a MIDI file\n")
    good = (root / "good1.mid").read_bytes()
    (root / "truncated.mid").write_bytes(good[:60])
    (root / "type2.mid").write_bytes(good[:8] + (2).to_bytes(2, "big") + good[10:])
    silent = symusic.Score(TPQ)
    silent.tempos.append(symusic.Tempo(0, 120))
    silent.tracks.append(symusic.Track("Nothing", program=0))
    silent.dump_midi(str(root / "zero_notes.mid"))
    write_song(root / "drums.mid", 8, 4, drums_only=True)
    write_song(root / "huge.mid", 400, 5)
    (root / "readme.txt").write_text("not looked at: wrong suffix")
    return {
        "empty.mid": "empty file",
        "notes.mid": "not a MIDI file",
        "truncated.mid": "corrupt MIDI",
        "type2.mid": "type-2 MIDI",
        "zero_notes.mid": "no notes",
        "drums.mid": "drums only",
        "huge.mid": "too large",
    }
