"""``midiforge inspect``: look inside a trained model (``inspect attention CHECKPOINT``)."""

from __future__ import annotations

from pathlib import Path

import click

from midiforge.cli.common import console, err_console, out_folder_option
from midiforge.inspect_attention import DEFAULT_LABEL_LIMIT, DEFAULT_MAX_TOKENS


@click.group("inspect")
def command() -> None:
    """Look inside a trained model."""


@command.command("attention")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--midi",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Use this MIDI file (tokenized with the checkpoint's codec) instead of a generated sample.",
)
@out_folder_option("Folder for layer_N.png and tokens.json.", Path("attention"))
@click.option(
    "--max-tokens",
    type=int,
    default=DEFAULT_MAX_TOKENS,
    show_default=True,
    help="Cut the sequence to this many tokens.",
)
@click.option(
    "--role",
    type=click.Choice(["melody", "chords", "bass"]),
    default="melody",
    show_default=True,
    help="Role of the generated sample.",
)
@click.option("--bars", type=int, default=4, show_default=True, help="Bars in the generated sample.")
@click.option("--key", default=None, help="Key of the generated sample, e.g. 'A minor' [default: random].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated sample.")
@click.option(
    "--label-limit",
    type=int,
    default=DEFAULT_LABEL_LIMIT,
    show_default=True,
    help="Write token names on the axes up to this many tokens.",
)
def attention(checkpoint, midi, out, max_tokens, role, bars, key, seed, label_limit) -> None:
    """Attention heatmaps of a music-transformer CHECKPOINT: one PNG per layer, heads as subplots.

    Rows are query tokens, columns the tokens they attend to; blue lines mark bars. tokens.json
    holds the token strings, ids and bar positions.
    """
    from midiforge.inspect_attention import inspect_attention

    with err_console.status("Computing attention maps ..."):
        result = inspect_attention(
            checkpoint, out, midi=midi, max_tokens=max_tokens, role=role, bars=bars, key=key, seed=seed,
            label_limit=label_limit,
        )
    console.print(f"{len(result.tokens)} tokens ({result.source}), {len(result.images)} layers:")
    for path in [*result.images, result.tokens_json]:
        console.print(f"  {path}")
