"""Built-in models, registered through the same public hook third-party plugins use.

Registration is lazy: listing plugins or generating with an ONNX model never imports torch; the
real :class:`~midiforge.models.base.ModelPlugin` is built on first use of anything but its name
and declared capabilities (``exportable``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from midiforge import hookimpl


class LazyModelPlugin:
    """A model plugin whose torch-based implementation is imported on first use."""

    def __init__(self, name: str, description: str, make: Callable[[], Any], exportable: bool = True) -> None:
        self.name, self.description, self._make, self._real = name, description, make, None
        self.exportable = exportable  # declared capability: the ONNX/CoreML exporters can trace it

    def __getattr__(self, item: str) -> Any:  # called only for what is not set above
        if self._real is None:
            self._real = self._make()
        return getattr(self._real, item)


def _transformer():
    from midiforge.models import transformer
    from midiforge.models.base import ModelPlugin

    return ModelPlugin(_NAMES[0], _DESCRIPTIONS[0], transformer.TransformerConfig, transformer.build)


def _lstm():
    from midiforge.models import lstm
    from midiforge.models.base import ModelPlugin

    return ModelPlugin(_NAMES[1], _DESCRIPTIONS[1], lstm.LSTMConfig, lstm.build)


def _hf(arch: str, index: int) -> Callable[[], Any]:
    def make():
        from midiforge.models import hf
        from midiforge.models.base import ModelPlugin

        return ModelPlugin(_NAMES[index], _DESCRIPTIONS[index], hf.HFConfig, hf.builder(arch))

    return make


_NAMES = ["music-transformer", "lstm", "hf-gpt2", "hf-llama", "hf-mistral"]
_DESCRIPTIONS = [
    "Decoder-only transformer (rotary or Music Transformer relative attention) with a KV cache.",
    "Multi-layer LSTM language model.",
    "Hugging Face GPT-2 (random init from config; needs transformers).",
    "Hugging Face Llama (random init from config; needs transformers).",
    "Hugging Face Mistral (random init from config; needs transformers).",
]
BUILTIN_MODELS = [
    LazyModelPlugin(_NAMES[0], _DESCRIPTIONS[0], _transformer),
    LazyModelPlugin(_NAMES[1], _DESCRIPTIONS[1], _lstm),
    # transformers' cache objects and masking code do not trace (midiforge/models/hf.py)
    LazyModelPlugin(_NAMES[2], _DESCRIPTIONS[2], _hf("gpt2", 2), exportable=False),
    LazyModelPlugin(_NAMES[3], _DESCRIPTIONS[3], _hf("llama", 3), exportable=False),
    LazyModelPlugin(_NAMES[4], _DESCRIPTIONS[4], _hf("mistral", 4), exportable=False),
]


@hookimpl
def register_models(register):
    for model in BUILTIN_MODELS:
        register(model)
