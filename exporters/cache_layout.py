"""Turn any model's cache (nested lists/tuples/dicts of tensors) into a flat, named tensor list.

Exported graphs take the cache as plain named inputs and return it as outputs, so the exporters
need to know, for every cache tensor, its name, which axis is the batch and which axis grows with
the sequence (a transformer's key/value cache) or none (an LSTM's h/c). Both are discovered by
probing the model instead of hard-coding each architecture, so third-party models export too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils import _pytree as pytree

from midiforge.errors import MidiforgeError
from midiforge.exporting.checkpoint import DEVICE


@dataclass(frozen=True)
class CacheTensor:
    """One flattened cache tensor: ``shape`` holds ints plus ``"batch"`` / ``"length"`` markers."""

    name: str  # suffix used in input/output names: past_<name> / present_<name>
    shape: tuple
    dtype: str

    @property
    def batch_axis(self) -> int:
        return self.shape.index("batch")

    @property
    def length_axis(self) -> int | None:
        return self.shape.index("length") if "length" in self.shape else None

    def to_dict(self) -> dict:
        return asdict(self) | {"shape": list(self.shape)}


def flatten_cache(cache: Any) -> tuple[list[torch.Tensor], Any]:
    leaves, spec = pytree.tree_flatten(cache)
    if not all(isinstance(t, torch.Tensor) for t in leaves):
        kinds = sorted({type(t).__name__ for t in leaves})
        raise MidiforgeError(f"cannot export a cache holding non-tensors ({', '.join(kinds)})")
    return leaves, spec


def unflatten_cache(leaves: list[torch.Tensor], spec: Any) -> Any:
    return pytree.tree_unflatten(list(leaves), spec)


def _leaf_names(cache: Any, labels: tuple[str, ...] | None) -> list[str]:
    paths = [path for path, _ in pytree.tree_flatten_with_path(cache)[0]]
    names = []
    for path in paths:
        keys = [getattr(k, "idx", getattr(k, "key", getattr(k, "name", None))) for k in path]
        if labels and len(keys) == 2 and isinstance(keys[1], int) and keys[1] < len(labels):
            names.append(f"{labels[keys[1]]}_{keys[0]}")  # per-layer pairs: key_0, value_0, ...
        elif labels and len(keys) == 1 and isinstance(keys[0], int) and keys[0] < len(labels):
            names.append(labels[keys[0]])  # one stacked pair: h, c
        else:
            names.append("_".join(str(k) for k in keys) or "state")
    return names


def _differing_axis(a: torch.Tensor, b: torch.Tensor) -> int | None:
    diff = [i for i, (x, y) in enumerate(zip(a.shape, b.shape, strict=True)) if x != y]
    return diff[0] if len(diff) == 1 else None


@torch.no_grad()
def describe_cache(model: Any) -> tuple[list[CacheTensor], Any]:
    """Probe ``model`` to find each cache tensor's batch and length axes; return layout and spec."""
    one, spec = flatten_cache(model.init_cache(1, DEVICE))
    two, _ = flatten_cache(model.init_cache(2, DEVICE))
    ids1 = torch.zeros(1, 1, dtype=torch.long)
    after1, _ = flatten_cache(model.step(ids1, model.init_cache(1, DEVICE))[1])
    after2, _ = flatten_cache(model.step(torch.zeros(1, 2, dtype=torch.long), model.init_cache(1, DEVICE))[1])
    if not (len(one) == len(two) == len(after1) == len(after2)):
        raise MidiforgeError("the model's cache changes structure while decoding; it cannot be exported")
    labels = getattr(model, "cache_labels", ("key", "value"))  # declared by the model (LSTM: h, c)
    names = _leaf_names(model.init_cache(1, DEVICE), tuple(labels))
    layout = []
    for name, a, b, s1, s2 in zip(names, one, two, after1, after2, strict=True):
        batch_axis = _differing_axis(a, b)
        if batch_axis is None:
            raise MidiforgeError(f"cache tensor '{name}' has no batch axis")
        shape: list[Any] = list(s1.shape)
        shape[batch_axis] = "batch"
        length_axis = _differing_axis(s1, s2)
        if length_axis is not None:
            shape[length_axis] = "length"
        layout.append(CacheTensor(name, tuple(shape), str(s1.dtype).removeprefix("torch.")))
    return layout, spec
