"""A midiforge model run without midiforge: onnxruntime, numpy and the model's JSON contract.

    python client.py model.onnx --key C_major --groove pop --bars 4      # notes, one per line
    python client.py model.onnx --greedy --max-tokens 40 --tokens        # the token strings

Written from docs/export.md alone ("Writing a client without midiforge"); tests/test_onnx_client.py
checks every token it picks against PyTorch's logits of the whole sequence. ``model.json`` (the sidecar
``midiforge export onnx`` writes beside the ``.onnx``) holds the same object as the ONNX metadata.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort


def masks(meta: dict) -> dict[str, np.ndarray]:
    """For each token type, which ids may follow it (the contract's ``grammar`` over its ``types``)."""
    types = np.array(meta["types"])
    return {src: np.isin(types, dst) for src, dst in meta["grammar"].items()}


class Decoder:
    """One sequence through the incremental decoder; the cache grows with every call."""

    def __init__(self, path: Path, meta: dict) -> None:
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.meta = meta
        self.fused = meta.get("decoder") == "gqa"
        self.total = 0  # tokens in the cache
        self.feeds: dict[str, np.ndarray] = {}
        for c in meta["cache"]:  # an empty cache: the first call is the prompt pass
            shape = [1 if d == "batch" else 0 if d in ("length", "capacity") else d for d in c["shape"]]
            self.feeds["past_" + c["name"]] = np.zeros(shape, np.float32)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, ids: list[int]) -> np.ndarray:
        """Feed ``ids``; the logits of the last one."""
        self.total += len(ids)
        self.feeds["input_ids"] = np.array([ids], np.int64)
        if self.fused:  # the fused graph is told how many tokens the cache holds after this call
            self.feeds["seqlens_k"] = np.array([self.total - 1], np.int32)
            self.feeds["total_sequence_length"] = np.array(self.total, np.int32)
        out = dict(zip(self.outputs, self.session.run(None, self.feeds), strict=True))
        for c in self.meta["cache"]:
            self.feeds["past_" + c["name"]] = out["present_" + c["name"]]
        return out["logits"][0, -1]


def generate(path: Path, prompt: list[str], bars: int, max_tokens: int, temperature: float,
             greedy: bool, seed: int | None, ignore_eos: bool = False) -> list[str]:
    meta = json.loads(path.with_suffix(".json").read_text())
    vocab = meta["vocab"]
    ids = {t: i for i, t in enumerate(vocab)}
    allowed = masks(meta)
    context = meta["context_length"]
    rng = np.random.default_rng(seed)
    decoder = Decoder(path, meta)
    logits = decoder([ids[t] for t in prompt])
    last, out, bars_seen = ids[prompt[-1]], [], 0
    while len(out) < max_tokens and len(prompt) + len(out) < context:
        ok = allowed[meta["types"][last]]
        if ignore_eos:  # write the bars asked for even where the model would end the piece
            ok = ok.copy()
            ok[meta["special_ids"]["eos"]] = False
        masked = np.where(ok, logits, -np.inf)
        if greedy:
            nxt = int(masked.argmax())
        else:
            p = np.exp((masked - masked.max()) / temperature)
            nxt = int(rng.choice(len(p), p=p / p.sum()))
        last = nxt
        if vocab[nxt] == "EOS_None" or (vocab[nxt] == "Bar_None" and bars_seen == bars):
            break
        bars_seen += vocab[nxt] == "Bar_None"
        out.append(vocab[nxt])
        logits = decoder([nxt])
    return out


def notes(tokens: list[str], steps_per_beat: int) -> list[tuple[float, int, int, int, float]]:
    """(start in beats, program, pitch, velocity, duration in beats) of every whole note."""
    found, bar_start, bar_beats, pos, program, pitch, velocity = [], -4.0, 4.0, 0, 0, 0, 100
    for t in tokens:
        kind, _, value = t.partition("_")
        if kind == "Bar":
            bar_start += bar_beats
        elif kind == "TimeSig":
            n, d = value.split("/")
            bar_beats = int(n) * 4 / int(d)
        elif kind == "Position":
            pos = int(value)
        elif kind == "Program":
            program = int(value)
        elif kind in ("Pitch", "PitchDrum"):
            pitch = int(value)
        elif kind == "Velocity":
            velocity = int(value)
        elif kind == "Duration":
            b, s, r = (int(x) for x in value.split("."))
            found.append((bar_start + pos / steps_per_beat, program, pitch, velocity, b + s / r))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--role", default="full")
    ap.add_argument("--key", default="C_major")
    ap.add_argument("--tempo", default="mid", help="slow | mid | fast (the metadata's tempo_bands)")
    ap.add_argument("--meter", default="4_4")
    ap.add_argument("--groove", default="none")
    ap.add_argument("--density", default="medium")
    ap.add_argument("--bars", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--greedy", action="store_true")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--ignore-eos", action="store_true", help="never end before --bars / --max-tokens")
    ap.add_argument("--tokens", action="store_true", help="print the token strings instead of notes")
    a = ap.parse_args()
    meta = json.loads(a.model.with_suffix(".json").read_text())
    prompt = ["BOS_None", f"Role_{a.role}", f"Key_{a.key}", f"Tempo_{a.tempo}", f"Meter_{a.meter}"]
    if "grooves" in meta:  # codecs made before groove and density tokens have a four-control prompt
        prompt += [f"Groove_{a.groove}", f"Density_{a.density}"]
    tokens = generate(a.model, prompt, a.bars, a.max_tokens, a.temperature, a.greedy, a.seed, a.ignore_eos)
    if a.tokens:
        print(" ".join(tokens))
    else:
        for start, program, pitch, velocity, duration in notes(tokens, meta["steps_per_beat"]):
            print(f"beat {start:7.2f}  program {program:3d}  pitch {pitch:3d}  velocity {velocity:3d}  beats {duration:.2f}")


if __name__ == "__main__":
    main()
