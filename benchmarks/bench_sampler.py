"""The sampler's own share of ``generate harmonic --n-songs 10``, replayed from recorded logits.

    python benchmarks/bench_sampler.py [--seed 2] [--repeat 3]

Runs the ten songs once with the shipped model, recording every logits array its backend returns,
then writes the same songs again over a backend that returns those arrays instantly. The replay
must write byte-identical files (it checks), so what it takes is the sampler's own work (masks,
sampling, bookkeeping, chunking, rendering) without onnxruntime, and a change to the sampler can be
timed and checked for identical output even when the machine's speed wanders. It prints both
times and the sampler's share.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from midiforge.generation import SamplingConfig, StyleOptions, generate
from midiforge.generation.engine import Engine


class Recording:
    """Passes every call to ``backend`` and keeps the logits it returns, in order."""

    def __init__(self, backend) -> None:
        self.backend, self.vocab_size, self.logits = backend, backend.vocab_size, []
        self.ragged_prefill = getattr(backend, "ragged_prefill", False)

    def start(self, batch_size: int):
        return self.backend.start(batch_size)

    def _keep(self, out):
        self.logits.append(out[0].copy())
        return out

    def step(self, ids: np.ndarray, state):
        return self._keep(self.backend.step(ids, state))

    def prefill(self, prompts, state):
        return self._keep(self.backend.prefill(prompts, state))

    def hold(self, state, rows) -> None:
        self.backend.hold(state, rows)


class Replay:
    """Returns the recorded logits in order, whatever it is fed."""

    def __init__(self, recording: Recording) -> None:
        self.vocab_size, self.ragged_prefill = recording.vocab_size, recording.ragged_prefill
        self.logits, self.calls = recording.logits, 0

    def start(self, batch_size: int):
        return None

    def _next(self) -> np.ndarray:
        if self.calls == len(self.logits):
            raise RuntimeError("the replay asked for more logits than the run recorded")
        self.calls += 1
        return self.logits[self.calls - 1]

    def step(self, ids: np.ndarray, state):
        return self._next(), state

    def prefill(self, prompts, state):
        return self._next(), state

    def hold(self, state, rows) -> None:
        pass


def songs(engine: Engine, backend, options: StyleOptions, out: Path) -> tuple[float, str]:
    """Seconds to write ``generate harmonic`` songs over ``backend``, and a digest of the files."""
    run = Engine(engine.codec, backend, engine.backend_name, engine.model_path, engine.training)
    start = time.perf_counter()
    files = generate("harmonic", options, out=out, engine=run).files
    seconds = time.perf_counter() - start
    return seconds, hashlib.sha256(b"".join(Path(f).read_bytes() for f in sorted(files))).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="best of N replays")
    args = ap.parse_args()
    engine = Engine.load()
    tmp = Path(tempfile.mkdtemp(prefix="midiforge-bench-sampler-"))
    options = StyleOptions(sampling=SamplingConfig(seed=args.seed), n=10)
    recording = Recording(engine.backend)
    real_s, want = songs(engine, recording, options, tmp / "real")
    replays = []
    for i in range(args.repeat):
        seconds, got = songs(engine, Replay(recording), options, tmp / f"replay{i}")
        if got != want:
            raise SystemExit("the replay wrote other files than the run it replays: the sampler is not "
                             "a function of its logits and seed")
        replays.append(seconds)
    steps = len(recording.logits)
    best = min(replays)
    print(f"ten songs, seed {args.seed}, {steps} backend calls: {real_s:.2f} s with {engine.backend_name}; "
          f"replayed {best:.2f} s (best of {args.repeat}; {best / steps * 1e3:.3f} ms a call), "
          f"the sampler's share {best / real_s:.0%}; files identical")


if __name__ == "__main__":
    main()
