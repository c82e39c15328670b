"""``midiforge generate STYLE``: write MIDI files with the default model or your own."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from midiforge.cli.common import console, err_console, progress, settings_file_option
from midiforge.cli.dataclass_options import dataclass_options
from midiforge.cli.model_options import check_sampling, model_options
from midiforge.generation.sampler import SamplingConfig
from midiforge.generation.styles import StyleOptions


class BarCounter:
    """A bar listener that only counts: the progress bar of a request, in bars, as the style
    hands them over (styles that do not report bars show a spinner)."""

    def __init__(self, bar, description: str) -> None:
        self.bar, self.total = bar, 0
        self.task = bar.add_task(description, total=None, info="bars")

    def piece(self, row: int, n_bars: int, render) -> None:
        self.total += n_bars
        self.bar.update(self.task, total=self.total)

    def bars(self, row: int, first_bar: int, bars: list) -> None:
        self.bar.advance(self.task, len(bars))


def _typed() -> frozenset[str]:
    """The options the user typed (or set through the environment), so a style can tell them from
    defaults: ``--tempo 120`` is a wish, the default 120 is not."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    asked = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.DEFAULT_MAP)  # DEFAULT_MAP: --config
    typed = {name for name in ctx.params if ctx.get_parameter_source(name) in asked}
    return frozenset("seconds" if name == "preset" else name for name in typed)


@click.command("generate")
@click.argument("style")
@settings_file_option(aliases={"n_songs": "n", "n_clips": "n", "live": "live_port"})
@dataclass_options(StyleOptions, "n", "bars")
@click.option("--seconds", type=float, default=None, help="Length in seconds [default: 16 for clips, 60 for songs].")
@click.option("--clip", "preset", flag_value=16.0, help="Preset: a 16 s clip.")
@click.option("--pattern", "preset", flag_value=60.0, help="Preset: a 60 s pattern.")
@dataclass_options(StyleOptions, "tempo", "key", "meter", "chords")
@click.option("--scale-lock/--no-scale-lock", default=None,
              help="Mask out-of-key pitches [default: on for harmonic and all-scales, off for clips].")
@dataclass_options(StyleOptions, "sections", "section_bars", "role")
@click.option("--drums/--no-drums", default=False, show_default=True,
              help="Add a drum track [harmonic]: the model's own if it learned drums, else a drummer plugin's.")
@dataclass_options(StyleOptions, "drummer", "groove", "density")
@click.option("--vary-repeats", is_flag=True, help="Songs: a repeated section comes back varied (about a quarter of its melody bars rewritten) [harmonic].")
@dataclass_options(StyleOptions, "pickup", "dynamics")
@dataclass_options(SamplingConfig, "temperature", "velocity_temperature", "top_k", "top_p", "repetition_penalty",
                   "seed")
@click.option("--prompt", type=click.Path(exists=True, path_type=Path), default=None, help="MIDI file to continue, or a folder: each of its MIDI files is continued.")
@model_options
@click.option("--device", default="cpu", show_default=True, help="Torch device for --backend torch.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("midiforge-output"), show_default=True, help="Output folder, sorted by style; or a file name ending in .mid for the pieces themselves (several: name_000.mid, name_001.mid, ...).")
@click.option("--preview", is_flag=True, help="Also write a WAV preview and a piano-roll PNG per file.")
@click.option("--overwrite", is_flag=True, help="Replace files of the same name in --out (default: a taken name moves on to a free one).")
@click.option("--live", "live_port", default=None, is_flag=False, flag_value="", help="Play on a MIDI output port while generating: the first piece bar by bar as it is sampled, then the rest (no value = a virtual port 'midiforge').")
def command(style, n, bars, seconds, preset, tempo, key, meter, chords, scale_lock, sections, section_bars, role, drums, drummer,
            groove, density, vary_repeats, pickup, dynamics, temperature, velocity_temperature, top_k, top_p, repetition_penalty, seed, prompt, model, backend, device, out,
            preview, overwrite, live_port):
    """Generate MIDI in STYLE (melody, chord, bass, random, harmonic, all-scales, or a plugin's)."""
    from midiforge import contracts
    from midiforge.errors import MidiforgeError
    from midiforge.generation import generate

    contracts.style(style)  # an unknown style names the plugins that failed to load, and why
    if n < 1:
        raise MidiforgeError(f"--n-clips must be at least 1, got {n}")
    check_sampling(temperature, top_k, top_p, velocity_temperature)
    if tempo <= 0:
        raise MidiforgeError(f"--tempo must be positive, got {tempo:g}")
    if bars is not None and bars < 1:
        raise MidiforgeError(f"--bars must be at least 1, got {bars}")
    if seconds is not None and seconds <= 0:
        raise MidiforgeError(f"--seconds must be positive, got {seconds:g}")
    sampling = SamplingConfig(temperature=temperature, velocity_temperature=velocity_temperature, top_k=top_k, top_p=top_p,
                              repetition_penalty=repetition_penalty, seed=seed)
    options = StyleOptions(n=n, bars=bars, seconds=seconds or preset, tempo=tempo, key=key, meter=meter, chords=chords,
                           scale_lock=scale_lock, sampling=sampling, prompt=prompt, sections=sections,
                           section_bars=section_bars, drums=drums, drummer=drummer, role=role, groove=groove,
                           density=density, vary_repeats=vary_repeats, pickup=pickup, dynamics=dynamics,
                           given=_typed())
    if live_port is not None and pickup:
        raise MidiforgeError("--pickup is written after the song is sampled, so --live cannot play it yet: "
                             "leave out one of them")
    settings = dict(out=out, model=model, backend=backend, device=device, preview=preview, overwrite=overwrite)
    if live_port is None:
        with progress(transient=True) as bar:
            options.listener = BarCounter(bar, f"generating {style}")
            result = generate(style, options, **settings)
    else:
        from midiforge.live import generate_live

        where = f"MIDI port '{live_port}'" if live_port else "the virtual MIDI port 'midiforge'"
        with err_console.status(f"Generating {style} and playing it live on {where} (Ctrl-C stops) ..."):
            result, report = generate_live(style, options, port_name=live_port or None, **settings)
        err_console.print(f"played {report.notes} notes live"
                          + (f"; the music waited {report.stalls}x for the model" if report.stalls else ""))
    folders = sorted({str(path.parent) for path in result.files})
    table = Table(title=f"{len(result.files)} files in {', '.join(folders)} ({result.seconds:.2f} s, "
                        f"{result.backend} backend)")
    with_drums = any("drums" in piece.meta for piece in result.pieces)
    with_dynamics = any("dynamics" in piece.meta for piece in result.pieces)
    # the file name is never cut: the folder is in the title, and the other columns wrap instead
    table.add_column("file", no_wrap=True, min_width=max((len(p.name) for p in result.files), default=4))
    for col in ("key", "groove", "tempo", "bars", "chords") + (("dynamics",) if with_dynamics else ()) + (
            ("drums",) if with_drums else ()):
        table.add_column(col)
    for path, piece in zip(result.files, result.pieces, strict=True):
        chords_text = " ".join(piece.meta.get("progression") or piece.meta.get("chords") or [])
        row = [path.name, piece.meta.get("key", ""), piece.meta.get("groove", ""), f"{piece.meta.get('tempo', 0):.0f}",
               str(piece.meta.get("bars", "")), chords_text[:60]]
        if with_dynamics:
            row.append(piece.meta.get("dynamics", ""))
        if with_drums:
            row.append(f"{piece.meta.get('drum_notes', 0)} notes ({piece.meta.get('drums', 'none')})")
        table.add_row(*row)
    console.print(table)
