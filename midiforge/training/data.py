"""Training data: one or more prepared datasets (same codec) as batches of (x, y) windows.

Batches are drawn from a seeded permutation per epoch, so a run is reproducible and a resumed run
continues at the exact batch it stopped before (the data position is ``(epoch, batch index)``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset

from midiforge.errors import MidiforgeError


def read_codec_dict(path: Path) -> dict[str, Any]:
    codec_file = path / "codec.json"
    if not codec_file.is_file():
        raise MidiforgeError(
            f"{path} is not a prepared dataset (no codec.json); run `midiforge prepare` first"
        )
    try:
        return json.loads(codec_file.read_text())
    except json.JSONDecodeError as exc:
        raise MidiforgeError(f"{codec_file} is not valid JSON: {exc}") from None


def role_token_counts(paths: list[str], codec_dict: dict[str, Any]) -> dict[str, int]:
    """How many notes of each role (melody, chords, bass, drums) the training split holds, counted
    by their Program tokens. Stored in the checkpoint, so generation knows whether the model ever
    saw drums (the default model's corpora have none) before asking it for a drum part."""
    import numpy as np

    from midiforge.data.codec import Codec
    from midiforge.data.dataset import TokenSplit
    from midiforge.data.vocab import ROLE_PROGRAMS

    codec = Codec.from_dict(codec_dict)
    ids = {}
    for role in ROLE_PROGRAMS:
        try:
            ids[role] = codec.program_id(role)
        except (KeyError, MidiforgeError):
            continue
    counts = dict.fromkeys(ids, 0)
    for raw in paths:
        tokens = TokenSplit(Path(raw).expanduser(), "train").tokens
        for role, idx in ids.items():
            counts[role] += int(np.count_nonzero(tokens == idx))
    return counts


def open_split(paths: list[str], split: str, seq_len: int) -> tuple[Dataset, dict[str, Any]]:
    """Concatenate ``split`` of every dataset; they must share one codec."""
    from midiforge.data.dataset import TokenDataset

    if not paths:
        raise MidiforgeError("no training data: give --data DATASET (a folder made by `midiforge prepare`)")
    parts, codec = [], None
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise MidiforgeError(f"dataset {path} not found (make one with `midiforge prepare`)")
        this = read_codec_dict(path)
        if codec is None:
            codec = this
        elif this != codec:
            raise MidiforgeError(
                f"dataset {path} was made with another codec than {paths[0]}; prepare both alike"
            )
        ds = TokenDataset(path, split, seq_len)
        if len(ds):
            parts.append(ds)
    if not parts:
        raise MidiforgeError(f"the {split} split of {', '.join(paths)} holds no sequences")
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), codec


def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> torch.Tensor:
    """This rank's shuffled example indices for ``epoch`` (every rank gets the same count)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=gen)
    per_rank = n // world
    return order[rank::world][:per_rank]


def collate(dataset: Dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(dataset[int(i)] for i in indices), strict=True)
    return torch.stack(xs), torch.stack(ys)


def batches(dataset: Dataset, indices: torch.Tensor, batch_size: int, start: int = 0) -> Iterator[tuple]:
    """(x, y) batches of ``indices`` from batch number ``start`` on; a short last batch is dropped."""
    for b in range(start, len(indices) // batch_size):
        yield collate(dataset, indices[b * batch_size : (b + 1) * batch_size])
