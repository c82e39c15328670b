"""Check a saved ``.mlpackage`` against PyTorch: ``MLModel.predict`` on macOS, MIL evaluation elsewhere.

Each variant is driven the way an app drives it (see docs/coreml.md): the stateless transformer
gets the whole sequence, the stateless LSTM gets its ``h``/``c`` back, the stateful variants get a
fresh state, the prompt, then one more token. Batch rows are run one at a time (the packages take
batch 1, as on-device decoding does).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np


class Predictor:
    """``predict(inputs) -> outputs`` over one package, with ``reset()`` for a fresh CoreML state."""

    def __init__(self, path: Path, stateful: bool) -> None:
        self.stateful = stateful
        if sys.platform == "darwin":  # pragma: no cover - exercised on macOS only
            import coremltools as ct

            self._model = ct.models.MLModel(str(path))
        else:
            from midiforge.exporters.mil_eval import MilEvaluator, load_program

            self._model = MilEvaluator(load_program(path))
        self._state = None

    def reset(self) -> None:
        if sys.platform == "darwin":  # pragma: no cover
            self._state = self._model.make_state() if self.stateful else None
        else:
            self._model.reset_states()

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if sys.platform == "darwin":  # pragma: no cover
            out = self._model.predict(inputs, state=self._state) if self.stateful else self._model.predict(inputs)
            return {k: np.asarray(v) for k, v in out.items()}
        return self._model(inputs)


def _ids(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int32)


def run_variant(predict: Predictor, variant: Any, prefix: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feed one row's prompt then one more token; return (prompt logits [P, V], next logits [V])."""
    predict.reset()
    names = [t.name for t in variant.inputs]
    if variant.kind == "stateless" and "h_in" in names:
        h = c = np.zeros(tuple(variant.example[1].shape), dtype=np.float32)
        first = predict({"input_ids": _ids(prefix), "h_in": h, "c_in": c})
        second = predict({"input_ids": _ids(nxt), "h_in": first["h_out"], "c_in": first["c_out"]})
        return first["logits"][0], second["logits"][0, -1]
    if variant.kind == "stateless":
        whole = predict({"input_ids": _ids(np.concatenate([prefix, nxt], axis=1))})["logits"][0]
        return predict({"input_ids": _ids(prefix)})["logits"][0], whole[-1]
    extra = (lambda n: {"cache_positions": _ids(np.arange(n)[None])}) if "cache_positions" in names else (lambda n: {})
    first = predict({"input_ids": _ids(prefix), **extra(prefix.shape[1])})
    second = predict({"input_ids": _ids(nxt), **extra(prefix.shape[1] + 1)})
    return first["logits"][0], second["logits"][0, -1]


def validate_package(path: Path, variant: Any, model: Any, codec: Any, tolerance: float, note: str = ""):
    from midiforge.exporting.validation import check_artifact

    predict = Predictor(path, stateful=bool(variant.states))

    def runner(prefix: np.ndarray, nxt: np.ndarray):
        rows = [run_variant(predict, variant, prefix[i : i + 1], nxt[i : i + 1]) for i in range(prefix.shape[0])]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    return check_artifact(path, runner, model, codec, tolerance, note, batch=2, length=16)
