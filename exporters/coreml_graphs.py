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
cache with ``torch.cat``; so the stateful graph calls the model's ``step_in_buffers``, which
writes each step's keys and values into the states, then attends (a declared capability:
``writes_kv_buffers``). Which graph a model gets follows its declared capabilities, never its
attribute names.
"""

from __future__ import annotations

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


class StatefulTransformer(nn.Module):
    """The model's :meth:`~midiforge.models.base.MidiModel.step_in_buffers` on its CoreML states."""

    def __init__(self, model: Any, max_len: int) -> None:
        super().__init__()
        self.model = model
        layers = model.init_cache(1, DEVICE)  # per-layer (k, v) pairs [1, heads, 0, head_dim]
        _, heads, _, head_dim = layers[0][0].shape
        shape = (len(layers), 1, heads, max_len, head_dim)
        self.register_buffer("key_cache", torch.zeros(shape))
        self.register_buffer("value_cache", torch.zeros(shape))

    def forward(self, input_ids: torch.Tensor, cache_positions: torch.Tensor) -> torch.Tensor:
        return self.model.step_in_buffers(input_ids, self.key_cache, self.value_cache, cache_positions.shape[1])


def is_recurrent(model: Any) -> bool:
    """The model declares a fixed-size ``(h, c)`` cache (``recurrent_state``)."""
    return bool(getattr(model, "recurrent_state", False))


def supports_stateful_kv(model: Any) -> bool:
    """The model declares ``writes_kv_buffers``: its key/value cache can live in CoreML states."""
    return bool(getattr(model, "writes_kv_buffers", False))
