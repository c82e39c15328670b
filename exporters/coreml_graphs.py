"""The PyTorch modules that are traced for CoreML, one per exported variant.

* ``FullSequence``: ``input_ids -> logits`` for a whole (flexible-length) sequence; the stateless
  transformer variant for macOS 14 / iOS 17, which re-reads the sequence every step.
* ``RecurrentStep``: ``input_ids, h, c -> logits, h, c``; the stateless LSTM variant (its state
  has a fixed size, so passing it in and out costs nothing).
* ``StatefulRecurrent``: LSTM whose ``h``/``c`` live in CoreML states (iOS 18).
* ``StatefulTransformer``: transformer whose key/value cache lives in CoreML states
  ``key_cache``/``value_cache`` ``[layers, 1, heads, max_len, head_dim]`` (iOS 18). The input
  ``cache_positions`` (length = tokens in the cache after this call) carries the write offset as
  a shape, since CoreML slices need shapes, not values.

CoreML states are fixed-size buffers written in place, while ``MusicTransformer.step`` grows its
cache with ``torch.cat``; so the stateful graph runs the model's own submodules (projections,
rotary tables, relative embeddings, MLPs) with a write-then-attend cache.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from midiforge.exporting.checkpoint import DEVICE


class FullSequence(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids)


class RecurrentStep(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        logits, (h, c) = self.model.step(input_ids, (h, c))
        return logits, h, c


class StatefulRecurrent(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        h, _ = model.init_cache(1, DEVICE)
        self.register_buffer("h", torch.zeros_like(h))
        self.register_buffer("c", torch.zeros_like(h))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        logits, (h, c) = self.model.step(input_ids, (self.h, self.c))
        self.h[:, :, :] = h
        self.c[:, :, :] = c
        return logits


def _attend(attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Causal attention of ``q`` over the cache prefix ``k``/``v`` (relative bias when the model uses it)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-1, -2)) * scale
    if attn.relative:
        from midiforge.models.transformer import skew

        s = k.shape[2]
        rel = attn.rel_emb[attn.rel_emb.shape[0] - s :].to(q.dtype)
        scores = scores + skew(q @ rel.transpose(0, 1)) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class StatefulTransformer(nn.Module):
    def __init__(self, model: Any, max_len: int) -> None:
        super().__init__()
        self.model = model
        cfg = model.config
        shape = (cfg.n_layers, 1, cfg.n_heads, max_len, cfg.head_dim)
        self.register_buffer("key_cache", torch.zeros(shape))
        self.register_buffer("value_cache", torch.zeros(shape))

    def forward(self, input_ids: torch.Tensor, cache_positions: torch.Tensor) -> torch.Tensor:
        from midiforge.models.transformer import apply_rotary, causal_mask

        m = self.model
        t, end = input_ids.shape[1], cache_positions.shape[1]
        past = end - t
        mask = causal_mask(t, end, input_ids.device)
        x = m.tok_emb(input_ids)
        for layer, block in enumerate(m.blocks):
            attn = block.attn
            b, _, d = x.shape
            q, k, v = attn.qkv(block.ln1(x)).view(b, t, 3, attn.n_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
            if m.rotary:
                cos, sin = m.rope_cos[past:end], m.rope_sin[past:end]
                q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
            self.key_cache[layer : layer + 1, :, :, past:end] = k.unsqueeze(0)
            self.value_cache[layer : layer + 1, :, :, past:end] = v.unsqueeze(0)
            keys = self.key_cache[layer, :, :, :end]
            values = self.value_cache[layer, :, :, :end]
            y = _attend(attn, q, keys, values, mask)
            x = x + attn.proj(y.transpose(1, 2).reshape(b, t, d))
            x = x + block.mlp(block.ln2(x))
        return m._logits(x)


def is_recurrent(model: Any) -> bool:
    return isinstance(getattr(model, "lstm", None), nn.LSTM)


def supports_stateful_kv(model: Any) -> bool:
    """The stateful transformer graph needs MusicTransformer's submodules."""
    return all(hasattr(model, a) for a in ("blocks", "tok_emb", "rotary", "_logits")) and all(
        hasattr(b, "attn") and hasattr(b.attn, "qkv") for b in model.blocks
    )

