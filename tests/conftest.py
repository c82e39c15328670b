"""Shared fixtures: a tiny, randomly initialised model with the real codec (fast to build)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A 2-layer music-transformer checkpoint with the default codec (random weights)."""
    import torch

    from midiforge.data.codec import Codec
    from midiforge.models.checkpoint import save_checkpoint
    from midiforge.models.transformer import TransformerConfig
    from midiforge.registry import get

    torch.manual_seed(0)
    codec = Codec()
    config = TransformerConfig(vocab_size=codec.vocab_size, max_seq_len=1024, d_model=64, n_layers=2, n_heads=4)
    model = get("model", "music-transformer").build(config)
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    return save_checkpoint(path, model, "music-transformer", codec)
