"""midiforge: learn musical patterns from MIDI files and generate new ones.

The Python API mirrors the CLI (the CLI is a thin layer over these functions)::

    import midiforge

    midiforge.analyze("~/midi")                                   # midiforge analyze
    midiforge.prepare_dataset("datasets/mine", path="~/midi")     # midiforge prepare
    midiforge.train(midiforge.TrainConfig(data=["datasets/mine"]))  # midiforge train
    midiforge.generate("harmonic", midiforge.StyleOptions(n=10))  # midiforge generate harmonic
    midiforge.generate_live("harmonic", midiforge.StyleOptions(drums=True))  # ... --drums --live
    midiforge.export_model("onnx", out="model.onnx")              # midiforge export onnx
    midiforge.evaluate("out/songs", "bach-chorales")               # midiforge evaluate
    midiforge.infill / midiforge.vary / midiforge.run_pipeline / midiforge.fetch_dataset

Names are imported on first use, so ``import midiforge`` stays light (no torch until needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from midiforge.hookspecs import hookimpl

__version__ = "0.1.0"

_API = {
    "analyze": "midiforge.data.analyze",
    "prepare_dataset": "midiforge.data.prepare",
    "PrepareOptions": "midiforge.data.prepare",
    "Codec": "midiforge.data.codec",
    "train": "midiforge.training",
    "TrainConfig": "midiforge.training",
    "generate": "midiforge.generation",
    "StyleOptions": "midiforge.generation",
    "SamplingConfig": "midiforge.generation",
    "Engine": "midiforge.generation.engine",
    "generate_live": "midiforge.live",
    "infill": "midiforge.generation.infill",
    "vary": "midiforge.generation.infill",
    "export_model": "midiforge.exporting.api",
    "evaluate": "midiforge.evaluation",
    "perplexity": "midiforge.evaluation",
    "run_pipeline": "midiforge.pipeline",
    "PipelineOptions": "midiforge.pipeline",
    "fetch_dataset": "midiforge.download",
    "diagnose": "midiforge.doctor",
    "load_checkpoint": "midiforge.models.checkpoint",
}

__all__ = ["__version__", "hookimpl", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'midiforge' has no attribute '{name}'")
