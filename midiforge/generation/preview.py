"""``--preview``: a WAV (pretty_midi's sine synthesizer, or FluidSynth when installed) and a
piano-roll PNG beside each generated MIDI file, to audition without a DAW."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from midiforge.atomic import atomic_path

SAMPLE_RATE = 22050


def write_previews(midi_path: Path) -> tuple[Path, Path]:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(midi_path))
    return _write_wav(pm, midi_path.with_suffix(".wav")), _write_roll(pm, midi_path.with_suffix(".png"))


def _write_wav(pm, target: Path) -> Path:
    try:
        audio = pm.fluidsynth(fs=SAMPLE_RATE)
    except Exception:  # no FluidSynth or no soundfont: fall back to the built-in synthesizer
        audio = pm.synthesize(fs=SAMPLE_RATE)
    peak = float(np.abs(audio).max()) or 1.0
    pcm = (audio / peak * 0.9 * 32767).astype("<i2")
    with atomic_path(target) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm.tobytes())
    return target


def _write_roll(pm, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, inst in enumerate(pm.instruments):
        for note in inst.notes:
            ax.broken_barh([(note.start, note.end - note.start)], (note.pitch - 0.4, 0.8), color=colors[i % 4])
        ax.plot([], [], color=colors[i % 4], label=inst.name or f"track {i}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    ax.legend(loc="upper right")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return target
