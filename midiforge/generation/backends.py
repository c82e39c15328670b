"""Inference backends behind one tiny interface, so the sampler never knows which runtime it drives.

``TorchBackend`` runs a :class:`midiforge.models.MidiModel`; ``OnnxBackend``
(:mod:`midiforge.generation.onnx_backend`) runs an exported model with onnxruntime and never
imports torch.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Backend(Protocol):
    """Incremental decoder: feed tokens, get the logits of the last position."""

    vocab_size: int

    def start(self, batch_size: int) -> Any:
        """Return an empty decoding state (e.g. a key/value cache) for ``batch_size`` sequences."""

    def step(self, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """Feed ``ids`` [B, T] (int64) and return (logits [B, V] float32 of the last position, state)."""

    # Optional: a backend with ``ragged_prefill = True`` also has ``prefill(prompts, state) ->
    # (logits [B, V], state)``, feeding prompts of different lengths in one call, and
    # ``hold(state, rows)``, after which those rows stop growing for good (OnnxBackend also stops
    # computing them: their logits are zeros); the sampler then skips forcing the longer prompts'
    # tails token by token (OnnxBackend with the fused decoder).


class TorchBackend:
    """Runs a PyTorch ``MidiModel`` with its key/value (or recurrent) cache."""

    def __init__(self, model: Any, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        self._torch = torch
        if threads:
            torch.set_num_threads(threads)
        self.model = model.to(device).eval()
        self.device = device
        self.vocab_size = int(model.config.vocab_size)

    def start(self, batch_size: int) -> Any:
        return self.model.init_cache(batch_size, device=self.device)

    def step(self, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(self.device)
            logits, state = self.model.step(x, state)
            return logits[:, -1].float().cpu().numpy(), state
