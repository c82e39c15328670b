"""Generation: load a model, run a style, write MIDI files.

>>> from midiforge.generation import generate, StyleOptions
>>> result = generate("harmonic", StyleOptions(n=10), out="out")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from midiforge.generation.pieces import Piece, write_piece
from midiforge.generation.sampler import SamplingConfig
from midiforge.generation.styles import StyleOptions

__all__ = ["GenerateResult", "Piece", "SamplingConfig", "StyleOptions", "generate"]


@dataclass
class GenerateResult:
    files: list[Path]
    pieces: list[Piece]
    seconds: float
    backend: str
    model: Path
    tokens: int = 0
    extra: dict = field(default_factory=dict)


def generate(
    style: str,
    options: StyleOptions | None = None,
    out: str | Path = "midiforge-output",
    model: str | Path | None = None,
    backend: str = "auto",
    device: str = "cpu",
    preview: bool = False,
    engine=None,
    overwrite: bool = False,
) -> GenerateResult:
    """Generate with ``style`` (a style plugin name) and write the files under ``out``
    (a taken file name moves on to a free one unless ``overwrite``)."""
    result = generate_pieces(style, options, model, backend, device, engine)
    return write_result(result, out, preview, overwrite)


def generate_pieces(
    style: str,
    options: StyleOptions | None = None,
    model: str | Path | None = None,
    backend: str = "auto",
    device: str = "cpu",
    engine=None,
) -> GenerateResult:
    """The sampling half of :func:`generate`: pieces in memory, no files yet."""
    from midiforge import contracts
    from midiforge.generation.engine import Engine
    from midiforge.limits import check_request

    options = options or StyleOptions()
    check_request(options)  # before minutes of work: a one-line error for sizes beyond the limits
    style_obj = contracts.style(style)
    engine = engine or Engine.load(model, backend=backend, device=device)
    start = time.perf_counter()
    pieces = style_obj.generate(engine, options)
    return GenerateResult([], pieces, time.perf_counter() - start, engine.backend_name, engine.model_path)


def write_result(
    result: GenerateResult, out: str | Path, preview: bool = False, overwrite: bool = False
) -> GenerateResult:
    """The writing half of :func:`generate`: each piece atomically under ``out``, never over an
    existing file unless ``overwrite``."""
    result.files = [write_piece(p, Path(out), preview=preview, overwrite=overwrite) for p in result.pieces]
    return result
