"""Built-in ONNX exporter: one incremental decoder graph with the cache as inputs and outputs.

Graph (dynamic batch, sequence and cache length)::

    input_ids [batch, seq] int64, past_<cache> ...  ->  logits [batch, seq, vocab], present_<cache> ...

Feeding a zero-length key/value cache makes the same graph the full-sequence (prompt) pass, so one
file serves both and :class:`midiforge.generation.onnx_backend.OnnxBackend` needs nothing else.
Exported with the TorchScript exporter (``dynamo=False``: the dynamo one needs onnxscript) at
opset 17, the first with a fused ``LayerNormalization`` op; onnxruntime >= 1.14 runs it fully.
The codec, vocabulary, cache layout and generation defaults go into the model's
``metadata_props`` (key ``midiforge``) and into a ``.json`` sidecar beside it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midiforge.hookspecs import hookimpl

OPSET = 17
TOLERANCE = 1e-4  # fp32 export: max abs logit difference allowed vs PyTorch


def _step_module(model: Any, spec: Any) -> Any:
    """Wrap ``model.step`` as ``forward(ids, *flat_cache) -> (logits, *flat_cache)`` for tracing."""
    import torch
    from midiforge.exporters.cache_layout import flatten_cache, unflatten_cache

    class StepGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor, *flat: torch.Tensor):
            logits, cache = self.model.step(ids, unflatten_cache(list(flat), spec))
            return (logits, *flatten_cache(cache)[0])

    return StepGraph().eval()


def _dynamic_axes(layout: list) -> dict[str, dict[int, str]]:
    from midiforge.generation.onnx_backend import INPUT_IDS, LOGITS, past_name, present_name

    axes = {INPUT_IDS: {0: "batch", 1: "seq"}, LOGITS: {0: "batch", 1: "seq"}}
    for entry in layout:
        for name, length in ((past_name(entry.name), "past_len"), (present_name(entry.name), "total_len")):
            axes[name] = {entry.batch_axis: "batch"}
            if entry.length_axis is not None:
                axes[name][entry.length_axis] = length
    return axes


def trace_to_onnx(model: Any, path: Path, opset: int = OPSET) -> list:
    """Trace ``model.step`` into ``path``; return the cache layout (list of ``CacheTensor``)."""
    import torch
    from midiforge.exporters.cache_layout import describe_cache, flatten_cache
    from midiforge.exporters.common import DEVICE

    from midiforge.generation.onnx_backend import INPUT_IDS, LOGITS, past_name, present_name

    layout, spec = describe_cache(model)
    with torch.no_grad():
        # a non-empty example cache and batch 2, so no dimension is specialised to 0 or 1
        example_cache = model.step(torch.zeros(2, 3, dtype=torch.long), model.init_cache(2, DEVICE))[1]
        flat, _ = flatten_cache(example_cache)
        ids = torch.zeros(2, 2, dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _step_module(model, spec),
                (ids, *flat),
                str(path),
                input_names=[INPUT_IDS] + [past_name(e.name) for e in layout],
                output_names=[LOGITS] + [present_name(e.name) for e in layout],
                dynamic_axes=_dynamic_axes(layout),
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    return layout


def embed_metadata(path: Path, metadata: dict) -> None:
    """Store the metadata JSON in the ONNX file's ``metadata_props`` (rewrites ``path`` in place)."""
    import onnx

    from midiforge.generation.onnx_backend import METADATA_KEY

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    proto.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata, default=str))
    proto.doc_string = f"midiforge {metadata['model']} incremental decoder (vocab {metadata['vocab_size']})"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def validate_onnx(path: Path, model: Any, codec: Any, tolerance: float = TOLERANCE, threads: int | None = None):
    """Run ``path`` with :class:`OnnxBackend` on real sequences; return an ``ArtifactCheck``."""
    from midiforge.exporters.validation import check_artifact

    from midiforge.generation.onnx_backend import OnnxBackend

    backend = OnnxBackend(path, threads=threads)

    def runner(prefix, nxt):
        full, state = backend.run(prefix, backend.start(prefix.shape[0]))
        return full, backend.step(nxt, state)[0]

    return check_artifact(path, runner, model, codec, tolerance, f"fp32, opset {OPSET}, onnxruntime")


def export_onnx(loaded: Any, out: Path, opset: int = OPSET, tolerance: float = TOLERANCE, checkpoint: Path | None = None):
    """Export a loaded checkpoint to ``out`` (+ ``out.json``), validate it, return an ``ExportReport``."""
    from midiforge.exporters.common import ExportReport, export_metadata, write_sidecar

    from midiforge.atomic import atomic_path

    out = Path(out)
    model = loaded.model.eval()
    with atomic_path(out) as tmp:
        layout = trace_to_onnx(model, tmp, opset)
        metadata = export_metadata(
            loaded, [e.to_dict() for e in layout], {"format": "onnx", "opset": opset, "inputs": "input_ids + past_*"}
        )
        embed_metadata(tmp, metadata)
    sidecar = write_sidecar(out.with_suffix(".json"), metadata)
    check = validate_onnx(out, model, loaded.codec, tolerance)
    return ExportReport(
        format="onnx",
        checkpoint=Path(checkpoint) if checkpoint else Path("<in memory>"),
        artifacts=[check],
        extra_paths=[sidecar],
        method="onnxruntime (CPUExecutionProvider)",
    )


@dataclass(frozen=True)
class OnnxExporter:
    name: str = "onnx"
    description: str = "ONNX incremental decoder (key/value cache in and out, dynamic batch/length) for onnxruntime"
    suffix: str = ".onnx"
    backend: str = "onnx"  # declared capability: midiforge's onnx generation backend runs these files

    def export(self, checkpoint: Path | None, out: Path, **options: Any):
        from midiforge.exporters.common import check_options, load_for_export, shipped_name

        check_options(options, {"opset", "tolerance"}, self.name)
        loaded = load_for_export(checkpoint)
        return export_onnx(loaded, out, checkpoint=checkpoint or shipped_name(), **options)


@hookimpl
def register_exporters(register) -> None:
    register(OnnxExporter())
