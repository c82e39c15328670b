"""Decoding speed: onnxruntime (OnnxBackend) vs PyTorch eager (TorchBackend), same model and cache.

    .venv/bin/python benchmarks/bench_onnx.py [--checkpoint PATH] [--tokens 128] [--threads N]

Uses the shipped default model when installed, else a randomly initialised music-transformer with
the default configuration (speed does not depend on the weights). Each run feeds a 16-token
prompt, then decodes ``--tokens`` tokens one at a time (greedy, so both runtimes do identical
work), at batch 1 and batch 8; prints tokens/s and the ONNX/PyTorch ratio.
"""

from __future__ import annotations

import os

# Sleeping (not spinning) OpenMP workers, as onnxruntime's (see bench_generate.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from midiforge.errors import MidiforgeError
from midiforge.generation.backends import TorchBackend
from midiforge.generation.engine import default_model_path
from midiforge.generation.onnx_backend import OnnxBackend


def make_checkpoint(tmp: Path) -> Path:
    from midiforge.data.codec import Codec
    from midiforge.models.checkpoint import save_checkpoint
    from midiforge.models.transformer import TransformerConfig
    from midiforge.registry import get

    codec = Codec()
    model = get("model", "music-transformer").build(TransformerConfig(vocab_size=codec.vocab_size))
    return save_checkpoint(tmp / "random-default.safetensors", model, "music-transformer", codec)


def _default_or_tiny(tmp: Path) -> Path:
    """The shipped model, or a random one of the same shape when it is not installed."""
    try:
        return default_model_path()
    except MidiforgeError:
        return make_checkpoint(tmp)


def decode(backend, batch: int, tokens: int, prompt_len: int = 16) -> float:
    """Tokens per second (batch x new tokens / seconds) of greedy decoding."""
    ids = np.random.default_rng(0).integers(4, backend.vocab_size, size=(batch, prompt_len))
    start = time.perf_counter()
    logits, state = backend.step(ids, backend.start(batch))
    for _ in range(tokens):
        logits, state = backend.step(logits.argmax(-1)[:, None].astype(np.int64), state)
    return batch * tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="threads for both runtimes (default: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()

    from midiforge.exporters.onnx import export_onnx

    from midiforge.exporting.checkpoint import load_for_export

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or _default_or_tiny(Path(tmp))
        loaded = load_for_export(checkpoint)
        onnx_path = Path(tmp) / "model.onnx"
        report = export_onnx(loaded, onnx_path)
        threads = args.threads or torch.get_num_threads()
        torch.set_num_threads(threads)
        backends = {"pytorch": TorchBackend(loaded.model, threads=threads), "onnxruntime": OnnxBackend(onnx_path, threads=threads)}
        params = sum(p.numel() for p in loaded.model.parameters()) / 1e6
        print(f"model: {checkpoint.name} ({params:.1f} M parameters), {threads} threads, "
              f"ONNX max |Δlogit| {report.max_abs_err_step:.1e}")
        for batch in (1, 8):
            speed = {name: max(decode(b, batch, args.tokens) for _ in range(args.repeat)) for name, b in backends.items()}
            print(f"batch {batch}: pytorch {speed['pytorch']:8.1f} tok/s   onnxruntime {speed['onnxruntime']:8.1f} tok/s"
                  f"   ratio {speed['onnxruntime'] / speed['pytorch']:.2f}x")


if __name__ == "__main__":
    main()
