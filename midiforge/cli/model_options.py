"""Options shared by every command that samples from a model (generate, infill, vary)."""

from __future__ import annotations

from pathlib import Path

import click

from midiforge.cli.dataclass_options import dataclass_options
from midiforge.generation.sampler import SamplingConfig

#: The sampling options of infill and vary (``generate`` also offers ``--repetition-penalty``); a
#: command takes them as ``**sampling`` and hands them to :func:`rewrite_song`.
sampling_options = dataclass_options(SamplingConfig, "temperature", "velocity_temperature", "top_k", "top_p", "seed")


def check_sampling(temperature: float, top_k: int, top_p: float, velocity_temperature: float = 1.0) -> None:
    """Out-of-range sampling options fail before any model is loaded."""
    from midiforge.errors import MidiforgeError

    if not temperature > 0:
        raise MidiforgeError(f"--temperature must be > 0, got {temperature:g} (0.1 is nearly greedy)")
    if not velocity_temperature > 0:
        raise MidiforgeError(f"--velocity-temperature must be > 0, got {velocity_temperature:g}")
    if not 0 < top_p <= 1:
        raise MidiforgeError(f"--top-p must be in (0, 1], got {top_p:g}")
    if top_k < 0:
        raise MidiforgeError(f"--top-k must be >= 0, got {top_k}")


def backend_option(fn):
    return click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True,
                        help="Inference runtime (auto = the fastest available).")(fn)


def model_options(fn):
    fn = backend_option(fn)
    return click.option("--model", default=None,
                        help="Checkpoint (.safetensors) or exported model (.onnx); default: the shipped model.")(fn)


def rewrite_options(track_help: str, out_help: str):
    """The options after SONG's own of every command that rewrites a SONG (infill, vary): ``--track``,
    ``--out``, ``--overwrite``, the sampling options, ``--model`` and ``--backend``."""
    def decorate(fn):
        for option in (model_options, sampling_options, overwrite_option,
                       click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
                                    help=out_help),
                       click.option("--track", default="full", show_default=True,
                                    type=click.Choice(["full", "melody", "chords", "bass"]), help=track_help)):
            fn = option(fn)
        return fn

    return decorate


def overwrite_option(fn):
    return click.option("--overwrite", is_flag=True,
                        help="Replace OUT if it exists (default: a taken name moves on to NAME-2.mid, ...).")(fn)


def rewrite_song(song, out, status: str, rewrite, sampling: dict, model, backend, overwrite=False):
    """Load SONG and the model, run ``rewrite(engine, score, sampling) -> (score, info)`` and write
    the result atomically to ``out`` (or the next free name: an earlier result is never replaced
    unless ``overwrite``); returns ``(info, path written)``. ``sampling``: the command's sampling
    options (:data:`sampling_options`) by name. Shared by ``infill`` and ``vary``."""
    from midiforge.atomic import atomic_path, create_new
    from midiforge.cli.common import err_console
    from midiforge.generation.engine import Engine
    from midiforge.generation.infill import load_song
    from midiforge.generation.pieces import free_names

    check_sampling(sampling["temperature"], sampling["top_k"], sampling["top_p"], sampling["velocity_temperature"])
    score = load_song(song)
    engine = Engine.load(model, backend=backend)
    with err_console.status(status):
        new_score, info = rewrite(engine, score, SamplingConfig(**sampling))
    if overwrite:
        with atomic_path(out) as tmp:
            new_score.dump_midi(str(tmp))
        return info, out
    return info, create_new(free_names(out), lambda tmp: new_score.dump_midi(str(tmp)))
