"""Options shared by every command that samples from a model (infill, vary)."""

from __future__ import annotations

import click


def sampling_options(fn):
    for opt in reversed([
        click.option("--temperature", type=float, default=1.0, show_default=True, help="Sampling temperature."),
        click.option("--top-k", type=int, default=0, show_default=True, help="Top-k sampling (0 = off)."),
        click.option("--top-p", type=float, default=0.95, show_default=True, help="Nucleus sampling (1.0 = off)."),
        click.option("--seed", type=int, default=None, help="Seed for reproducible output."),
    ]):
        fn = opt(fn)
    return fn


def model_options(fn):
    fn = click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True,
                      help="Inference runtime (auto = the fastest available).")(fn)
    return click.option("--model", default=None,
                        help="Checkpoint (.safetensors) or exported model (.onnx); default: the shipped model.")(fn)


def overwrite_option(fn):
    return click.option("--overwrite", is_flag=True,
                        help="Replace OUT if it exists (default: a taken name moves on to NAME-2.mid, ...).")(fn)


def rewrite_song(song, out, status: str, rewrite, temperature, top_k, top_p, seed, model, backend, overwrite=False):
    """Load SONG and the model, run ``rewrite(engine, score, sampling) -> (score, info)`` and write
    the result atomically to ``out`` (or the next free name: an earlier result is never replaced
    unless ``overwrite``); returns ``(info, path written)``. Shared by ``infill`` and ``vary``."""
    from midiforge.atomic import atomic_path, create_new
    from midiforge.cli.common import err_console
    from midiforge.generation.engine import Engine
    from midiforge.generation.infill import load_song
    from midiforge.generation.pieces import free_names
    from midiforge.generation.sampler import SamplingConfig

    score = load_song(song)
    engine = Engine.load(model, backend=backend)
    sampling = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    with err_console.status(status):
        new_score, info = rewrite(engine, score, sampling)
    if overwrite:
        with atomic_path(out) as tmp:
            new_score.dump_midi(str(tmp))
        return info, out
    return info, create_new(free_names(out), lambda tmp: new_score.dump_midi(str(tmp)))
