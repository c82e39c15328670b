"""Generated pieces and how they are written: one folder per style, names that say what is inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midiforge.atomic import atomic_path

#: GM program and display name per role in the written files.
ROLE_TRACKS = {"melody": ("Melody", 73), "chords": ("Chords", 0), "bass": ("Bass", 32), "drums": ("Drums", 0)}


@dataclass
class Piece:
    """One generated MIDI file before it is written."""

    score: Any  # symusic.Score
    folder: str  # e.g. "melodies", "songs", "scales/C_major"
    stem: str  # file name without suffix
    meta: dict[str, Any] = field(default_factory=dict)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text.replace("#", "s").replace(" ", "_"))


def piece_stem(style: str, key_token: str, tempo: float, seed: int | None, index: int) -> str:
    """``melody_A_minor_120bpm_seed7_003``: style, key, tempo and seed in the name."""
    seed_part = f"seed{seed}" if seed is not None else "noseed"
    return slug(f"{style}_{key_token}_{round(tempo)}bpm_{seed_part}_{index:03d}")


def write_piece(piece: Piece, out_dir: Path, preview: bool = False) -> Path:
    """Write ``piece`` atomically to ``out_dir/folder/stem.mid`` (plus previews when asked)."""
    target = Path(out_dir) / piece.folder / f"{piece.stem}.mid"
    with atomic_path(target) as tmp:
        piece.score.dump_midi(str(tmp))
    if preview:
        from midiforge.generation.preview import write_previews

        write_previews(target)
    return target
