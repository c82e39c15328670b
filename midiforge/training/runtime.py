"""Where training runs: device choice, mixed precision and torchrun/DistributedDataParallel."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from midiforge.errors import MidiforgeError


@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_hint: str) -> Dist:
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1); gloo on CPU, nccl on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    info = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = (
            "nccl"
            if device_hint.startswith("cuda") or (device_hint == "auto" and torch.cuda.is_available())
            else "gloo"
        )
        dist.init_process_group(backend=backend)
    return info


def wait_for_all_ranks(info: Dist) -> None:
    """Meet every rank before tearing down: a rank that leaves while the main one still saves
    can have gloo abort it mid-exit ("terminate called without an active exception")."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def close_distributed(info: Dist) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def pick_device(name: str, info: Dist = Dist()) -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. Under torchrun each rank takes its local GPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", info.local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() and not info.enabled:
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MidiforgeError(f"unknown device '{name}' (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MidiforgeError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise MidiforgeError("--device mps asked for, but Apple MPS is not available")
    if device.type == "cuda" and device.index is None and info.enabled:
        device = torch.device("cuda", info.local_rank)
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype to train with, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def all_reduce_sum(values: list[float], info: Dist, device: torch.device) -> list[float]:
    """Sum a few numbers over all ranks (identity in a single process)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
