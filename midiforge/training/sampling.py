"""A plain sampling loop over ``model.step`` for the sample MIDI written during training.

midiforge.generation has the full sampler (grammar masks, key lock, ...); this one only shows how
the model sounds so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from midiforge import atomic


@torch.no_grad()
def sample_ids(
    model,
    prefix: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> list[int]:
    """Continue ``prefix`` token by token (batch 1), stopping at ``eos_id`` or the model's length."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = list(prefix)
    limit = min(max_new_tokens, model.config.max_seq_len - len(prefix))
    logits, cache = model.step(torch.tensor([prefix], device=device), model.init_cache(1, device))
    for _ in range(max(0, limit)):
        last = logits[0, -1].float() / max(temperature, 1e-5)
        if top_k:
            kth = torch.topk(last, min(top_k, last.numel())).values[-1]
            last = last.masked_fill(last < kth, float("-inf"))
        probs = torch.softmax(last, dim=-1).cpu()
        token = int(torch.multinomial(probs, 1, generator=generator))
        ids.append(token)
        if token == eos_id:
            break
        logits, cache = model.step(torch.tensor([[token]], device=device), cache)
    model.train(was_training)
    return ids


def write_sample(codec: Any, ids: list[int], path: Path) -> Path:
    """Decode ``ids`` with the codec and write a MIDI file atomically."""
    score = codec.decode(ids)
    with atomic.atomic_path(path) as tmp:
        score.dump_midi(str(tmp))
    return path
