"""Generation with onnxruntime: the exported incremental decoder behind the ``Backend`` interface.

Never imports torch, so ``midiforge generate --backend onnx`` works where PyTorch is not installed.
The model describes itself: its metadata (``midiforge`` key, or the ``.json`` sidecar) holds the
codec, vocabulary, generation defaults and the cache layout (which inputs carry the key/value or
recurrent state, and which of their axes are the batch and the growing length).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from midiforge.errors import MidiforgeError

METADATA_KEY = "midiforge"
INPUT_IDS, LOGITS = "input_ids", "logits"
#: the fused decoder (exporters/onnx_fused.py): its extra inputs and the cache's first capacity
GQA, SEQLENS, TOTAL_LEN = "gqa", "seqlens_k", "total_sequence_length"
INITIAL_CAPACITY = 256


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
    """Tuned for small-batch autoregressive decoding: all graph optimizations, one op at a time.

    A decode step is a chain of tiny ops. Worker threads spin between them only while the machine
    has spare CPU (:func:`spare_cpu`): then spinning is 1.5x faster (ten songs in 9.3-9.9 s against
    14.3-14.6 s). On a busy machine (training, a DAW) spinning threads fight the other work for the
    cores, which made two threads 3x slower than one in measurements, so there they sleep.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or max(1, (os.cpu_count() or 2))
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spare_cpu() else "0")
    return opts


def spare_cpu(window_s: float = 0.05) -> bool:
    """Is there spare CPU: do other programs keep at most ``cores - 1.5`` cores busy right now?

    Measured over ``window_s`` from ``/proc/stat`` where there is one (Linux): the 1-minute load
    average still counts this program's own previous runs for a minute, so a second ``generate``
    right after the first took the sleeping path and ran 1.5x slower. Elsewhere the load average,
    this process included, must be at most ``cores - 0.5``.
    """
    cores = os.cpu_count() or 1
    busy = busy_cores(window_s)
    if busy is not None:
        return busy <= cores - 1.5
    try:
        return os.getloadavg()[0] <= cores - 0.5
    except OSError:  # no load average (Windows)
        return False


def busy_cores(window_s: float) -> float | None:
    """Cores kept busy over the next ``window_s`` seconds, from ``/proc/stat``; None without it."""
    def sample() -> tuple[int, int, int]:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
        fields = [int(x) for x in lines[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))  # the CPUs this file counts
        return sum(fields[:8]), idle, cpus  # user .. steal (guest time is already counted in user)

    try:
        total0, idle0, _ = sample()
        time.sleep(window_s)
        total1, idle1, cpus = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0 or not cpus:
        return None
    return (1 - (idle1 - idle0) / (total1 - total0)) * cpus


class OnnxCache:
    """Decoding state that stays inside onnxruntime between steps (no numpy round-trip of the cache).

    ``concat`` graphs (traced): the present values returned by one step are bound as the next
    step's past values. ``gqa`` graphs (:mod:`midiforge.exporters.onnx_fused`): preallocated
    buffers bound as both past and present, which GroupQueryAttention updates in place; they
    double in capacity when full (a rare copy), up to the model's context length. There the
    buffers hold only the rows still decoding (``rows``): a held row leaves them (see
    :meth:`OnnxBackend.hold`), while ``lengths`` and the logits keep the caller's whole batch.
    """

    def __init__(self, values: dict[str, Any], batch: int, buffers: dict[str, np.ndarray] | None = None) -> None:
        self.values = values  # past name -> OrtValue
        self.buffers = buffers  # gqa: past name -> the numpy memory behind the OrtValue
        self.batch = batch
        self.length = 0  # tokens already in the cache (the longest computed row's)
        self.lengths = np.zeros(batch, np.int64)  # gqa: each row's own length (rows may differ)
        self.held: np.ndarray | None = None  # gqa: rows that stopped growing (see OnnxBackend.hold)
        self.rows = np.arange(batch)  # gqa: the caller's rows that the buffers hold, in order

    def __getitem__(self, name: str) -> np.ndarray:
        """The cache tensor ``name`` as numpy (for inspection; trimmed to the filled length; a gqa
        cache holds the rows in ``rows`` only)."""
        if self.buffers is not None:
            return self.buffers[name][:, :, : self.length]
        return self.values[name].numpy()


class OnnxBackend:
    """Runs an exported ``model.onnx`` (see :mod:`midiforge.exporters.onnx`) with onnxruntime."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - onnxruntime is a dependency
            raise MidiforgeError("the onnx backend needs onnxruntime (pip install onnxruntime)") from None
        self._ort = ort
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
        self.decoder: str = self.meta.get("decoder", "concat")  # "gqa": fused attention, shared buffers
        self.context = int(self.meta.get("context_length") or 0)
        dtypes = {"float32": np.float32, "float16": np.float16}
        self._dtypes = [dtypes[c.get("dtype", "float32")] for c in self.cache_layout]
        self._names = [c["name"] for c in self.cache_layout]

    def start(self, batch_size: int) -> OnnxCache:
        """An empty cache: zero-length key/value tensors (or buffers to fill), or zero recurrent state."""
        capacity = min(self.context or INITIAL_CAPACITY, INITIAL_CAPACITY) if self.decoder == GQA else 0
        arrays = {}
        for entry, dtype in zip(self.cache_layout, self._dtypes, strict=True):
            shape = [batch_size if d == "batch" else 0 if d == "length" else capacity if d == "capacity" else int(d)
                     for d in entry["shape"]]
            arrays[past_name(entry["name"])] = np.zeros(shape, dtype=dtype)
        values = {name: self._ort.OrtValue.ortvalue_from_numpy(a) for name, a in arrays.items()}
        return OnnxCache(values, batch_size, arrays if self.decoder == GQA else None)

    def run(self, ids: np.ndarray, state: OnnxCache) -> tuple[np.ndarray, OnnxCache]:
        """Logits ``[B, T, V]`` for every fed position; ``state`` now holds the fed tokens too."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        grow = ids.shape[1] if state.held is None else np.where(state.held, 0, ids.shape[1])
        return self._run(ids, state, state.lengths + grow)

    def _run(self, ids: np.ndarray, state: OnnxCache, lengths: np.ndarray) -> tuple[np.ndarray, OnnxCache]:
        """Feed ``ids``; afterwards row b's cache holds ``lengths[b]`` tokens (gqa decoders count
        each row on its own, so right-padded rows of a ragged prompt are ignored)."""
        rows = state.rows if self.decoder == GQA and len(state.rows) < len(ids) else None
        fed_ids, fed_lengths = (ids, lengths) if rows is None else (ids[rows], lengths[rows])
        total = int(fed_lengths.max()) if self.decoder == GQA else state.length + ids.shape[1]
        binding = self.session.io_binding()
        binding.bind_cpu_input(INPUT_IDS, fed_ids)
        binding.bind_output(LOGITS)
        if self.decoder == GQA:
            self._ensure_capacity(state, total)
            binding.bind_cpu_input(SEQLENS, (fed_lengths - 1).astype(np.int32))
            binding.bind_cpu_input(TOTAL_LEN, np.asarray(total, np.int32))
        for name in self._names:
            binding.bind_ortvalue_input(past_name(name), state.values[past_name(name)])
            if self.decoder == GQA:  # written in place
                binding.bind_ortvalue_output(present_name(name), state.values[past_name(name)])
            else:
                binding.bind_output(present_name(name))
        self.session.run_with_iobinding(binding)
        logits, *present = binding.get_outputs()
        if self.decoder != GQA:
            state.values = {past_name(n): v for n, v in zip(self._names, present, strict=True)}
        state.length, state.lengths = total, np.asarray(lengths, np.int64)
        if rows is None:
            return logits.numpy(), state
        whole = np.zeros((len(ids),) + tuple(logits.shape()[1:]), np.float32)  # held rows: zeros
        whole[rows] = logits.numpy()
        return whole, state

    def step(self, ids: np.ndarray, state: OnnxCache) -> tuple[np.ndarray, OnnxCache]:
        logits, state = self.run(ids, state)
        return np.ascontiguousarray(logits[:, -1], dtype=np.float32), state

    @property
    def ragged_prefill(self) -> bool:
        """Can :meth:`prefill` feed prompts of different lengths in one call? (fused decoders)"""
        return self.decoder == GQA

    def hold(self, state: OnnxCache, rows: np.ndarray) -> None:
        """Rows that are finished stop growing, and leave the batch onnxruntime computes (for good:
        a held row stays held).

        A finished row would otherwise outgrow the window before the others end, and it would
        still cost its share of every step: above batch 5 a step's time grows with its rows, and
        in a batch of songs the sparse ones finish a phrase long before the densest one (the
        rounds of ten songs were 69-89% full). While any row is live, what a held row is still fed
        is ignored and its logits are zeros."""
        if self.decoder != GQA:
            return
        held = np.asarray(rows, bool)
        state.held = held.copy() if state.held is None else state.held | held
        keep = ~state.held[state.rows]
        if keep.all() or not keep.any():
            return
        live = np.nonzero(keep)[0]
        for name, buffer in state.buffers.items():  # the live rows move up, in place, filled part only
            for to, row in enumerate(live):
                if to != row:
                    buffer[to, :, : state.length] = buffer[row, :, : state.length]
            state.buffers[name] = buffer[: len(live)]  # a leading slice: still contiguous
            state.values[name] = self._ort.OrtValue.ortvalue_from_numpy(state.buffers[name])
        state.rows = state.rows[keep]

    def prefill(self, prompts: list[list[int]], state: OnnxCache) -> tuple[np.ndarray, OnnxCache]:
        """Feed a fresh cache every row's whole prompt in one call (right-padded, each row attending
        to its own tokens only) and return each row's last-position logits ``[B, V]``."""
        lengths = np.asarray([len(p) for p in prompts], np.int64)
        ids = np.zeros((len(prompts), int(lengths.max())), np.int64)
        for row, prompt in enumerate(prompts):
            ids[row, : len(prompt)] = prompt
        logits, state = self._run(ids, state, lengths)
        last = logits[np.arange(len(prompts)), lengths - 1]
        return np.ascontiguousarray(last, dtype=np.float32), state

    def _ensure_capacity(self, state: OnnxCache, total: int) -> None:
        """Grow the shared buffers (doubling) so ``total`` tokens fit; refuse beyond the context."""
        if self.context and total > self.context:
            raise MidiforgeError(f"the sequence ({total} tokens) is longer than the model's context ({self.context})")
        assert state.buffers is not None
        capacity = next(iter(state.buffers.values())).shape[2]
        if total <= capacity:
            return
        capacity = max(capacity, 1)
        while capacity < total:
            capacity *= 2
        capacity = min(capacity, self.context) if self.context else capacity
        for name, old in state.buffers.items():
            new = np.zeros(old.shape[:2] + (capacity,) + old.shape[3:], old.dtype)
            new[:, :, : state.length] = old[:, :, : state.length]
            state.buffers[name] = new
            state.values[name] = self._ort.OrtValue.ortvalue_from_numpy(new)
