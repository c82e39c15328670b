"""Listening material for docs/examples/: a few songs of the shipped model, as MIDI, a piano-roll
PNG and audio: with FluidSynth and a GM soundfont, the whole song as Ogg Vorbis plus its first
8 seconds as a small mono WAV (for players without Vorbis); otherwise midiforge's own WAV preview.

    python benchmarks/listening.py                    # -> docs/examples/
    apt-get install fluidsynth fluid-soundfont-gm vorbis-tools   # for the nicer audio
"""

from __future__ import annotations

import argparse
import array
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from midiforge.generation.preview import write_mono_wav

SOUNDFONTS = [Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf2/default-GM.sf2")]
EXCERPT_SECONDS = 8.0
EXAMPLES = [  # (name, generate options)
    ("pop-song", ["--groove", "pop", "--drums", "--seed", "3", "--bars", "16", "--sections", "AB"]),
    ("bossa-chords", ["--groove", "bossa", "--drums", "--chords", "Am7 D7 Gmaj7 Cmaj7", "--seed", "4", "--bars", "16",
                      "--sections", "AB"]),
    ("waltz", ["--meter", "3/4", "--drums", "--seed", "5", "--bars", "16", "--sections", "AB", "--tempo", "132"]),
]


def mono_excerpt(stereo_wav: Path, out: Path, seconds: float = EXCERPT_SECONDS) -> Path:
    """The first ``seconds`` of a 16-bit stereo WAV, averaged to mono: a quarter of the bytes."""
    with wave.open(str(stereo_wav), "rb") as source:
        rate, channels = source.getframerate(), source.getnchannels()
        samples = array.array("h", source.readframes(int(rate * seconds)))
    mono = array.array("h", (sum(samples[i:i + channels]) // channels for i in range(0, len(samples), channels)))
    return write_mono_wav(out, mono.tobytes(), rate)


def audio(midi: Path, out_stem: Path) -> Path:
    """Render ``midi``: FluidSynth + Ogg when available, else the preview WAV beside the MIDI."""
    font = next((f for f in SOUNDFONTS if f.exists()), None)
    if font and shutil.which("fluidsynth") and shutil.which("oggenc"):
        wav = out_stem.with_suffix(".wav")
        subprocess.run(["fluidsynth", "-ni", "-g", "0.6", "-r", "22050", "-F", str(wav), str(font), str(midi)],
                       check=True, capture_output=True)
        subprocess.run(["oggenc", "-Q", "-q", "1", "--downmix", "-o", str(out_stem.with_suffix(".ogg")), str(wav)],
                       check=True)
        mono_excerpt(wav, out_stem.with_name(out_stem.name + "-excerpt.wav"))
        wav.unlink()
        return out_stem.with_suffix(".ogg")
    shutil.copy(midi.with_suffix(".wav"), out_stem.with_suffix(".wav"))
    return out_stem.with_suffix(".wav")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/examples"))
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, options in EXAMPLES:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "midiforge", "generate", "harmonic", "--n-songs", "1", "--preview",
                       "--out", tmp, *options] + (["--model", args.model] if args.model else [])
            subprocess.run(command, check=True, capture_output=True)
            midi = next(Path(tmp).rglob("*.mid"))
            stem = args.out / name
            shutil.copy(midi, stem.with_suffix(".mid"))
            shutil.copy(midi.with_suffix(".png"), stem.with_suffix(".png"))
            print(name, audio(midi, stem))
    return 0


if __name__ == "__main__":
    sys.exit(main())
