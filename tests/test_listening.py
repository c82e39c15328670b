"""The listening script's WAV excerpt: mono, the asked length, samples averaged across channels."""

from __future__ import annotations

import array
import wave

from tests.helpers.scripts import load_script


def _listening():
    return load_script("benchmarks/listening.py")


def test_mono_excerpt_keeps_the_first_seconds_averaged_to_mono(tmp_path):
    rate = 1000
    stereo = array.array("h")
    for i in range(3 * rate):  # 3 s: left i % 100, right 3 × that
        stereo.extend((i % 100, 3 * (i % 100)))
    source = tmp_path / "song.wav"
    with wave.open(str(source), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())

    out = _listening().mono_excerpt(source, tmp_path / "song-excerpt.wav", seconds=2.0)

    with wave.open(str(out), "rb") as r:
        assert (r.getnchannels(), r.getframerate(), r.getnframes()) == (1, rate, 2 * rate)
        mono = array.array("h", r.readframes(r.getnframes()))
    assert list(mono[:5]) == [0, 2, 4, 6, 8]
    assert mono[150] == 2 * 50
