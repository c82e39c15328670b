"""``midiforge infill SONG.mid --bars 5-8 [--track melody]``: regenerate bars of your own file."""

from __future__ import annotations

from pathlib import Path

import click

from midiforge.cli.common import console
from midiforge.cli.model_options import rewrite_options, rewrite_song


@click.command("infill")
@click.argument("song", type=click.Path(path_type=Path))
@click.option("--bars", "bars_text", required=True, help="Bars to regenerate, 1-based and inclusive: '5-8' or '5'.")
@rewrite_options(track_help="Which part to regenerate (full = every track).",
                 out_help="Output file [default: SONG_infill_BARS.mid beside SONG].")
def command(song, bars_text, track, out, overwrite, model, backend, **sampling):
    """Regenerate bars of SONG, keeping every other note untouched; the model sees both sides of the gap."""
    from midiforge.generation.infill import infill, parse_bars

    gap = parse_bars(bars_text)
    out = out or song.with_name(f"{song.stem}_infill_{bars_text}.mid")
    _, out = rewrite_song(song, out, f"Filling bars {bars_text} ({track}) ...",
                          lambda engine, score, cfg: (infill(engine, score, gap, track, cfg).score, None),
                          sampling, model, backend, overwrite)
    console.print(f"Wrote {out} (bars {bars_text}, {track}; every note outside the gap unchanged)")
