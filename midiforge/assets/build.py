"""Rebuild the shipped ONNX model: ``python -m midiforge.assets.build``.

Exports ``default.safetensors`` (or ``--checkpoint``) with the ONNX exporter, validates it against
PyTorch, and writes ``default.onnx`` + ``default.json`` (the codec and metadata sidecar, plus the
checkpoint's sha256 so the engine notices a stale export). The light install runs these two files
with onnxruntime alone; the checkpoint stays for training and fine-tuning. Needs ``[export]``.
Run it after every replacement of ``default.safetensors``; ``tests/test_light_install.py`` fails
while the pair is stale.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from midiforge.errors import MidiforgeError

ASSETS = Path(__file__).resolve().parent


#: The shipped export's weights: int8 MatMul weights (dynamic quantization). With the twelfth
#: schedule's weights they keep every target of the songs table and write ten songs about 25%
#: faster than float16-stored weights ("fp16": the same songs as float32); docs/default-model.md.
SHIPPED_QUANTIZE = "int8"


def build(checkpoint: Path | None = None, out_dir: Path = ASSETS, quantize: str = SHIPPED_QUANTIZE) -> list[Path]:
    """Export ``checkpoint`` into ``out_dir/default.onnx`` + ``default.json``; return the two paths."""
    from midiforge import contracts
    from midiforge.exporting.api import export_model
    from midiforge.generation.engine import DEFAULT_MODEL_NAME, DEFAULT_ONNX_NAME, file_digest

    checkpoint = Path(checkpoint or ASSETS / DEFAULT_MODEL_NAME)
    if not checkpoint.is_file():
        raise MidiforgeError(f"checkpoint not found: {checkpoint}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp:
        onnx_tmp = Path(tmp) / DEFAULT_ONNX_NAME
        exporter = contracts.exporter_for_backend("onnx")  # whichever exporter writes for that backend
        if exporter is None:
            raise MidiforgeError("no exporter plugin writes for the onnx backend (see 'midiforge plugins')")
        report = export_model(exporter.name, checkpoint, onnx_tmp, quantize=quantize)
        if not report.passed:
            raise MidiforgeError(f"the ONNX export of {checkpoint.name} failed validation "
                                 f"(max logit error {report.max_abs_err_full:.1e} > {report.tolerance:.0e})")
        sidecar_tmp = onnx_tmp.with_suffix(".json")
        meta = json.loads(sidecar_tmp.read_text())
        meta["source"] = {"file": checkpoint.name, "sha256": file_digest(checkpoint)}
        meta["validation"] = {"top1_agreement": report.artifacts[0].top1_agreement,
                              "max_abs_logit_error": report.max_abs_err_full}
        sidecar_tmp.write_text(json.dumps(meta, indent=1, default=str) + "\n")
        targets = [out_dir / DEFAULT_ONNX_NAME, out_dir / sidecar_tmp.name]
        # the sidecar last: until it names the new checkpoint the engine treats the pair as stale
        for src, dst in zip((onnx_tmp, sidecar_tmp), targets, strict=True):
            os.replace(src, dst)
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m midiforge.assets.build", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: midiforge/assets/default.safetensors")
    parser.add_argument("--out-dir", type=Path, default=ASSETS, help="default: midiforge/assets")
    parser.add_argument("--quantize", choices=["none", "int8", "fp16"], default=SHIPPED_QUANTIZE,
                        help=f"weights of the export (default: {SHIPPED_QUANTIZE})")
    args = parser.parse_args(argv)
    try:
        paths = build(args.checkpoint, args.out_dir, args.quantize)
    except MidiforgeError as exc:
        print(f"Error: {exc}")
        return 1
    for p in paths:
        print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
