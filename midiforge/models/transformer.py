"""``music-transformer``: a decoder-only transformer (nanoGPT style, pre-LayerNorm blocks).

Positions are encoded either with rotary embeddings (``positional="rope"``, the default) or with
Music Transformer's learned relative attention (Huang et al. 2018) computed with the
memory-efficient "skewing" trick. Attention is written once, in :func:`attention` (as nanoGPT
keeps one): ``F.scaled_dot_product_attention`` by default, the same math in plain ops when the
weights are wanted (``inspect attention``) or a converter wants plain ops (the CoreML graph).

Everything is plain tensor ops so the model exports to ONNX and CoreML. The generation cache is
a tuple with one ``(k, v)`` pair per layer, each ``[B, heads, T_past, head_dim]``, grown with
``torch.cat``; the position offset is read from the cache length, so ``step`` has no Python-side
data-dependent control flow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from midiforge.errors import MidiforgeError
from midiforge.models.base import MidiModel, ModelConfig, empty_kv_cache

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]
POSITIONAL = ("rope", "relative")


@dataclass
class TransformerConfig(ModelConfig):
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 0  # 0 means 4 * d_model
    dropout: float = 0.1
    positional: str = "rope"  # "rope" | "relative"
    rope_base: float = 10000.0
    tie_weights: bool = True

    def __post_init__(self) -> None:
        if self.positional not in POSITIONAL:
            raise MidiforgeError(
                f"positional must be one of {', '.join(POSITIONAL)}, not '{self.positional}'"
            )
        if self.d_model % self.n_heads:
            raise MidiforgeError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.positional == "rope" and (self.d_model // self.n_heads) % 2:
            raise MidiforgeError("rotary embeddings need an even head size (d_model / n_heads)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ff_dim(self) -> int:
        return self.d_ff or 4 * self.d_model


def rotary_tables(max_len: int, dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables ``[max_len, dim]`` for GPT-NeoX style (half-split) rotary embeddings."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


def causal_mask(t: int, s: int, device: torch.device) -> torch.Tensor:
    """Bool ``[t, s]``: query i (the last t of s positions) may see key j."""
    return torch.arange(s, device=device)[None, :] <= torch.arange(t, device=device)[:, None] + (s - t)


def skew(qe: torch.Tensor) -> torch.Tensor:
    """Music Transformer's skewing: ``qe[..., i, m]`` (m = distance + S - 1) -> ``[..., i, j]``.

    Row i of the queries is the (S - T + i)-th position; the result at key j is
    ``qe[i, j + T - 1 - i]``. Padding one column on the left and re-reading the flat buffer with
    row stride S does that shift without ever building an ``[T, S, head_dim]`` tensor.
    Entries above the causal diagonal are garbage and must be masked.
    """
    b, h, t, s = qe.shape
    flat = F.pad(qe, (1, 0)).reshape(b, h, t * (s + 1))
    return flat[..., t : t + t * s].reshape(b, h, t, s)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              bias: torch.Tensor | None = None, dropout: float = 0.0, explicit: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``softmax(q kᵀ / sqrt(head_dim) + bias) v`` over the keys ``mask`` allows; the model's one attention.

    ``q [B, heads, T, head_dim]`` are the last T of the S positions of ``k``/``v [B, heads, S,
    head_dim]``; ``mask`` is bool ``[T, S]`` (None: causal, see :func:`causal_mask`); ``bias`` is
    added to the scaled scores (relative attention), ``[B, heads, T, S]``. Returns the output
    ``[B, heads, T, head_dim]`` and, with ``explicit=True``, the weights ``[B, heads, T, S]`` (rows
    sum to 1); the default fused kernel never builds them and returns ``None``.
    """
    if explicit:
        allowed = causal_mask(q.shape[2], k.shape[2], q.device) if mask is None else mask
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
        if bias is not None:
            scores = scores + bias
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        return F.dropout(weights, dropout, training=dropout > 0) @ v, weights
    if bias is not None:
        allowed = causal_mask(q.shape[2], k.shape[2], q.device) if mask is None else mask
        mask = bias.masked_fill(~allowed, float("-inf"))
    # no mask: SDPA's fused causal path (queries and keys are the same positions)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=mask is None), None


def extend_cache(past, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values of every position so far: a ``(k, v)`` pair is grown with ``torch.cat``;
    a :class:`KVBuffers` layer is written in place."""
    if isinstance(past, KVBuffers):
        return past.write(k, v)
    return torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)


@dataclass(frozen=True)
class KVBuffers:
    """Layer ``layer`` of fixed-size key/value buffers ``[layers, 1, heads, max_len, head_dim]``
    (CoreML states) that already hold positions ``0..start``: this step writes ``start..end``."""

    keys: torch.Tensor
    values: torch.Tensor
    layer: int
    start: int
    end: int

    def write(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layer, start, end = self.layer, self.start, self.end
        self.keys[layer : layer + 1, :, :, start:end] = k.unsqueeze(0)
        self.values[layer : layer + 1, :, :, start:end] = v.unsqueeze(0)
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.dropout = cfg.n_heads, cfg.head_dim, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.relative = cfg.positional == "relative"
        if self.relative:
            # one learned embedding per distance -(max_seq_len-1)..0, shared by the heads
            self.rel_emb = nn.Parameter(torch.randn(cfg.max_seq_len, cfg.head_dim) * 0.02)

    def heads(self, x, rotary=None, past=None):
        """q, k, v ``[B, heads, T, head_dim]`` (k and v after the cached ``past``)."""
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if past is not None:
            k, v = extend_cache(past, k, v)
        return q, k, v

    def relative_bias(self, q: torch.Tensor, s: int) -> torch.Tensor:
        """Scaled ``S_rel [B, heads, T, s]``: q_i . E[distance to key j] (valid for visible keys)."""
        rel = skew(q @ self.rel_emb[self.rel_emb.shape[0] - s :].to(q.dtype).transpose(0, 1))
        return rel * (1.0 / math.sqrt(self.head_dim))

    def attend(self, q, k, v, mask=None, explicit: bool = False):
        """:func:`attention` with this module's relative bias and dropout: ``(output [B, T, d_model]
        before the output projection, weights or None)``."""
        bias = self.relative_bias(q, k.shape[2]) if self.relative else None
        y, weights = attention(q, k, v, mask, bias, self.dropout if self.training else 0.0, explicit)
        b, _, t, _ = q.shape
        return y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim), weights

    def forward(self, x, rotary=None, past=None, mask=None, explicit: bool = False):
        q, k, v = self.heads(x, rotary, past)
        y, _ = self.attend(q, k, v, mask, explicit)
        return self.proj(y), (k, v)


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ff_dim), nn.GELU(), nn.Linear(cfg.ff_dim, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rotary=None, past=None, mask=None, explicit: bool = False):
        a, kv = self.attn(self.ln1(x), rotary, past, mask, explicit)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x))), kv


class MusicTransformer(MidiModel):
    """Decoder-only transformer with a key/value cache for generation."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = None if config.tie_weights else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.rotary = config.positional == "rope"
        if self.rotary:
            cos, sin = rotary_tables(config.max_seq_len, config.head_dim, config.rope_base)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln_f(x)
        return F.linear(x, self.tok_emb.weight) if self.head is None else self.head(x)

    def _rotary(self, start: int, end: int):
        return (self.rope_cos[start:end], self.rope_sin[start:end]) if self.rotary else None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        # rotary attention can use SDPA's fused causal path; relative attention needs the mask
        mask = None if self.rotary else causal_mask(t, t, ids.device)
        rotary = self._rotary(0, t)
        x = self.drop(self.tok_emb(ids))
        for block in self.blocks:
            x, _ = block(x, rotary, None, mask)
        return self._logits(x)

    def start_from(self, state: dict[str, torch.Tensor], config: TransformerConfig) -> None:
        """Start from a smaller trained transformer, keeping its predictions exactly.

        Block expansion (as in LLaMA Pro): the trained blocks are spread over the deeper stack
        and every new block gets zero output projections, so it adds nothing to the residual
        stream until training moves it. A wider feed-forward keeps the trained units and adds
        units whose outgoing weights are zero. Width, heads and positions must match.
        """
        mine = self.config
        same = ("vocab_size", "d_model", "n_heads", "positional", "rope_base", "tie_weights")
        differ = [k for k in same if getattr(config, k) != getattr(mine, k)]
        if differ or config.n_layers > mine.n_layers or config.ff_dim > mine.ff_dim:
            reason = ", ".join(differ) or "fewer layers or a narrower feed-forward"
            raise MidiforgeError(f"a music-transformer cannot grow from this checkpoint ({reason} differ)")
        grown = self.state_dict()
        for name in ("tok_emb.weight", "ln_f.weight", "ln_f.bias", "head.weight"):
            if name in state:
                grown[name] = state[name]
        placed = {i * mine.n_layers // config.n_layers: i for i in range(config.n_layers)}
        for target in range(mine.n_layers):
            prefix = f"blocks.{target}."
            if target not in placed:
                for name in ("attn.proj.weight", "attn.proj.bias", "mlp.2.weight", "mlp.2.bias"):
                    grown[prefix + name] = torch.zeros_like(grown[prefix + name])
                continue
            source = f"blocks.{placed[target]}."
            for name, tensor in state.items():
                if name.startswith(source):
                    key = prefix + name[len(source):]
                    grown[key] = _embed(grown[key], tensor, key.endswith("mlp.2.weight"))
        self.load_state_dict(grown, strict=True)

    def init_cache(self, batch_size: int, device=None) -> KVCache:
        c = self.config
        return empty_kv_cache(c.n_layers, batch_size, c.n_heads, c.head_dim, self.tok_emb.weight, device)

    def step(self, ids: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        past_len = cache[0][0].shape[2]
        total = past_len + ids.shape[1]
        mask = causal_mask(ids.shape[1], total, ids.device)
        rotary = self._rotary(past_len, total)
        x = self.tok_emb(ids)
        new_cache = []
        for block, past in zip(self.blocks, cache, strict=True):
            x, kv = block(x, rotary, past, mask)
            new_cache.append(kv)
        return self._logits(x), tuple(new_cache)

    #: declared capability: :meth:`step_in_buffers` runs on fixed-size key/value buffers (the
    #: exporters' stateful CoreML graph)
    writes_kv_buffers = True

    def step_in_buffers(self, ids: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, end: int) -> torch.Tensor:
        """:meth:`step`'s logits with the cache in fixed-size buffers ``[layers, 1, heads,
        max_len, head_dim]`` that hold the first ``end - T`` positions; ``ids``' keys and values
        are written in place (CoreML states cannot grow), then attended with plain ops."""
        t = ids.shape[1]
        start = end - t
        mask = causal_mask(t, end, ids.device)
        rotary = self._rotary(start, end)
        x = self.tok_emb(ids)
        for layer, block in enumerate(self.blocks):
            x, _ = block(x, rotary, KVBuffers(keys, values, layer, start, end), mask, explicit=True)
        return self._logits(x)


def _embed(fresh: torch.Tensor, trained: torch.Tensor, zero_rest: bool) -> torch.Tensor:
    """``trained`` in the leading corner of ``fresh``; new outgoing weights (``zero_rest``) are 0."""
    if fresh.shape == trained.shape:
        return trained.to(fresh.dtype)
    out = torch.zeros_like(fresh) if zero_rest else fresh.clone()
    out[tuple(slice(0, n) for n in trained.shape)] = trained
    return out


def build(config: TransformerConfig) -> MusicTransformer:
    return MusicTransformer(config)
