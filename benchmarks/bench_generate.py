"""Generation speed of the default model on CPU, as ratios against reference runs in the same process.

Prints tokens/s and seconds per 16 s clip for:
  * midiforge with the KV cache, onnxruntime backend (the default) and PyTorch eager backend;
  * a loop that re-runs the full sequence each step (as simple generators do);
  * Hugging Face transformers' GPT-2 of equal size generating with its cache (``generate()``);
  * ``generate harmonic --n-songs 10`` end to end (batched, sections generated once).

    python benchmarks/bench_generate.py [--tokens 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from midiforge.generation import SamplingConfig, StyleOptions, generate
from midiforge.generation.engine import Engine, default_model_path
from midiforge.models.checkpoint import load_checkpoint


def clip_tokens(engine: Engine, seconds: float = 16.0, bpm: float = 120.0) -> int:
    """Tokens the default model writes for a 16 s melody clip (measured, not assumed)."""
    opts = StyleOptions(n=4, seconds=seconds, tempo=bpm, sampling=SamplingConfig(seed=0))
    pieces = engine.run(
        [__import__("midiforge.generation.styles", fromlist=["make_request"]).make_request(
            engine, "melody", ["melody"], opts.keys(1)[0], opts.n_bars(16), opts) for _ in range(4)],
        opts.sampling,
    )
    return int(np.mean([len(p) for p in pieces]))


def time_sampler(engine: Engine, n_tokens: int, batch: int) -> float:
    """tokens/s of the full midiforge sampler (grammar masks included) for ``n_tokens`` per row."""
    from midiforge.generation.sampler import Request

    prefix = engine.codec.prefix_ids("full", StyleOptions().keys(1)[0], 120, "4/4")
    reqs = [Request(prompt=prefix, n_bars=10_000, max_tokens=n_tokens) for _ in range(batch)]
    engine.sampler.generate(reqs[:1], SamplingConfig(seed=0))  # warm-up
    start = time.perf_counter()
    out = engine.sampler.generate(reqs, SamplingConfig(seed=1))
    return sum(len(o) for o in out) / (time.perf_counter() - start)


def time_no_cache(model, vocab: int, n_tokens: int) -> float:
    """tokens/s of a loop that re-runs the whole sequence for every new token."""
    ids = torch.randint(0, vocab, (1, 5))
    start = time.perf_counter()
    with torch.inference_mode():
        for _ in range(n_tokens):
            logits = model(ids)[:, -1]
            nxt = torch.multinomial(torch.softmax(logits, -1), 1)
            ids = torch.cat([ids, nxt], 1)
    return n_tokens / (time.perf_counter() - start)


def time_hf_gpt2(cfg, vocab: int, n_tokens: int, batch: int = 1) -> float:
    """tokens/s of transformers' GPT-2 of the same size, ``generate()`` with its KV cache."""
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=cfg.d_model, n_layer=cfg.n_layers,
                                    n_head=cfg.n_heads, n_inner=cfg.d_ff or 4 * cfg.d_model,
                                    bos_token_id=1, eos_token_id=2)).eval()
    ids = torch.randint(0, vocab, (batch, 5))
    kw = dict(max_new_tokens=n_tokens, min_new_tokens=n_tokens, do_sample=True, top_p=0.95, pad_token_id=0)
    with torch.inference_mode():
        hf.generate(ids, **{**kw, "max_new_tokens": 8, "min_new_tokens": 8})
        start = time.perf_counter()
        hf.generate(ids, **kw)
    return batch * n_tokens / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = default_model_path()
    loaded = load_checkpoint(path)
    cfg, vocab = loaded.model.config, loaded.model.config.vocab_size
    onnx = Engine.load(path, backend="onnx")
    eager = Engine.load(path, backend="torch")
    per_clip = clip_tokens(onnx)
    rows = {
        "midiforge onnxruntime + KV cache (default), batch 1": time_sampler(onnx, args.tokens, 1),
        "midiforge torch eager + KV cache, batch 1": time_sampler(eager, args.tokens, 1),
        "full-sequence re-run each step (no cache), batch 1": time_no_cache(loaded.model.eval(), vocab, args.tokens),
        "HF transformers GPT-2 generate() with cache, batch 1": time_hf_gpt2(cfg, vocab, args.tokens),
        "midiforge onnxruntime + KV cache, batch 10": time_sampler(onnx, args.tokens, 10),
    }
    print(f"default model: {sum(p.numel() for p in loaded.model.parameters()) / 1e6:.2f} M parameters, "
          f"{cfg.n_layers} layers, d_model {cfg.d_model}; a 16 s melody clip = {per_clip} tokens; "
          f"{args.threads} threads\n")
    ref = rows["HF transformers GPT-2 generate() with cache, batch 1"]
    print(f"{'run':58s} {'tok/s':>9s} {'s/16s clip':>11s} {'vs HF':>7s}")
    for name, tps in rows.items():
        print(f"{name:58s} {tps:9.0f} {per_clip / tps:11.3f} {tps / ref:6.2f}x")
    ort, torch_eager = rows[list(rows)[0]], rows[list(rows)[1]]
    print(f"\nonnxruntime vs torch eager (batch 1): {ort / torch_eager:.2f}x")
    print(f"KV cache vs no-cache loop (batch 1):  {ort / rows[list(rows)[2]]:.2f}x")
    start = time.perf_counter()
    generate("harmonic", StyleOptions(n=10, sampling=SamplingConfig(seed=0)), out="/tmp/midiforge-bench-songs",
             engine=onnx)
    print(f"generate harmonic --n-songs 10 (60 s songs): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
