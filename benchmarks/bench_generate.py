"""Generation speed on CPU, every figure as a ratio against references measured in the same run.

    python benchmarks/bench_generate.py [--tokens 256] [--threads 2] [--quantize none|fp16|int8]  (default: the shipped file's, int8)
    python benchmarks/bench_generate.py --d-model 320 --layers 6 [--heads 8]   # a random model of that size

Without a size option it measures the shipped default model; with one, a randomly initialised
music-transformer of that size (speed does not depend on the weights; the codec is the shipped
one). Prints tokens/s (batch x new tokens / s) of:

  * midiforge's sampler (grammar masks included) over onnxruntime, batch 1 and 10, and over torch eager;
  * raw decoding (greedy, no sampler) with onnxruntime and torch eager, so the sampler's own share shows;
  * Hugging Face transformers' GPT-2 of equal size generating with its cache (``generate()``);
  * a 16 s melody clip and ``generate harmonic --n-songs 10`` end to end (the songs in a fresh
    process, with its peak RSS, once per seed of ``--song-seeds``: the median and the slowest), and
    the time from process start to the first generated token;
  * the weight-bandwidth floor: weight bytes / measured memory read bandwidth = the most tokens/s
    a batch-1 decoder can reach when every step reads every weight once from memory.
"""

from __future__ import annotations

import os

# torch's OpenMP workers sleep when idle, as onnxruntime's do on a busy machine (session_options): on a shared
# machine spinning workers slow every runtime down, and the ratios would measure that instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from midiforge.assets.build import SHIPPED_QUANTIZE
from midiforge.generation import SamplingConfig, StyleOptions
from midiforge.generation.engine import Engine, default_model_path
from midiforge.models.checkpoint import load_checkpoint


def random_checkpoint(tmp: Path, d_model: int, layers: int, heads: int, d_ff: int) -> Path:
    """A randomly initialised rotary music-transformer of the asked size, with the shipped codec."""
    from midiforge.models.checkpoint import save_checkpoint
    from midiforge.models.transformer import TransformerConfig
    from midiforge.registry import get

    codec = load_checkpoint(default_model_path()).codec
    cfg = TransformerConfig(vocab_size=codec.vocab_size, d_model=d_model, n_layers=layers, n_heads=heads,
                            d_ff=d_ff, dropout=0.0)
    torch.manual_seed(0)
    model = get("model", "music-transformer").build(cfg)
    return save_checkpoint(tmp / f"random-d{d_model}-l{layers}.safetensors", model, "music-transformer", codec)


def read_bandwidth(threads: int, mb: int = 512) -> float:
    """Bytes/s of summing a large float32 array, split over ``threads`` (numpy releases the GIL)."""
    data = np.ones(mb * 2**20 // 4, np.float32)
    parts = np.array_split(data, threads)
    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(5):
            start = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = max(best, data.nbytes / (time.perf_counter() - start))
    return best


def weight_bytes(model: torch.nn.Module) -> int:
    """fp32 bytes of the parameters (a tied embedding counted once)."""
    return 4 * sum(p.numel() for p in model.parameters())


def raw_decode(backend, batch: int, tokens: int, prompt_len: int = 16) -> float:
    """tokens/s of greedy decoding straight through the backend (no grammar, no sampling)."""
    ids = np.random.default_rng(0).integers(4, backend.vocab_size, size=(batch, prompt_len))
    logits, state = backend.step(ids, backend.start(batch))
    start = time.perf_counter()
    for _ in range(tokens):
        logits, state = backend.step(logits.argmax(-1)[:, None].astype(np.int64), state)
    return batch * tokens / (time.perf_counter() - start)


def sampler_speed(engine: Engine, tokens: int, batch: int) -> float:
    """tokens/s of the full midiforge sampler (grammar masks included), ``tokens`` per row."""
    from midiforge.generation.sampler import Request

    prefix = engine.codec.prefix_ids("full", StyleOptions().keys(1)[0], 120, "4/4")
    reqs = [Request(prompt=prefix, n_bars=10_000, max_tokens=tokens) for _ in range(batch)]
    engine.sampler.generate(reqs[:1], SamplingConfig(seed=0))  # warm-up
    start = time.perf_counter()
    out = engine.sampler.generate(reqs, SamplingConfig(seed=1))
    return sum(len(o) for o in out) / (time.perf_counter() - start)


def hf_gpt2(cfg, vocab: int, tokens: int) -> float:
    """tokens/s of transformers' GPT-2 of the same size, ``generate()`` with its KV cache, batch 1."""
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=cfg.d_model, n_layer=cfg.n_layers,
                                    n_head=cfg.n_heads, n_inner=cfg.ff_dim, bos_token_id=1, eos_token_id=2)).eval()
    ids = torch.randint(0, vocab, (1, 5))
    kw = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=True, top_p=0.95, pad_token_id=0)
    with torch.inference_mode():
        hf.generate(ids, **{**kw, "max_new_tokens": 8, "min_new_tokens": 8})
        start = time.perf_counter()
        hf.generate(ids, **kw)
    return tokens / (time.perf_counter() - start)


def clip_seconds(engine: Engine, seconds: float = 16.0) -> float:
    """Wall seconds of one 16 s melody clip through the public API (in memory, no file written)."""
    from midiforge.generation import generate_pieces

    opts = StyleOptions(n=1, seconds=seconds, tempo=120, sampling=SamplingConfig(seed=0))
    generate_pieces("melody", opts, engine=engine)  # warm-up
    start = time.perf_counter()
    generate_pieces("melody", opts, engine=engine)
    return time.perf_counter() - start


FIRST_TOKEN = """
import sys, time
from midiforge.generation import onnx_backend
step = onnx_backend.OnnxBackend.step
def first(self, ids, state):
    print(f"FIRST_TOKEN {{time.time():.4f}}", flush=True)
    sys.exit(0)
onnx_backend.OnnxBackend.step = first
from midiforge.cli import main
main({argv!r})
"""


def first_token_seconds(model: Path, out: Path, env: dict) -> float:
    """Seconds from starting ``midiforge generate melody`` to its first decoder call."""
    argv = ["generate", "melody", "--model", str(model), "--n", "1", "-o", str(out)]
    code = FIRST_TOKEN.format(argv=argv)
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)  # warm the export cache
    start = time.time()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    stamp = next(line for line in done.stdout.splitlines() if line.startswith("FIRST_TOKEN"))
    return float(stamp.split()[1]) - start


SONGS = """
import atexit, resource, sys
def peak():  # this process's own high-water mark (ru_maxrss would count the parent's pages at fork)
    try:
        kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
    except OSError:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_KB {{kb}}", flush=True)
atexit.register(peak)
from midiforge.cli import main
main({argv!r})
"""


def songs_in_process(model: Path, out: Path, env: dict, seed: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``midiforge generate harmonic --n-songs 10`` in a fresh process."""
    argv = ["generate", "harmonic", "--n-songs", "10", "--seed", str(seed), "--model", str(model), "-o", str(out)]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SONGS.format(argv=argv)], env=env, capture_output=True, text=True,
                          check=True)
    seconds = time.perf_counter() - start
    peak = next(line for line in done.stdout.splitlines() if line.startswith("PEAK_KB"))
    return seconds, int(peak.split()[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=None, help="measure a random model of this width")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=None, help="default: d_model / 64, at least 4")
    ap.add_argument("--d-ff", type=int, default=0, help="0 = 4 x d_model")
    ap.add_argument("--quantize", choices=["none", "int8", "fp16"], default=SHIPPED_QUANTIZE,
                    help=f"the export's weights (default: the shipped file's, {SHIPPED_QUANTIZE})")
    ap.add_argument("--attention", choices=["auto", "fused", "plain"], default="auto")
    ap.add_argument("--bandwidth", type=float, default=None,
                    help="memory read bandwidth in GB/s for the floor (default: measured now)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for every tokens/s figure (a loaded machine)")
    ap.add_argument("--skip-songs", action="store_true", help="leave out the 10-song and start-up runs")
    ap.add_argument("--song-seeds", default="0,1,2,3",
                    help="seeds of the 10-song runs: songs differ in length and density, so one seed is one draw")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from midiforge.exporters.onnx import export_onnx

    from midiforge.exporting.checkpoint import load_for_export
    from midiforge.generation.backends import TorchBackend
    from midiforge.generation.onnx_backend import OnnxBackend

    tmp = Path(tempfile.mkdtemp(prefix="midiforge-bench-"))
    env = {**os.environ, "MIDIFORGE_CACHE": str(tmp / "cache")}
    os.environ["MIDIFORGE_CACHE"] = env["MIDIFORGE_CACHE"]  # never touch the user's export cache
    if args.d_model:
        heads = args.heads or max(4, args.d_model // 64)
        checkpoint = random_checkpoint(tmp, args.d_model, args.layers, heads, args.d_ff)
    else:
        checkpoint = default_model_path()
    loaded = load_for_export(checkpoint)
    model, cfg = loaded.model, loaded.model.config
    onnx_path = tmp / "model.onnx"
    report = export_onnx(loaded, onnx_path, attention=args.attention, quantize=args.quantize)
    ort = OnnxBackend(onnx_path, threads=args.threads)
    ort_engine = Engine(codec=loaded.codec, backend=ort, backend_name="onnx", model_path=onnx_path)
    eager = Engine(codec=loaded.codec, backend=TorchBackend(model, threads=args.threads), backend_name="torch",
                   model_path=checkpoint)
    n = args.tokens
    runs = {
        "sampler_ort": lambda: sampler_speed(ort_engine, n, 1),
        "raw_ort": lambda: raw_decode(ort_engine.backend, 1, n),
        "sampler_eager": lambda: sampler_speed(eager, n, 1),
        "raw_eager": lambda: raw_decode(eager.backend, 1, n),
        "hf": lambda: hf_gpt2(cfg, cfg.vocab_size, n),
        "batch10": lambda: sampler_speed(ort_engine, n, 10),
        "clip": lambda: 1 / clip_seconds(ort_engine),
    }
    r: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved, so a burst of load hits every figure alike
        for name, run in runs.items():
            r[name] = max(r.get(name, 0.0), run())
    clip_s = 1 / r["clip"]
    bandwidth = args.bandwidth * 1e9 if args.bandwidth else read_bandwidth(args.threads)
    wbytes = weight_bytes(model)
    floor = bandwidth / wbytes

    params = sum(p.numel() for p in model.parameters()) / 1e6
    source = f"random {params:.2f} M" if args.d_model else f"default model, {params:.2f} M"
    print(f"{source} parameters ({cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads, "
          f"vocab {cfg.vocab_size}); onnxruntime graph: {ort_engine.backend.decoder} attention, "
          f"{args.quantize} weights ({report.artifacts[0].size_bytes / 1e6:.1f} MB), max |Δlogit| vs PyTorch "
          f"{report.max_abs_err_step:.1e}, top-1 agreement {report.artifacts[0].top1_agreement:.0%}; "
          f"{args.threads} threads; {n} new tokens per row, best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    rows = [
        ("midiforge onnxruntime (sampler), batch 1", r["sampler_ort"]),
        ("raw onnxruntime decode, batch 1", r["raw_ort"]),
        ("midiforge torch eager (sampler), batch 1", r["sampler_eager"]),
        ("raw torch eager decode, batch 1", r["raw_eager"]),
        ("HF transformers GPT-2 generate(), batch 1", r["hf"]),
        ("midiforge onnxruntime (sampler), batch 10", r["batch10"]),
        ("weight-bandwidth floor, batch 1", floor),
    ]
    print(f"{'run':44s} {'tok/s':>9s} {'vs HF':>7s} {'of floor':>9s}")
    for name, tps in rows:
        print(f"{name:44s} {tps:9.0f} {tps / r['hf']:6.2f}x {tps / floor:8.0%}")
    sampler_share = 1 - r["sampler_ort"] / r["raw_ort"]
    print(f"\nratio to HF generate() (sampler, batch 1):      {r['sampler_ort'] / r['hf']:.2f}x   (target >= 3x)")
    print(f"onnxruntime vs torch eager (sampler, batch 1): {r['sampler_ort'] / r['sampler_eager']:.2f}x   "
          f"(raw decode {r['raw_ort'] / r['raw_eager']:.2f}x; target >= 3x)")
    print(f"share of the weight-bandwidth floor:           {r['sampler_ort'] / floor:.0%} with the sampler, "
          f"{r['raw_ort'] / floor:.0%} raw (target >= 50%; {wbytes / 1e6:.1f} MB fp32 weights at "
          f"{bandwidth / 1e9:.1f} GB/s {'given' if args.bandwidth else 'measured'} = {floor:.0f} tok/s)")
    if args.quantize == "int8":  # the floor of the bytes actually read (fp16-stored weights load as fp32)
        qfloor = bandwidth / report.artifacts[0].size_bytes
        print(f"share of the {args.quantize} file's bandwidth floor:      {r['sampler_ort'] / qfloor:.0%} with the "
              f"sampler, {r['raw_ort'] / qfloor:.0%} raw ({report.artifacts[0].size_bytes / 1e6:.1f} MB = "
              f"{qfloor:.0f} tok/s)")
    print(f"the sampler's own share of the time:           {sampler_share:.0%}")
    print(f"16 s melody clip:                              {clip_s:.3f} s   (target <= 0.3 s)")
    if not args.skip_songs:
        start_s = first_token_seconds(onnx_path, tmp / "first", env)
        seeds = [int(x) for x in args.song_seeds.split(",")]
        songs = [songs_in_process(onnx_path, tmp / f"songs-{seed}", env, seed) for seed in seeds]
        seconds = [s for s, _ in songs]
        print(f"process start to first token:                  {start_s:.2f} s   (target <= 1 s)")
        print(f"generate harmonic --n-songs 10 (fresh process): median {statistics.median(seconds):.2f} s, "
              f"slowest {max(seconds):.2f} s over seeds {args.song_seeds} "
              f"({', '.join(f'{s:.2f}' for s, _ in songs)}), peak RSS {max(m for _, m in songs):.0f} MB   "
              f"(targets <= 10 s, <= 500 MB)")


if __name__ == "__main__":
    main()
