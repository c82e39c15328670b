"""Built-in models, registered through the same public hook third-party plugins use."""

from __future__ import annotations

from midiforge import hookimpl
from midiforge.models import hf, lstm, transformer
from midiforge.models.base import ModelPlugin

BUILTIN_MODELS = [
    ModelPlugin(
        "music-transformer",
        "Decoder-only transformer (rotary or Music Transformer relative attention) with a KV cache.",
        transformer.TransformerConfig,
        transformer.build,
    ),
    ModelPlugin("lstm", "Multi-layer LSTM language model.", lstm.LSTMConfig, lstm.build),
    ModelPlugin(
        "hf-gpt2",
        "Hugging Face GPT-2 (random init from config; needs transformers).",
        hf.HFConfig,
        hf.builder("gpt2"),
    ),
    ModelPlugin(
        "hf-llama",
        "Hugging Face Llama (random init from config; needs transformers).",
        hf.HFConfig,
        hf.builder("llama"),
    ),
    ModelPlugin(
        "hf-mistral",
        "Hugging Face Mistral (random init from config; needs transformers).",
        hf.HFConfig,
        hf.builder("mistral"),
    ),
]


@hookimpl
def register_models(register):
    for model in BUILTIN_MODELS:
        register(model)
