"""Generation: load a model, run a style, write MIDI files.

>>> from midiforge.generation import generate, StyleOptions
>>> result = generate("harmonic", StyleOptions(n=10), out="out")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from midiforge.generation.pieces import Piece, file_targets, write_piece, write_piece_as
from midiforge.generation.sampler import SamplingConfig
from midiforge.generation.styles import StyleOptions
from midiforge.paths import MIDI_SUFFIXES, midi_files_in

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
    if options.prompt is not None and Path(options.prompt).is_dir():
        pieces = _continue_each(style, style_obj, engine, options)
    else:
        pieces = run_style(style, style_obj, engine, options)
    return GenerateResult([], pieces, time.perf_counter() - start, engine.backend_name, engine.model_path)


def _continue_each(style: str, style_obj, engine, options: StyleOptions) -> list[Piece]:
    """``--prompt FOLDER``: every MIDI file in it is continued (``--n`` pieces each, in its own
    key), and each piece's name starts with its prompt's."""
    from dataclasses import replace

    from midiforge.errors import MidiforgeError
    from midiforge.generation.pieces import slug

    prompts = midi_files_in(options.prompt)
    if not prompts:
        raise MidiforgeError(f"no MIDI files (.mid, .midi) in the prompt folder {options.prompt}")
    pieces: list[Piece] = []
    for prompt in prompts:
        listener = options.listener and _RowsFrom(options.listener, len(pieces))
        for piece in run_style(style, style_obj, engine, replace(options, prompt=prompt, listener=listener)):
            pieces.append(replace(piece, stem=f"{slug(prompt.stem)}_{piece.stem}"))
    return pieces


@dataclass
class _RowsFrom:
    """A ``BarListener`` seen through one of several style runs: its rows come after the earlier runs' pieces."""

    listener: object
    offset: int

    def piece(self, row: int, n_bars: int, render) -> None:
        self.listener.piece(row + self.offset, n_bars, render)

    def bars(self, row: int, first_bar: int, bars: list[list[int]]) -> None:
        self.listener.bars(row + self.offset, first_bar, bars)


def run_style(style: str, style_obj, engine, options: StyleOptions) -> list[Piece]:
    """Run a style plugin. A third-party style's failure names its plugin (one line; ``--debug``
    shows the traceback); a piece without a single note is an error, never an empty file."""
    from midiforge.errors import MidiforgeError, PluginError
    from midiforge.registry import registry

    entry = registry().entries["style"].get(style)
    third_party = entry is not None and entry.distribution != "midiforge"
    try:
        pieces = style_obj.generate(engine, options)
    except Exception as exc:
        if not third_party:
            raise
        source = " ".join(filter(None, (entry.distribution, entry.version)))
        plugin = f"plugin {entry.plugin} ({source})"
        what = str(exc) if isinstance(exc, MidiforgeError) else f"{type(exc).__name__}: {exc}"
        raise PluginError(f"style '{style}' of {plugin} failed: {what}") from exc
    empty = [p for p in pieces if not any(len(track.notes) for track in p.score.tracks)]
    if empty:
        raise MidiforgeError(
            f"style '{style}' produced {len(empty)} of {len(pieces)} pieces without a single note, so nothing "
            f"was written (the model's tokens decode to no notes: is it trained with a tokenizer midiforge's "
            f"grammar supports?)"
        )
    return pieces


def write_result(
    result: GenerateResult, out: str | Path, preview: bool = False, overwrite: bool = False
) -> GenerateResult:
    """The writing half of :func:`generate`: each piece atomically under ``out``, never over an
    existing file unless ``overwrite``. An ``out`` that names a MIDI file (``song.mid``) is where
    the pieces go themselves, not a folder to sort them into."""
    out = Path(out)
    if out.suffix.lower() in MIDI_SUFFIXES and not out.is_dir():
        targets = file_targets(out, len(result.pieces))
        result.files = [write_piece_as(p, t, preview, overwrite) for p, t in zip(result.pieces, targets, strict=True)]
    else:
        result.files = [write_piece(p, out, preview=preview, overwrite=overwrite) for p in result.pieces]
    return result
