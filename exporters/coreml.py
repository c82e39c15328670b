"""Built-in CoreML exporter: ML Program ``.mlpackage`` files for macOS 14 / iOS 17 and newer.

Variants (``variants=stateful,stateless``, both by default):

* ``stateful`` (iOS 18 / macOS 15): the key/value cache (transformer) or ``h``/``c`` (LSTM) live in
  CoreML states (``ct.StateType``, fp16), so each token costs one position with no cache copies.
  Written to ``OUT``.
* ``stateless`` (iOS 17 / macOS 14): transformer = whole sequence in, logits out; LSTM = token and
  ``h``/``c`` in, logits and new ``h``/``c`` out. Written to ``OUT-stateless.mlpackage`` beside the
  stateful one, or to ``OUT`` when it is the only variant asked for.

fp16 by default; ``compress=int8|palettize6|palettize4`` shrinks the weights, and the report shows
the resulting size and logit error. Every written package is reloaded and checked against PyTorch:
with ``MLModel.predict`` on macOS, elsewhere by evaluating its MIL program op by op
(:mod:`midiforge.exporters.mil_eval`). The codec, vocabulary and generation settings go into the
model's metadata (``midiforge`` key) and a ``.json`` sidecar.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midiforge.errors import MidiforgeError
from midiforge.hookspecs import hookimpl

PRECISIONS = ("fp16", "fp32")
COMPRESSIONS = ("none", "int8", "palettize6", "palettize4")
VARIANTS = ("stateful", "stateless")
#: max |logit - PyTorch logit| accepted, by precision / compression
TOLERANCES = {"fp32": 1e-3, "fp16": 0.1, "int8": 0.5, "palettize6": 1.0, "palettize4": 3.0}
#: fp32 with a stateful cache: Core ML states are fp16 only (iOS 18; coremltools refuses fp32
#: states), so every cached key/value is rounded to 11 significant bits (~5e-4 relative) and the
#: logits drift by a few 1e-3 (2.6e-3 measured on the shipped model); 1e-2 allows for that and
#: still catches a wrong graph, whose errors are of order 1.
FP32_FP16_STATE_TOLERANCE = 1e-2
IDS_DESCRIPTION = "Token ids (int32) fed this call: the prompt first, then one sampled token per call."
LOGITS_DESCRIPTION = "Next-token logits for every fed position [1, T, vocab]; sample from the last one."


@dataclass
class CoremlOptions:
    variants: tuple[str, ...] = VARIANTS
    precision: str = "fp16"
    compress: str = "none"
    max_len: int | None = None  # longest sequence (default: the model's context length)
    tolerance: float | None = None  # default from TOLERANCES

    @classmethod
    def from_kwargs(cls, **kw: Any) -> CoremlOptions:
        if isinstance(kw.get("variants"), str):
            kw["variants"] = tuple(v.strip() for v in kw["variants"].split(",") if v.strip())
        opts = cls(**kw)
        bad = [v for v in opts.variants if v not in VARIANTS] or ([] if opts.variants else ["(none)"])
        if bad:
            raise MidiforgeError(f"unknown CoreML variant(s) {', '.join(bad)} (choose from {', '.join(VARIANTS)})")
        if opts.precision not in PRECISIONS:
            raise MidiforgeError(f"precision must be one of {', '.join(PRECISIONS)}, not '{opts.precision}'")
        if opts.compress not in COMPRESSIONS:
            raise MidiforgeError(f"compress must be one of {', '.join(COMPRESSIONS)}, not '{opts.compress}'")
        return opts

    def tolerance_for(self, kind: str) -> float:
        """The asked tolerance, else the one of this precision/compression (and state, see above)."""
        if self.tolerance:
            return self.tolerance
        if self.compress != "none":
            return TOLERANCES[self.compress]
        if self.precision == "fp32" and kind == "stateful":
            return FP32_FP16_STATE_TOLERANCE
        return TOLERANCES[self.precision]


@dataclass
class Variant:
    """One traced graph and how CoreML should see it."""

    kind: str  # stateful | stateless
    module: Any
    example: tuple
    inputs: list  # ct.TensorType
    outputs: list[str]
    states: list  # ct.StateType
    target: Any
    descriptions: dict[str, str]


def _quiet():
    """coremltools logs progress bars, torch-version warnings and its own conversion errors (which
    :func:`convert_variant` reports as one line) on every conversion."""
    logging.getLogger("coremltools").setLevel(logging.CRITICAL)
    return warnings.catch_warnings()


#: what a model needs for Core ML export, said when a conversion fails
COREML_NEEDS = (
    "Core ML export needs a model whose forward(ids) traces with torch.jit.trace into ops coremltools "
    "converts (no loops or branches on tensor values); the stateful variant also needs a model that "
    "declares writes_kv_buffers (and implements step_in_buffers) or recurrent_state (an (h, c) cache)"
)


def build_variant(model: Any, kind: str, max_len: int) -> Variant:
    import coremltools as ct
    import torch
    from midiforge.exporters import coreml_graphs as graphs

    from midiforge.exporting.checkpoint import DEVICE

    ids_type = ct.TensorType("input_ids", shape=(1, ct.RangeDim(1, max_len, default=1)), dtype=np.int32)
    ids = torch.zeros(1, 2, dtype=torch.long)
    desc = {"input_ids": IDS_DESCRIPTION, "logits": LOGITS_DESCRIPTION}
    recurrent = graphs.is_recurrent(model)
    if kind == "stateless" and not recurrent:
        return Variant(kind, graphs.FullSequence(model), (ids,), [ids_type], ["logits"], [], ct.target.macOS14,
                       desc | {"input_ids": "The whole token sequence so far (int32); re-fed every step."})
    if kind == "stateless":
        h, _ = model.init_cache(1, DEVICE)
        hc = [ct.TensorType(n, shape=tuple(h.shape), dtype=np.float32) for n in ("h_in", "c_in")]
        return Variant(kind, graphs.RecurrentStep(model), (ids, h, h.clone()), [ids_type, *hc],
                       ["logits", "h_out", "c_out"], [], ct.target.macOS14,
                       desc | {"h_in": "LSTM hidden state (zeros at the start)", "c_in": "LSTM cell state (zeros at the start)",
                               "h_out": "hidden state to pass as h_in next call", "c_out": "cell state to pass as c_in next call"})
    module = graphs.StatefulRecurrent(model) if recurrent else None
    if not recurrent:
        if not graphs.supports_stateful_kv(model):
            raise MidiforgeError(f"{type(model).__name__} has no stateful Core ML graph (use -O variants=stateless). "
                                 f"{COREML_NEEDS}")
        module = graphs.StatefulTransformer(model, max_len)
    buffers = dict(module.named_buffers())
    names = ["h", "c"] if recurrent else ["key_cache", "value_cache"]
    states = [ct.StateType(wrapped_type=ct.TensorType(shape=tuple(buffers[n].shape), dtype=np.float16), name=n) for n in names]
    inputs, example = [ids_type], (ids,)
    if not recurrent:
        inputs.append(ct.TensorType("cache_positions", shape=(1, ct.RangeDim(1, max_len, default=1)), dtype=np.int32))
        example = (ids, torch.zeros(1, 5, dtype=torch.long))
        desc["cache_positions"] = "0..n-1 where n = tokens in the cache after this call (only its length is read)."
    return Variant(kind, module, example, inputs, ["logits"], states, ct.target.iOS18, desc)


def convert_variant(variant: Variant, precision: str) -> Any:
    import coremltools as ct
    import torch

    with _quiet():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(variant.module.eval(), variant.example)
            return ct.convert(
                traced,
                inputs=variant.inputs,
                outputs=[ct.TensorType(name=n) for n in variant.outputs],
                states=variant.states or None,
                minimum_deployment_target=variant.target,
                compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
                convert_to="mlprogram",
            )
        except Exception as exc:  # coremltools raises NotImplementedError, ValueError, RuntimeError...
            model = type(getattr(variant.module, "model", variant.module)).__name__
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
            raise MidiforgeError(f"Core ML cannot convert {model} ({variant.kind}): {reason}. {COREML_NEEDS}") from exc


def compress(mlmodel: Any, method: str) -> Any:
    """Weight-only compression; activations keep the model's precision."""
    import coremltools.optimize.coreml as cto

    if method == "none":
        return mlmodel
    if method == "int8":
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8"))
        return cto.linear_quantize_weights(mlmodel, config=config)
    nbits = int(method.removeprefix("palettize"))
    config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(nbits=nbits, mode="kmeans"))
    return cto.palettize_weights(mlmodel, config=config)


def describe(mlmodel: Any, variant: Variant, metadata: dict) -> None:
    """Name and describe inputs/outputs; store codec, vocabulary and generation settings."""
    mlmodel.short_description = (
        f"midiforge {metadata['model']} ({variant.kind}): next-token logits over a {metadata['vocab_size']}-token "
        "music vocabulary. Decode tokens with the vocabulary in the 'midiforge.vocab' metadata."
    )
    mlmodel.author = "midiforge"
    mlmodel.version = str(metadata.get("format_version"))
    for name, text in variant.descriptions.items():
        if name in variant.outputs:
            mlmodel.output_description[name] = text
        else:
            mlmodel.input_description[name] = text
    meta = mlmodel.user_defined_metadata
    meta["midiforge"] = json.dumps(metadata, default=str)
    meta["midiforge.vocab"] = json.dumps(metadata["vocab"])
    meta["midiforge.generation"] = json.dumps(metadata["generation"])
    meta["midiforge.special_ids"] = json.dumps(metadata["special_ids"])
    meta["midiforge.variant"] = variant.kind


def save_package(mlmodel: Any, out: Path) -> Path:
    """Save the ``.mlpackage`` directory beside ``out`` first, then move it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staged = tmp_dir / out.name
        mlmodel.save(str(staged))
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out


def variant_path(out: Path, kind: str, variants: tuple[str, ...]) -> Path:
    if kind == "stateful" or len(variants) == 1:
        return out
    return out.with_name(f"{out.stem}-{kind}{out.suffix}")


def export_coreml(loaded: Any, out: Path, checkpoint: Path | None = None, **options: Any):
    """Export every requested variant, validate each saved package, return an ``ExportReport``."""
    from midiforge.exporters.common import context_length, export_metadata, write_sidecar
    from midiforge.exporters.coreml_check import validate_package

    from midiforge.exporting.report import ExportReport

    opts = CoremlOptions.from_kwargs(**options)
    model = loaded.model.eval()
    max_len = opts.max_len or context_length(model)
    out = Path(out)
    report = ExportReport("coreml", Path(checkpoint) if checkpoint else Path("<in memory>"),
                          method="MLModel.predict" if sys.platform == "darwin" else "MIL op-by-op evaluation (numpy)")
    metadata = None
    for kind in opts.variants:
        variant = build_variant(model, kind, max_len)
        mlmodel = convert_variant(variant, opts.precision)
        uncompressed_size = None
        if opts.compress != "none":
            uncompressed_size = _package_size(mlmodel)
            with _quiet():
                warnings.simplefilter("ignore")
                mlmodel = compress(mlmodel, opts.compress)
        metadata = export_metadata(loaded, [], {"format": "coreml", "max_len": max_len, "precision": opts.precision,
                                                "compression": opts.compress, "variants": list(opts.variants)})
        describe(mlmodel, variant, metadata)
        path = save_package(mlmodel, variant_path(out, kind, opts.variants))
        note = f"{kind}, {opts.precision}" + (" (state fp16: Core ML has no fp32 state)"
                                              if kind == "stateful" and opts.precision == "fp32" else "")
        note += f", {opts.compress} (uncompressed {uncompressed_size / 1e6:.2f} MB)" if uncompressed_size else ""
        report.artifacts.append(validate_package(path, variant, model, loaded.codec, opts.tolerance_for(kind), note))
    report.extra_paths.append(write_sidecar(out.with_suffix(".json"), metadata))
    return report


def _package_size(mlmodel: Any) -> int:
    from midiforge.exporting.report import path_size

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.mlpackage"
        mlmodel.save(str(path))
        return path_size(path)


@dataclass(frozen=True)
class CoremlExporter:
    name: str = "coreml"
    description: str = "CoreML ML Program (.mlpackage): stateful KV-cache (iOS 18) and stateless (iOS 17) variants, fp16"
    suffix: str = ".mlpackage"

    def export(self, checkpoint: Path | None, out: Path, **options: Any):
        from midiforge.exporting.checkpoint import check_options, load_for_export, shipped_name

        _quiet()  # before coremltools is first imported (it warns about the torch version on import)
        check_options(options, set(CoremlOptions.__dataclass_fields__), self.name)
        CoremlOptions.from_kwargs(**options)  # fail on bad options before loading anything
        return export_coreml(load_for_export(checkpoint), out, checkpoint=checkpoint or shipped_name(), **options)


@hookimpl
def register_exporters(register) -> None:
    register(CoremlExporter())
