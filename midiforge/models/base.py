"""The one interface every midiforge model implements (see docs/architecture.md).

Training calls ``forward`` on whole windows; generation calls ``step`` with a cache so each new
token costs one position, not the whole prefix. The trainer, sampler and exporters only ever use
this interface, so a new architecture is a plugin, not a change to them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from midiforge.errors import MidiforgeError

Cache = Any  # each model defines its own nest of plain tensors (tuples of tensors)


class MidiModel(nn.Module):
    """Base class: a causal language model over codec token ids.

    Declared capabilities (class attributes the exporters read instead of looking at a model's
    submodules): ``cache_labels`` names the cache tensors in exported graphs; ``recurrent_state``
    says the cache is a fixed-size ``(h, c)`` pair that :meth:`step` replaces (an LSTM), so graphs
    pass it in and out whole; ``writes_kv_buffers`` says :meth:`step_in_buffers` is implemented.
    """

    config: Any
    cache_labels: tuple[str, ...] = ("key", "value")
    recurrent_state: bool = False
    writes_kv_buffers: bool = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Logits ``[B, T, V]`` for every position of ``ids [B, T]`` (causal)."""
        raise NotImplementedError

    def init_cache(self, batch_size: int, device: torch.device | str | None = None) -> Cache:
        """An empty cache (length 0) for ``batch_size`` sequences."""
        raise NotImplementedError  # pragma: no cover - abstract

    def step(self, ids: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        """Logits ``[B, T, V]`` for ``ids`` following what ``cache`` holds, and the grown cache."""
        raise NotImplementedError  # pragma: no cover - abstract

    def step_in_buffers(self, ids: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, end: int) -> torch.Tensor:
        """:meth:`step`'s logits with a per-layer key/value cache kept in fixed-size buffers ``[layers,
        1, heads, max_len, head_dim]`` written in place (CoreML states); ``end`` = cached positions
        after this call. Only for models with ``writes_kv_buffers = True``."""
        raise NotImplementedError(f"{type(self).__name__} does not write key/value buffers")

    def start_from(self, state: dict[str, torch.Tensor], config: Any) -> None:
        """Load another checkpoint's weights (``TrainConfig.init_from``).

        The base class needs tensors of the same shapes; a model that can grow overrides this so
        that a bigger model starts where a smaller trained one stopped instead of from noise.
        """
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise MidiforgeError(
                f"{type(self).__name__} cannot start from a checkpoint of another shape ({first})"
            ) from None

    def num_parameters(self) -> int:
        """Trainable parameters, tied weights counted once."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


def empty_kv_cache(
    n_layers: int, batch_size: int, heads: int, head_dim: int, like: torch.Tensor, device=None
) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """Per-layer ``(k, v)`` pairs of shape ``[B, heads, 0, head_dim]`` (dtype/device of ``like``)."""
    device = like.device if device is None else device
    shape = (batch_size, heads, 0, head_dim)
    return tuple(
        (
            torch.zeros(shape, device=device, dtype=like.dtype),
            torch.zeros(shape, device=device, dtype=like.dtype),
        )
        for _ in range(n_layers)
    )


@dataclass
class ModelConfig:
    """Fields every model config has; subclasses add their own."""

    vocab_size: int = 512
    max_seq_len: int = 1024


def make_config(config_class: type, values: dict[str, Any] | None = None):
    """Build ``config_class`` from a dict, rejecting unknown keys with a clear message."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MidiforgeError(
            f"unknown model option(s) {', '.join(unknown)} for {config_class.__name__} "
            f"(known: {', '.join(sorted(known))})"
        )
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise MidiforgeError(f"bad model options for {config_class.__name__}: {exc}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


@dataclass(frozen=True)
class ModelPlugin:
    """A registered architecture: what ``midiforge.registry.get('model', name)`` returns."""

    name: str
    description: str
    config_class: type
    builder: Any  # callable(config) -> MidiModel
    exportable: bool = True  # the ONNX/CoreML exporters can trace it

    def build(self, config: Any) -> MidiModel:
        """``config`` is a ``config_class`` instance, as midiforge always passes it
        (``midiforge.contracts.build_model``); a dict is also accepted here, for callers of the
        built-ins' own API."""
        if isinstance(config, dict):
            config = make_config(self.config_class, config)
        return self.builder(config)
