"""Check an exported model against the PyTorch model it came from, as Hugging Face optimum does.

Two checks on real token sequences (the codec's conditioning prefix followed by tokens the PyTorch
model itself generates, i.e. exactly what the exported model will see while generating):

* full sequence: every position's logits for a whole prefix fed at once (the prompt pass);
* incremental step: the logits of one more token fed with the cache returned by the first pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from midiforge.exporting.checkpoint import DEVICE

#: runner(prefix [B, P], next_ids [B, 1]) -> (logits [B, P, V] of the prefix, logits [B, V] of the next token)
Runner = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Agreement:
    max_abs_err_full: float
    max_abs_err_step: float
    top1_agreement: float  # fraction of positions whose most likely token is the same


def _prefix(codec: Any) -> list[int]:
    from midiforge.music.keys import parse_key

    return list(codec.prefix_ids("melody", parse_key("C major"), 120.0, "4_4"))


@torch.no_grad()
def validation_ids(model: Any, codec: Any, batch: int = 2, length: int = 24, seed: int = 0) -> np.ndarray:
    """``[batch, length]`` int64: the conditioning prefix, then tokens sampled from ``model``."""
    gen = torch.Generator().manual_seed(seed)
    prefix = _prefix(codec)[: length - 1]
    ids = torch.tensor([prefix] * batch, dtype=torch.long)
    logits, cache = model.step(ids, model.init_cache(batch, DEVICE))
    while ids.shape[1] < length:
        probs = torch.softmax(logits[:, -1].float(), dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        ids = torch.cat([ids, nxt], dim=1)
        logits, cache = model.step(nxt, cache)
    return ids.numpy()


@torch.no_grad()
def reference_logits(model: Any, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's full-sequence logits for ``ids[:, :-1]`` and the logits at the last position."""
    full = model(torch.from_numpy(ids)).float().numpy()
    return full[:, :-1], full[:, -1]


def compare(runner: Runner, reference: tuple[np.ndarray, np.ndarray], ids: np.ndarray) -> Agreement:
    """Run the exported model through ``runner`` and measure its distance to the PyTorch logits."""
    ref_full, ref_step = reference
    full, step = runner(ids[:, :-1], ids[:, -1:])
    full = np.asarray(full, dtype=np.float32).reshape(ref_full.shape)
    step = np.asarray(step, dtype=np.float32).reshape(ref_step.shape)
    same = np.concatenate(
        [(full.argmax(-1) == ref_full.argmax(-1)).ravel(), (step.argmax(-1) == ref_step.argmax(-1)).ravel()]
    )
    return Agreement(
        max_abs_err_full=float(np.abs(full - ref_full).max()),
        max_abs_err_step=float(np.abs(step - ref_step).max()),
        top1_agreement=float(same.mean()),
    )


def check_artifact(path: Any, runner: Runner, model: Any, codec: Any, tolerance: float, note: str,
                   **ids_options: Any) -> Any:
    """Compare an exported artifact (driven by ``runner``) with the PyTorch model on real token
    sequences and return its :class:`~midiforge.exporting.report.ArtifactCheck`."""
    from midiforge.exporting.report import ArtifactCheck, path_size

    ids = validation_ids(model, codec, **ids_options)
    agreement = compare(runner, reference_logits(model, ids), ids)
    return ArtifactCheck(
        path=path,
        size_bytes=path_size(path),
        max_abs_err_full=agreement.max_abs_err_full,
        max_abs_err_step=agreement.max_abs_err_step,
        tolerance=tolerance,
        top1_agreement=agreement.top1_agreement,
        note=note,
    )
