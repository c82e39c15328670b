"""``--preview``: a WAV and a piano-roll PNG beside each generated MIDI file, to audition without a DAW.

Both are drawn with numpy and the standard library only (a small additive synthesizer, and a PNG
written with zlib), so previews work in the light install without matplotlib or FluidSynth.
"""

from __future__ import annotations

import struct
import wave
import zlib
from pathlib import Path

import numpy as np

from midiforge.atomic import atomic_path, write_bytes

SAMPLE_RATE = 22050
#: track colours of the piano roll (RGB), cycled
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


def write_previews(midi_path: Path) -> tuple[Path, Path]:
    import symusic

    score = symusic.Score(str(midi_path)).to("second")
    return _write_wav(score, midi_path.with_suffix(".wav")), _write_roll(score, midi_path.with_suffix(".png"))


# ------------------------------------------------------------------ audio


def synthesize(score, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float audio of a ``symusic.Score`` in seconds: a soft organ tone per note, noise for drums."""
    end = max((n.time + n.duration for t in score.tracks for n in t.notes), default=0.0)
    audio = np.zeros(int((end + 0.5) * sample_rate) + 1, dtype=np.float32)
    rng = np.random.default_rng(0)
    for track in score.tracks:
        for note in track.notes:
            start = int(note.time * sample_rate)
            length = max(1, int((0.12 if track.is_drum else note.duration) * sample_rate))
            t = np.arange(length, dtype=np.float32) / sample_rate
            if track.is_drum:
                wave_ = rng.standard_normal(length).astype(np.float32) * np.exp(-t * 40)
            else:
                freq = 440.0 * 2 ** ((note.pitch - 69) / 12)
                wave_ = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
                wave_ *= np.minimum(1.0, np.minimum(t * 200, (length - np.arange(length)) / (0.02 * sample_rate)))
            audio[start : start + length] += wave_[: len(audio) - start] * (note.velocity / 127)
    return audio


def _write_wav(score, target: Path) -> Path:
    audio = synthesize(score)
    peak = float(np.abs(audio).max()) or 1.0
    pcm = (audio / peak * 0.9 * 32767).astype("<i2")
    return write_mono_wav(target, pcm.tobytes(), SAMPLE_RATE)


def write_mono_wav(target: Path, pcm16: bytes, rate: int) -> Path:
    """16-bit mono PCM samples as a WAV file, written atomically."""
    with atomic_path(target) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm16)
    return target


# ------------------------------------------------------------------ piano roll


def piano_roll_rgb(score, width: int = 800, row: int = 4) -> np.ndarray:
    """An RGB image ``[H, W, 3]``: time left to right, pitch bottom to top, one colour per track,
    grey lines at every second."""
    notes = [(i, n) for i, t in enumerate(score.tracks) for n in t.notes]
    end = max((n.time + n.duration for _, n in notes), default=1.0) or 1.0
    low = min((n.pitch for _, n in notes), default=60) - 2
    high = max((n.pitch for _, n in notes), default=72) + 2
    image = np.full(((high - low + 1) * row, width, 3), 255, dtype=np.uint8)
    for second in range(int(end) + 1):
        image[:, min(width - 1, int(second / end * (width - 1)))] = (225, 225, 225)
    for track, note in notes:
        x0 = int(note.time / end * (width - 1))
        x1 = max(x0 + 1, int((note.time + note.duration) / end * (width - 1)))
        y = (high - note.pitch) * row
        image[y + 1 : y + row, x0:x1] = COLORS[track % len(COLORS)]
    return image


def encode_png(rgb: np.ndarray) -> bytes:
    """A minimal truecolour PNG (filter 0 on every row) of an ``[H, W, 3]`` uint8 array."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _write_roll(score, target: Path) -> Path:
    return write_bytes(target, encode_png(piano_roll_rgb(score)))
