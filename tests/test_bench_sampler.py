"""benchmarks/bench_sampler.py: a replay of recorded logits writes the recorded run's files, so
what it times is the sampler alone; replayed logits that differ give other files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from midiforge.generation import SamplingConfig, StyleOptions

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_sampler", ROOT / "benchmarks" / "bench_sampler.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
