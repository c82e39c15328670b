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
