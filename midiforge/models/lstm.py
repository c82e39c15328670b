"""``lstm``: token embeddings -> multi-layer ``nn.LSTM`` -> linear head.

``nn.LSTM`` converts to both ONNX and CoreML. The cache is the LSTM state ``(h, c)``, each
``[n_layers, B, hidden]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from midiforge.models.base import MidiModel, ModelConfig

LSTMCache = tuple[torch.Tensor, torch.Tensor]


@dataclass
class LSTMConfig(ModelConfig):
    hidden_size: int = 512
    n_layers: int = 3
    dropout: float = 0.1
    tie_weights: bool = True


class LSTMModel(MidiModel):
    """Multi-layer LSTM language model."""

    cache_labels = ("h", "c")  # names of the cache tensors in exported graphs (past_h, past_c)
    recurrent_state = True  # the cache (h, c) has a fixed size; step returns it whole

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.hidden_size)
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.hidden_size,
            config.hidden_size,
            num_layers=config.n_layers,
            batch_first=True,
            dropout=config.dropout if config.n_layers > 1 else 0.0,
        )
        self.head = (
            None if config.tie_weights else nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        )
        nn.init.normal_(self.tok_emb.weight, std=0.02)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        return F.linear(x, self.tok_emb.weight) if self.head is None else self.head(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.drop(self.tok_emb(ids)))
        return self._logits(out)

    def init_cache(self, batch_size: int, device=None) -> LSTMCache:
        device = self.tok_emb.weight.device if device is None else device
        shape = (self.config.n_layers, batch_size, self.config.hidden_size)
        dtype = self.tok_emb.weight.dtype
        return torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)

    def step(self, ids: torch.Tensor, cache: LSTMCache) -> tuple[torch.Tensor, LSTMCache]:
        out, (h, c) = self.lstm(self.tok_emb(ids), cache)
        return self._logits(out), (h, c)


def build(config: LSTMConfig) -> LSTMModel:
    return LSTMModel(config)
