"""Run a CoreML ML Program on Linux, op by op, to check it numerically without a Mac.

``MLModel.predict`` only exists on macOS. The MIL program inside an ``.mlpackage`` can still be
evaluated anywhere: every coremltools op class carries ``value_inference`` (the numpy reference of
the op, which coremltools uses for constant folding). We feed each op concrete input values, call
it, and move on. The few ops without a usable ``value_inference`` (state reads/writes, ``lstm``,
``shape`` of flexible tensors, compressed-weight ``constexpr_*`` ops) are implemented here in numpy.

fp16 programs are evaluated in fp16 (values are cast to each op's declared output dtype), so the
result tracks what the device computes to within rounding order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Value = Any  # np.ndarray or numpy/python scalar


def load_program(package: str | Path) -> Any:
    """Reload the MIL program from a saved ``.mlpackage`` (works on Linux)."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    model = ct.models.MLModel(str(package), skip_model_load=True)
    spec = model.get_spec()
    return load_milproto(spec, spec.specificationVersion, file_weights_dir=model.weights_dir)


def _np_dtype(var: Any) -> Any:
    from coremltools.converters.mil.mil import types

    dtype = var.dtype if not types.is_state(var.sym_type) else var.sym_type.wrapped_type().get_primitive()
    return types.nptype_from_builtin(dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lstm(op: Any, env: dict[str, Value]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MIL ``lstm`` (single layer, forward, gate order i, f, o, g; x is [T, B, I])."""
    val = _input_getter(op, env)
    x = val("x").astype(np.float32)
    h = val("initial_h").astype(np.float32)[0] if val("initial_h").ndim == 3 else val("initial_h").astype(np.float32)
    c = val("initial_c").astype(np.float32)[0] if val("initial_c").ndim == 3 else val("initial_c").astype(np.float32)
    if op.direction.val not in ("forward", None) or op.weight_ih_back is not None:
        raise NotImplementedError("bidirectional lstm is not supported by the MIL evaluator")
    w_ih, w_hh = val("weight_ih").astype(np.float32), val("weight_hh").astype(np.float32)
    bias = val("bias").astype(np.float32) if op.bias is not None else 0.0
    hidden = h.shape[-1]
    outputs = []
    for t in range(x.shape[0]):
        gates = x[t] @ w_ih.T + h @ w_hh.T + bias
        i, f, o, g = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    seq = np.stack(outputs)
    if not op.output_sequence.val:
        seq = seq[-1:]
    return seq, h[None], c[None]


def _input_getter(op: Any, env: dict[str, Value]) -> Callable[[str], Value]:
    def get(name: str) -> Value:
        var = op.inputs[name]
        return env[var.name] if var.name in env else var.val

    return get


def _is_const(var: Any) -> bool:
    return var.op is not None and var.op.op_type == "const"


def _value_inference(op: Any, env: dict[str, Value]) -> Any:
    """Call the op's own numpy implementation with our values (and their concrete shapes) bound
    to its input vars; several ops read the input's *type* shape, which is symbolic for flexible
    inputs, so the type is made concrete too."""
    from coremltools.converters.mil.mil import types

    saved = []
    for var in op.get_flattened_inputs():
        if var.name in env and not _is_const(var):
            saved.append((var, var._sym_type, var._sym_val))
            value = env[var.name]
            if types.is_tensor(var.sym_type):
                var._sym_type = types.tensor(var.dtype, tuple(np.shape(value)))
            holder = var._sym_type()
            holder.val = value
            var._sym_val = holder
    try:
        result = op.value_inference()
    finally:
        for var, old_type, old_val in saved:
            var._sym_type, var._sym_val = old_type, old_val
    if result is None:
        raise NotImplementedError(f"value_inference of '{op.op_type}' ({op.name}) gave no value")
    return result


class MilEvaluator:
    """Evaluate the ``main`` function of a MIL program on numpy inputs, keeping CoreML states."""

    def __init__(self, program: Any) -> None:
        self.function = program.functions["main"]
        self.states: dict[str, np.ndarray] = {}
        self.special: dict[str, Callable[[Any, dict[str, Value]], Any]] = {
            "read_state": lambda op, env: env[op.input.name].copy(),
            "coreml_update_state": self._update_state,
            "lstm": _lstm,
            "shape": lambda op, env: np.array(np.shape(env[op.x.name]), dtype=np.int32),
        }

    def reset_states(self) -> None:
        """Zero every state (what ``MLModel.make_state()`` gives on a device)."""
        for name, var in self.function.inputs.items():
            if var.name in self.state_names:
                wrapped = var.sym_type.wrapped_type()
                self.states[name] = np.zeros(wrapped.get_shape(), dtype=_np_dtype(var))

    @property
    def state_names(self) -> list[str]:
        from coremltools.converters.mil.mil import types

        return [n for n, v in self.function.inputs.items() if types.is_state(v.sym_type)]

    def _update_state(self, op: Any, env: dict[str, Value]) -> np.ndarray:
        value = np.asarray(env[op.value.name] if op.value.name in env else op.value.val)
        state_name = op.state.name
        self.states[state_name] = value.astype(self.states[state_name].dtype).copy()
        env[state_name] = self.states[state_name]
        return value

    def _run_op(self, op: Any, env: dict[str, Value]) -> tuple:
        if op.op_type in self.special:
            result = self.special[op.op_type](op, env)
        elif op.op_type.startswith("constexpr_"):
            result = op.materialized_val_inference()
        else:
            result = _value_inference(op, env)
        return result if isinstance(result, tuple) else (result,)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.state_names and not self.states:
            self.reset_states()
        env: dict[str, Value] = {}
        for name, var in self.function.inputs.items():
            if name in self.state_names:
                env[var.name] = self.states[name]
            elif name in inputs:
                env[var.name] = np.asarray(inputs[name]).astype(_np_dtype(var))
            else:
                raise KeyError(f"missing input '{name}'")
        for op in self.function.operations:
            if op.op_type == "const":
                env[op.outputs[0].name] = op.outputs[0].val
                continue
            values = self._run_op(op, env)
            for var, value in zip(op.outputs, values, strict=False):
                env[var.name] = _as_declared(value, var)
        return {var.name: np.asarray(env[var.name]) for var in self.function.outputs}


def _as_declared(value: Value, var: Any) -> Value:
    """Cast to the output's declared dtype (fp16 programs compute in fp16 on the device)."""
    from coremltools.converters.mil.mil import types

    if types.is_tensor(var.sym_type) or types.is_scalar(var.sym_type):
        return np.asarray(value).astype(_np_dtype(var), copy=False)
    return value
