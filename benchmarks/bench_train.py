"""Training throughput: midiforge's music-transformer (through midiforge's trainer) versus a
Hugging Face transformers GPT-2 of the same size trained with a plain PyTorch loop on the same data.

    python benchmarks/bench_train.py                      # synthetic data, CPU-sized model
    python benchmarks/bench_train.py --data data/bach-chorales --d-model 256 --steps 50

Prints tokens/s (loss-bearing target tokens per second of training) for both and the ratio
midiforge / GPT-2 (the goal is >= 1.0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def synthetic_dataset(folder: Path, seq_len: int, n_train: int, n_val: int, seed: int) -> Path:
    """A dataset in midiforge's on-disk format with random in-vocabulary tokens (real codec)."""
    from midiforge.data.codec import Codec
    from midiforge.data.dataset import SplitWriter

    codec = Codec()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    codec.save(folder / "codec.json")
    for split, n in (("train", n_train), ("val", n_val)):
        writer = SplitWriter(folder, split)
        writer.add(rng.integers(4, codec.vocab_size, n * (seq_len + 1)), [seq_len + 1] * n)
        writer.close()
    (folder / "meta.json").write_text(json.dumps({"pad_id": codec.pad_id, "corpus": "synthetic (benchmark)"}))
    return folder


def bench_midiforge(args, data: Path, out: Path) -> float:
    from midiforge.training import TrainConfig, train

    cfg = TrainConfig(
        model="music-transformer",
        model_config={"d_model": args.d_model, "n_layers": args.layers, "n_heads": args.heads, "dropout": 0.1},
        data=[str(data)], out=str(out), batch_size=args.batch_size, seq_len=args.seq_len, epochs=1000,
        max_steps=args.warmup + args.steps, log_interval=1, eval_interval=0, max_val_batches=1,
        device=args.device, precision=args.precision, progress=False, seed=0,
    )
    result = train(cfg)
    speeds = [r["tokens_per_s"] for r in result.history if r.get("tokens_per_s")][args.warmup :]
    return statistics.median(speeds)


def bench_gpt2(args, data: Path) -> float:
    """transformers.GPT2LMHeadModel, same width/depth/heads/vocab/window, AdamW + clipping."""
    import transformers

    from midiforge.data.dataset import TokenDataset
    from midiforge.training.data import collate, epoch_order
    from midiforge.training.runtime import autocast, autocast_dtype, pick_device

    device = pick_device(args.device)
    amp = autocast_dtype(args.precision, device)
    ds = TokenDataset(data, "train", args.seq_len)
    vocab = json.loads((data / "codec.json").read_text())["vocab_size"]
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=vocab, n_positions=args.seq_len, n_embd=args.d_model, n_layer=args.layers, n_head=args.heads,
        bos_token_id=None, eos_token_id=None,
    )
    model = transformers.GPT2LMHeadModel(config).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    order = epoch_order(len(ds), 0, 0, 0, 1)
    speeds = []
    for step in range(args.warmup + args.steps):
        start = (step * args.batch_size) % (len(order) - args.batch_size)
        x, y = (t.to(device) for t in collate(ds, order[start : start + args.batch_size]))
        t0 = time.perf_counter()
        with autocast(device, amp):
            logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, vocab), y.reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()  # synchronise, as midiforge's trainer does when it logs the loss
        speeds.append(int((y != -100).sum()) / (time.perf_counter() - t0))
    return statistics.median(speeds[args.warmup :])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="prepared dataset (default: synthetic tokens)")
    parser.add_argument("--d-model", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20, help="timed steps (after --warmup)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        n = (args.warmup + args.steps + 2) * args.batch_size
        data = args.data or synthetic_dataset(Path(tmp) / "data", args.seq_len, n, args.batch_size, seed=0)
        ours = bench_midiforge(args, data, Path(tmp) / "run")
        theirs = bench_gpt2(args, data)
    print(f"model: d_model={args.d_model} layers={args.layers} heads={args.heads} seq_len={args.seq_len} "
          f"batch={args.batch_size} device={args.device} threads={torch.get_num_threads()}")
    print(f"midiforge music-transformer (midiforge trainer): {ours:10.0f} tokens/s")
    print(f"transformers GPT-2 (plain PyTorch loop):         {theirs:10.0f} tokens/s")
    print(f"ratio midiforge / GPT-2: {ours / theirs:.2f}  (target >= 1.0)")


if __name__ == "__main__":
    main()
