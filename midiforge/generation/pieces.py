"""Generated pieces and how they are written: one folder per style, names that say what is inside."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midiforge.atomic import atomic_path, create_new

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


def free_names(target: Path) -> Iterator[Path]:
    """``target``, then the names to try when it is taken: an unseeded piece numbers onward
    (``..._noseed_004``), any other gets ``-2``, ``-3``, ... (its seed and index stay true)."""
    yield target
    match = re.fullmatch(r"(.*_noseed_)(\d+)", target.stem)
    for k in itertools.count(2):
        if match:
            index = int(match.group(2)) + k - 1
            yield target.with_name(f"{match.group(1)}{index:03d}{target.suffix}")
        else:
            yield target.with_name(f"{target.stem}-{k}{target.suffix}")


def write_piece(piece: Piece, out_dir: Path, preview: bool = False, overwrite: bool = False) -> Path:
    """Write ``piece`` to ``out_dir/folder/stem.mid`` (plus previews when asked)."""
    return write_piece_as(piece, Path(out_dir) / piece.folder / f"{piece.stem}.mid", preview, overwrite)


def write_piece_as(piece: Piece, target: Path, preview: bool = False, overwrite: bool = False) -> Path:
    """Write ``piece`` to ``target``. Never replaces an existing file unless ``overwrite``: a taken
    name moves on to the next free one, atomically, so re-runs and concurrent runs keep every piece."""
    if overwrite:
        with atomic_path(target) as tmp:
            piece.score.dump_midi(str(tmp))
    else:
        target = create_new(free_names(target), lambda tmp: piece.score.dump_midi(str(tmp)))
    if preview:
        from midiforge.generation.preview import write_previews

        write_previews(target)
    return target


def file_targets(out: Path, n: int) -> list[Path]:
    """``-o song.mid``: one piece is that file; several are ``song_000.mid``, ``song_001.mid``, ..."""
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i:03d}{out.suffix}") for i in range(n)]
