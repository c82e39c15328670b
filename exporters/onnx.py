"""Built-in ONNX exporter: one incremental decoder graph with the cache as inputs and outputs.

Graph (dynamic batch, sequence and cache length)::

    input_ids [batch, seq] int64, past_<cache> ...  ->  logits [batch, seq, vocab], present_<cache> ...

Feeding a zero-length key/value cache makes the same graph the full-sequence (prompt) pass, so one
file serves both and :class:`midiforge.generation.onnx_backend.OnnxBackend` needs nothing else.
Exported with the TorchScript exporter (``dynamo=False``: the dynamo one needs onnxscript) at
opset 17, the first with a fused ``LayerNormalization`` op; onnxruntime >= 1.14 runs it fully.
The codec, vocabulary, cache layout and generation defaults go into the model's
``metadata_props`` (key ``midiforge``) and into a ``.json`` sidecar beside it.

The rotary music-transformer gets a faster, hand-built graph instead (``attention=fused``, the
default for it; see :mod:`midiforge.exporters.onnx_fused`): onnxruntime's GroupQueryAttention with
preallocated cache buffers updated in place. ``attention=plain`` keeps the traced graph.
``quantize=int8`` stores the MatMul weights as int8 (dynamic quantization, ~4x smaller; activations
are quantized per call, so results move slightly). ``quantize=fp16`` stores the weights as float16
and computes in float32 (onnxruntime folds the casts when it loads the file): half the size, the
same speed, logits within a few hundredths of float32.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midiforge.hookspecs import hookimpl

OPSET = 17
TOLERANCE = 1e-4  # fp32 export: max abs logit difference allowed vs PyTorch
INT8_TOLERANCE = 1.0  # int8 weights: logits move by a few tenths; top-1 agreement is the real check
FP16_TOLERANCE = 0.1  # float16-stored weights: logits move by hundredths
ATTENTION = ("auto", "fused", "plain")
QUANTIZE = ("none", "int8", "fp16")
TOLERANCES = {"none": TOLERANCE, "int8": INT8_TOLERANCE, "fp16": FP16_TOLERANCE}


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

    from midiforge.exporting.checkpoint import DEVICE
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
    from midiforge.exporting.validation import check_artifact
    from midiforge.generation.onnx_backend import OnnxBackend

    backend = OnnxBackend(path, threads=threads)

    def runner(prefix, nxt):
        full, state = backend.run(prefix, backend.start(prefix.shape[0]))
        return full, backend.step(nxt, state)[0]

    precision = {"int8": "int8 weights", "fp16": "fp16 weights, fp32 compute"}.get(backend.meta.get("quantize"), "fp32")
    note = f"{precision}, {backend.decoder} attention, opset {backend.meta.get('opset', OPSET)}, onnxruntime"
    return check_artifact(path, runner, model, codec, tolerance, note)


def write_graph(model: Any, path: Path, opset: int, attention: str) -> tuple[list[dict], dict]:
    """Write the decoder graph of ``model`` to ``path``; return its cache layout and metadata extras.

    ``attention``: ``fused`` (GroupQueryAttention with preallocated cache buffers, the rotary
    music-transformer only), ``plain`` (the traced graph, any model) or ``auto`` (fused when possible).
    """
    from midiforge.exporters import onnx_fused

    from midiforge.errors import MidiforgeError
    from midiforge.generation.onnx_backend import GQA

    if attention not in ATTENTION:
        raise MidiforgeError(f"attention must be one of {', '.join(ATTENTION)}, not '{attention}'")
    fused = attention == "fused" or (attention == "auto" and onnx_fused.supports(model))
    if fused and not onnx_fused.supports(model):
        raise MidiforgeError("attention=fused needs a rotary music-transformer; use attention=plain")
    if fused:
        return onnx_fused.write_graph(model, path, opset), {"decoder": GQA, "inputs": "input_ids + past_* + seqlens"}
    layout = [e.to_dict() for e in trace_to_onnx(model, path, opset)]
    return layout, {"inputs": "input_ids + past_*"}


def quantize_int8(path: Path) -> None:
    """Dynamic int8 quantization of every MatMul weight (activations quantized per call), in place.

    The weights use 7 bits (``reduce_range``) with a scale per output channel: x86 CPUs without
    VNNI multiply uint8 activations by int8 weights in pairs summed into int16 (``vpmaddubsw``),
    which saturates with full 8-bit weights and would make the file's songs differ from CPU to CPU
    (far beyond float kernels' last-bit differences); with 7 bits the sum always fits. The
    per-channel scales win the precision back: on held-out arrangements the top-1 agreement with
    float32 is 99.4% (8-bit, per tensor: 99.1%)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name(path.stem + ".fp32.onnx")
    path.replace(tmp)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's "consider pre-processing" advice is for CNNs
    try:
        quantize_dynamic(str(tmp), str(path), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True, reduce_range=True, extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)


def store_fp16(path: Path, min_size: int = 1024) -> None:
    """Store every float32 weight of ``min_size`` values or more as float16, read back through a
    ``Cast`` to float32 (folded into float32 weights when onnxruntime loads the file), in place."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load(str(path))
    graph = proto.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < min_size:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}_cast"))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(proto, str(path))


def export_onnx(loaded: Any, out: Path, opset: int = OPSET, tolerance: float | None = None,
                checkpoint: Path | None = None, attention: str = "auto", quantize: str = "none"):
    """Export a loaded checkpoint to ``out`` (+ ``out.json``), validate it, return an ``ExportReport``."""
    from midiforge.exporters.common import export_metadata, write_sidecar

    from midiforge.atomic import atomic_path
    from midiforge.errors import MidiforgeError
    from midiforge.exporting.report import ExportReport

    if quantize not in QUANTIZE:
        raise MidiforgeError(f"quantize must be one of {', '.join(QUANTIZE)}, not '{quantize}'")
    if tolerance is None:
        tolerance = TOLERANCES[quantize]
    out = Path(out)
    model = loaded.model.eval()
    with atomic_path(out) as tmp:
        layout, extra = write_graph(model, tmp, opset, attention)
        if quantize == "int8":
            quantize_int8(tmp)
        elif quantize == "fp16":
            store_fp16(tmp)
        metadata = export_metadata(loaded, layout, {"format": "onnx", "opset": opset, "quantize": quantize, **extra})
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
        from midiforge.exporting.checkpoint import check_options, load_for_export, shipped_name

        check_options(options, {"opset", "tolerance", "attention", "quantize"}, self.name)
        loaded = load_for_export(checkpoint)
        return export_onnx(loaded, out, checkpoint=checkpoint or shipped_name(), **options)


@hookimpl
def register_exporters(register) -> None:
    register(OnnxExporter())
