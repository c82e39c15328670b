"""Learning-rate schedules and the optimizer.

``cosine``: linear warm-up, then cosine decay to ``min_lr_ratio * lr`` over the whole run: the
run's length is part of its schedule. ``wsd`` (warm-up, stable, decay; Hägele et al. 2024,
"Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"): the rate stays at
its peak and falls (1 - sqrt) only over the last ``decay_steps``, so a run can be lengthened from
the state saved where its decay began, without the loss bump of a warm restart.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("cosine", "wsd")


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_stable_decay(step: int, warmup: int, total: int, decay: int, min_ratio: float) -> float:
    """Multiplier at optimizer step ``step`` (0-based): warm-up, the peak until ``total - decay``,
    then 1 - sqrt down to ``min_ratio`` at the last step."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    start = decay_start(total, decay)
    if step < start:
        return 1.0
    progress = min(1.0, (step - start + 1) / max(1, decay))
    return min_ratio + (1.0 - min_ratio) * (1.0 - math.sqrt(progress))


def decay_steps(total: int, asked: int) -> int:
    """The steps a ``wsd`` run decays over: those asked, or the last fifth of the run."""
    return min(total, asked) if asked else max(1, total // 5)


def decay_start(total: int, decay: int) -> int:
    """Optimizer steps done when the decay begins (the stable phase's last state)."""
    return max(0, total - decay)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; matrices decay, biases/norm gains do not (as in GPT-2/nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def make_scheduler(optimizer, warmup: int, total: int, min_ratio: float, schedule: str = "cosine",
                   decay: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """``decay``: wsd's decay steps, as :func:`decay_steps` resolves them."""
    if schedule == "wsd":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_stable_decay(s, warmup, total, decay, min_ratio))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, total, min_ratio))
