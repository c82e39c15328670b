"""``midiforge vary SONG.mid --strength 0.3``: a variation that keeps form and harmony."""

from __future__ import annotations

from pathlib import Path

import click

from midiforge.cli.common import console
from midiforge.cli.model_options import rewrite_options, rewrite_song


@click.command("vary")
@click.argument("song", type=click.Path(path_type=Path))
@click.option("--strength", type=float, default=0.3, show_default=True, help="Share of bars the model rewrites (0-1].")
@rewrite_options(track_help="Which part to vary.", out_help="Output file [default: SONG_var.mid beside SONG].")
def command(song, strength, track, out, overwrite, model, backend, **sampling):
    """Rewrite about STRENGTH of the bars of SONG with the model, keeping each bar's chord and the form."""
    from midiforge.generation.infill import vary

    out = out or song.with_name(f"{song.stem}_var.mid")
    bars, out = rewrite_song(song, out, "Writing a variation ...",
                             lambda engine, score, cfg: vary(engine, score, strength, track, cfg, seed=sampling["seed"]),
                             sampling, model, backend, overwrite)
    console.print(f"Wrote {out}: rewrote bars {', '.join(map(str, bars))} ({track})")
