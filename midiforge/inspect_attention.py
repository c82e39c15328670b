"""Attention maps of a music-transformer: which earlier tokens each head looks at.

The model computes attention with ``F.scaled_dot_product_attention``, which never returns the
weights. A forward hook on every attention module records the module's inputs (the block's
layer-normed activations, the rotary tables or causal mask) and runs the module's own attention
again with ``explicit=True`` (:func:`midiforge.models.transformer.attention`, the model's one
attention), which returns the weights. ``recompute_attention`` also returns the output through
the output projection, so a test can prove the weights are the ones the model used.

>>> from midiforge.inspect_attention import inspect_attention
>>> result = inspect_attention("runs/bach/best.safetensors", out="attention")
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from midiforge import atomic
from midiforge.errors import MidiforgeError
from midiforge.models.transformer import CausalSelfAttention, MusicTransformer

#: Above this many tokens the axes carry tick marks only (labels would overlap).
DEFAULT_LABEL_LIMIT = 64
DEFAULT_MAX_TOKENS = 128


@dataclass
class LayerAttention:
    """One layer: attention probabilities, and the block output both ways (for checking)."""

    layer: int
    probs: torch.Tensor  # [B, heads, T, S], rows sum to 1
    output: torch.Tensor  # recomputed probs @ V -> output projection, [B, T, d_model]
    model_output: torch.Tensor  # what the model's own attention module returned


@dataclass
class InspectResult:
    """What ``inspect_attention`` wrote."""

    checkpoint: Path
    ids: list[int]
    tokens: list[str]
    images: list[Path]
    tokens_json: Path
    source: str  # "generated" or the MIDI file's path
    extra: dict = field(default_factory=dict)


def recompute_attention(
    attn: CausalSelfAttention, x: torch.Tensor, rotary=None, past=None, mask=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention probabilities ``[B, heads, T, S]`` and output of ``attn`` (a ``CausalSelfAttention``).

    ``CausalSelfAttention.forward`` with the explicit attention, which also gives the weights.
    """
    q, k, v = attn.heads(x, rotary, past)  # the module's own projections (rotary and cache included)
    y, probs = attn.attend(q, k, v, mask, explicit=True)
    return probs, attn.proj(y)


@torch.no_grad()
def capture_attention(model, ids: torch.Tensor) -> list[LayerAttention]:
    """Run ``model`` (a music-transformer, eval mode) on ``ids [B, T]`` and recompute each layer's attention."""
    if not isinstance(model, MusicTransformer):
        raise MidiforgeError(
            f"attention maps need a music-transformer checkpoint; this one holds a {type(model).__name__}"
        )
    layers: list[LayerAttention] = []

    def hook(module, args, output):
        x, rotary, past, mask = (list(args) + [None] * 4)[:4]
        probs, recomputed = recompute_attention(module, x, rotary, past, mask)
        layers.append(LayerAttention(len(layers), probs, recomputed, output[0]))

    attentions = [m for m in model.modules() if isinstance(m, CausalSelfAttention)]
    handles = [m.register_forward_hook(hook) for m in attentions]
    was_training = model.training
    model.eval()  # dropout would make the probabilities differ from the recomputation
    try:
        model(ids)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return layers


# ---------------------------------------------------------------------------------- token sources


def sample_tokens(checkpoint: Path, role: str, bars: int, seed: int | None, key: str | None) -> list[int]:
    """A short grammar-constrained sample (prefix + bars) from the checkpoint, like ``generate``."""
    from midiforge.generation import SamplingConfig, StyleOptions
    from midiforge.generation.engine import Engine
    from midiforge.generation.styles import make_request

    engine = Engine.load(checkpoint, backend="torch")
    options = StyleOptions(n=1, bars=bars, key=key, sampling=SamplingConfig(seed=seed))
    request = make_request(engine, role, [role], options.keys(1)[0], bars, options)
    context = int(engine.backend.model.config.max_seq_len)  # never step past the model's positions
    request = replace(request, max_tokens=max(1, min(request.max_tokens, context - len(request.prompt) - 1)))
    return list(request.prompt) + list(engine.run([request], options.sampling)[0])


def midi_tokens(path: Path, codec) -> list[int]:
    """``path`` tokenized with the checkpoint's codec (the ``full`` view when it has 2+ roles)."""
    from midiforge.data.midi_io import BadMidi, load_score
    from midiforge.data.roles import find_roles, views_for

    if not Path(path).is_file():
        raise MidiforgeError(f"MIDI file not found: {path}")
    try:
        score = load_score(path)
    except BadMidi as exc:
        raise MidiforgeError(f"cannot use {path}: {exc}") from None
    roles = find_roles(score)
    views = views_for(roles)
    if not views:
        raise MidiforgeError(f"{path} has no usable tracks (no notes)")
    return codec.encode(score, roles, role=views[0])


# ---------------------------------------------------------------------------------- drawing


def plot_layer(
    probs: np.ndarray, tokens: list[str], bars: list[int], path: Path, title: str, label_limit: int
) -> Path:
    """One PNG: a heatmap per head (query rows, key columns), bar lines marked, token labels if short."""
    from matplotlib.figure import Figure

    heads, t, _ = probs.shape
    cols = min(heads, 4)
    rows = math.ceil(heads / cols)
    side = 3.2 if t <= label_limit // 2 else 4.2 if t <= label_limit else 3.0
    fig = Figure(figsize=(side * cols + 1.5, side * rows + 1.0), dpi=110, layout="constrained")
    fig.suptitle(title, fontsize=10)
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.set_axis_off()
            continue
        image = ax.imshow(probs[h], cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"head {h}", fontsize=8)
        for b in bars:  # a bar line before each Bar token, on both axes
            ax.axhline(b - 0.5, color="#4dabf7", linewidth=0.6)
            ax.axvline(b - 0.5, color="#4dabf7", linewidth=0.6)
        if t <= label_limit:
            labels = [token.removesuffix("_None") for token in tokens]  # MidiTok's BOS_None, Bar_None
            ax.set_xticks(range(t), labels, rotation=90, fontsize=3.5)
            ax.set_yticks(range(t), labels if h % cols == 0 else [], fontsize=3.5)
        else:
            ax.tick_params(labelsize=6)
        ax.set_xlabel("key (attended token)", fontsize=7)
        if h % cols == 0:
            ax.set_ylabel("query token", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="attention")
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


# ---------------------------------------------------------------------------------- the command


def inspect_attention(
    checkpoint: str | Path,
    out: str | Path = "attention",
    midi: str | Path | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    role: str = "melody",
    bars: int = 4,
    key: str | None = None,
    seed: int | None = 0,
    label_limit: int = DEFAULT_LABEL_LIMIT,
) -> InspectResult:
    """Write ``layer_N.png`` heatmaps (heads as subplots) and ``tokens.json`` into ``out``.

    The sequence is a short sample the checkpoint generates (``role``, ``bars``, ``seed``), or
    ``midi`` tokenized with the checkpoint's codec; either is cut to ``max_tokens``.
    """
    from midiforge.models.checkpoint import load_checkpoint

    checkpoint, out = Path(checkpoint), Path(out)
    if max_tokens < 2:
        raise MidiforgeError(f"--max-tokens must be at least 2, got {max_tokens}")
    loaded = load_checkpoint(checkpoint)
    if loaded.name != "music-transformer":
        raise MidiforgeError(
            f"attention maps need a music-transformer checkpoint; {checkpoint.name} is a '{loaded.name}' model"
        )
    codec = loaded.codec
    if isinstance(codec, dict):
        raise MidiforgeError(f"checkpoint {checkpoint} has no usable codec")
    ids = (
        midi_tokens(Path(midi), codec)
        if midi is not None
        else sample_tokens(checkpoint, role, bars, seed, key)
    )
    ids = ids[: min(max_tokens, loaded.model.config.max_seq_len)]
    tokens = codec.tokens(ids)
    bar_positions = [i for i, idx in enumerate(ids) if codec.type_of[idx] == "Bar"]
    layers = capture_attention(loaded.model, torch.tensor([ids], dtype=torch.long))
    images = []
    for layer in layers:
        probs = layer.probs[0].float().cpu().numpy()
        title = f"{checkpoint.name}: layer {layer.layer} ({len(ids)} tokens, blue = bar lines)"
        images.append(
            plot_layer(probs, tokens, bar_positions, out / f"layer_{layer.layer}.png", title, label_limit)
        )
    source = str(midi) if midi is not None else "generated"
    info = {
        "checkpoint": str(checkpoint),
        "source": source,
        "positional": loaded.model.config.positional,
        "layers": len(layers),
        "heads": loaded.model.config.n_heads,
        "bar_positions": bar_positions,
        "ids": ids,
        "tokens": tokens,
        "images": [p.name for p in images],
    }
    tokens_json = atomic.write_text(out / "tokens.json", json.dumps(info, indent=1))
    return InspectResult(checkpoint, ids, tokens, images, tokens_json, source)
