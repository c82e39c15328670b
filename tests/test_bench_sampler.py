"""benchmarks/bench_sampler.py: a replay of recorded logits writes the recorded run's files, so
what it times is the sampler alone; replayed logits that differ give other files."""

from __future__ import annotations

from midiforge.generation import SamplingConfig, StyleOptions
from tests.helpers.scripts import load_script


def _bench():
    return load_script("benchmarks/bench_sampler.py")


def test_replayed_logits_write_the_recorded_songs(tiny_engine, tmp_path):
    bench = _bench()
    options = StyleOptions(sampling=SamplingConfig(seed=4), n=2, bars=8, sections="AB")
    recording = bench.Recording(tiny_engine.backend)
    _, want = bench.songs(tiny_engine, recording, options, tmp_path / "real")
    assert len(recording.logits) > 50
    _, got = bench.songs(tiny_engine, bench.Replay(recording), options, tmp_path / "replay")
    assert got == want
    recording.logits = [logits[:, ::-1].copy() for logits in recording.logits]  # other logits, other songs
    recording.logits += recording.logits  # enough for songs of another length
    _, other = bench.songs(tiny_engine, bench.Replay(recording), options, tmp_path / "other")
    assert other != want
