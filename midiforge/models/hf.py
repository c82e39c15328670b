"""``hf-gpt2``, ``hf-llama``, ``hf-mistral``: Hugging Face causal LMs as midiforge models.

Built from a ``transformers`` config with random weights (no hub download), trained by
midiforge's trainer and saved in midiforge's checkpoint format. Generation goes through the same
``step``/cache interface: the cache is a tuple of per-layer ``(k, v)`` tensors that is wrapped in
a ``transformers.DynamicCache`` for each call. Export: ONNX/CoreML export of these models is not
supported by midiforge's exporters (transformers' cache objects and masking code do not trace
through them); use the ``music-transformer`` or ``lstm`` models for exported/shipped models.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from midiforge.errors import MidiforgeError
from midiforge.models.base import MidiModel, ModelConfig, empty_kv_cache

HFCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]


@dataclass
class HFConfig(ModelConfig):
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 0  # llama/mistral grouped-query attention; 0 means n_heads
    d_ff: int = 0  # 0 means 4 * d_model
    dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)  # raw transformers config options

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads


def _transformers():
    try:
        import transformers
    except ImportError:
        raise MidiforgeError(
            "Hugging Face models need the 'transformers' package: pip install 'midiforge[hf]'"
        ) from None
    return transformers


def _gpt2(c: HFConfig):
    tf = _transformers()
    cfg = tf.GPT2Config(
        vocab_size=c.vocab_size, n_positions=c.max_seq_len, n_embd=c.d_model, n_layer=c.n_layers,
        n_head=c.n_heads, n_inner=c.d_ff or None, resid_pdrop=c.dropout, embd_pdrop=c.dropout,
        attn_pdrop=c.dropout, bos_token_id=None, eos_token_id=None, **c.extra,
    )
    return tf.GPT2LMHeadModel(cfg)


def _llama_like(config_name: str, model_name: str, c: HFConfig, **family: Any):
    tf = _transformers()
    cfg = getattr(tf, config_name)(
        vocab_size=c.vocab_size, hidden_size=c.d_model, intermediate_size=c.d_ff or 4 * c.d_model,
        num_hidden_layers=c.n_layers, num_attention_heads=c.n_heads, num_key_value_heads=c.kv_heads,
        max_position_embeddings=c.max_seq_len, attention_dropout=c.dropout, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=None,
        **{**family, **c.extra},
    )
    return getattr(tf, model_name)(cfg)


FAMILIES = {
    "gpt2": _gpt2,
    "llama": lambda c: _llama_like("LlamaConfig", "LlamaForCausalLM", c),
    "mistral": lambda c: _llama_like("MistralConfig", "MistralForCausalLM", c, sliding_window=c.max_seq_len),
}


class HFCausalLM(MidiModel):
    """Wraps a ``transformers`` ``*ForCausalLM`` behind midiforge's model interface."""

    def __init__(self, family: str, config: HFConfig) -> None:
        super().__init__()
        self.config = config
        self.family = family
        self.lm = FAMILIES[family](config)
        # transformers 5 renamed ``past_key_values`` to ``cache``; support both
        params = inspect.signature(self.lm.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def num_parameters(self) -> int:
        return self.lm.num_parameters()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=ids, use_cache=False).logits

    def init_cache(self, batch_size: int, device=None) -> HFCache:
        c = self.config
        like = next(self.parameters())
        return empty_kv_cache(c.n_layers, batch_size, c.kv_heads, c.d_model // c.n_heads, like, device)

    def step(self, ids: torch.Tensor, cache: HFCache) -> tuple[torch.Tensor, HFCache]:
        from transformers import DynamicCache

        past_len = cache[0][0].shape[2]
        past = DynamicCache(config=self.lm.config)
        for layer, (k, v) in enumerate(cache):
            past.update(k, v, layer)
        positions = torch.arange(past_len, past_len + ids.shape[1], device=ids.device)
        out = self.lm(
            input_ids=ids,
            **{self._cache_arg: past},
            position_ids=positions.unsqueeze(0).expand(ids.shape[0], -1),
            use_cache=True,
        )
        new = out["cache"] if "cache" in out else out["past_key_values"]
        return out.logits, tuple((layer.keys, layer.values) for layer in new.layers)


def builder(family: str):
    def build(config: HFConfig) -> HFCausalLM:
        return HFCausalLM(family, config)

    return build
