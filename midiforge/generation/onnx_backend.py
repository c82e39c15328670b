"""Generation with onnxruntime: the exported incremental decoder behind the ``Backend`` interface.

Never imports torch, so ``midiforge generate --backend onnx`` works where PyTorch is not installed.
The model describes itself: its metadata (``midiforge`` key, or the ``.json`` sidecar) holds the
codec, vocabulary, generation defaults and the cache layout (which inputs carry the key/value or
recurrent state, and which of their axes are the batch and the growing length).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from midiforge.errors import MidiforgeError

METADATA_KEY = "midiforge"
INPUT_IDS, LOGITS = "input_ids", "logits"


def past_name(cache_name: str) -> str:
    return f"past_{cache_name}"


def present_name(cache_name: str) -> str:
    return f"present_{cache_name}"


def read_metadata(path: Path, session: Any = None) -> dict:
    """The exported model's metadata: from the ONNX file itself, else from the ``.json`` sidecar."""
    if session is not None:
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text:
            return json.loads(text)
    sidecar = Path(path).with_suffix(".json")
    if sidecar.exists():
        return json.loads(sidecar.read_text())
    raise MidiforgeError(f"{path} has no midiforge metadata (and no {sidecar.name} beside it); re-export it")


def session_options(threads: int | None = None) -> Any:
    """Tuned for small-batch autoregressive decoding: all graph optimizations, one op at a time."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or max(1, (os.cpu_count() or 2))
    opts.inter_op_num_threads = 1
    return opts


class OnnxBackend:
    """Runs an exported ``model.onnx`` (see :mod:`midiforge.exporters.onnx`) with onnxruntime."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - onnxruntime is a dependency
            raise MidiforgeError("the onnx backend needs onnxruntime (pip install onnxruntime)") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise MidiforgeError(f"ONNX model not found: {self.path}")
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options(threads), providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise MidiforgeError(f"cannot load ONNX model {self.path}: {exc}") from None
        self.meta = read_metadata(self.path, self.session)
        self.codec_dict: dict = self.meta["codec"]
        self.vocab_size = int(self.meta["vocab_size"])
        self.cache_layout: list[dict] = self.meta["cache"]
        self._output_names = [LOGITS] + [present_name(c["name"]) for c in self.cache_layout]
        dtypes = {"float32": np.float32, "float16": np.float16}
        self._dtypes = [dtypes[c.get("dtype", "float32")] for c in self.cache_layout]

    def start(self, batch_size: int) -> dict[str, np.ndarray]:
        """An empty cache: zero-length key/value tensors, or zero recurrent state."""
        state = {}
        for entry, dtype in zip(self.cache_layout, self._dtypes, strict=True):
            shape = [batch_size if d == "batch" else 0 if d == "length" else int(d) for d in entry["shape"]]
            state[past_name(entry["name"])] = np.zeros(shape, dtype=dtype)
        return state

    def run(self, ids: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits ``[B, T, V]`` for every fed position, and the grown cache."""
        feeds = {INPUT_IDS: np.ascontiguousarray(ids, dtype=np.int64), **state}
        logits, *present = self.session.run(self._output_names, feeds)
        new_state = {past_name(c["name"]): value for c, value in zip(self.cache_layout, present, strict=True)}
        return logits, new_state

    def step(self, ids: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        logits, state = self.run(ids, state)
        return np.ascontiguousarray(logits[:, -1], dtype=np.float32), state
