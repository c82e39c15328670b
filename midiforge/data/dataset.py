"""The token dataset on disk and its PyTorch reader.

::

    DATASET/
      codec.json                  the codec the tokens were made with
      meta.json                   counts, corpus, split, augmentation, skipped files
      train.bin val.bin           uint16 tokens, all sequences concatenated (memory-mapped)
      train.idx.npy val.idx.npy   int64 [n, 2]: (offset, length) of each sequence
      report.json                 per-file status and skip reasons

Sequences are whole training examples (prefix, bars, EOS), never cut by the reader except to fit
``seq_len``: a long one keeps its first ``seq_len + 1`` tokens, so the conditioning prefix is
always seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from midiforge import atomic
from midiforge.errors import MidiforgeError

SPLITS = ("train", "val")
IGNORE_INDEX = -100


class SplitWriter:
    """Streams sequences into ``<split>.bin`` / ``<split>.idx.npy``, both replaced atomically."""

    def __init__(self, folder: Path, split: str):
        self.folder, self.split = Path(folder), split
        self._bin = atomic.atomic_path(self.folder / f"{split}.bin")
        self._tmp = self._bin.__enter__()
        self._fh = open(self._tmp, "wb")
        self._index: list[tuple[int, int]] = []
        self._offset = 0

    def add(self, tokens: np.ndarray, lengths: Iterable[int]) -> None:
        """Append a block of concatenated sequences with their lengths."""
        tokens = np.asarray(tokens, dtype=np.uint16)
        for length in lengths:
            self._index.append((self._offset, int(length)))
            self._offset += int(length)
        tokens.tofile(self._fh)

    @property
    def sequences(self) -> int:
        return len(self._index)

    @property
    def tokens(self) -> int:
        return self._offset

    def close(self) -> None:
        self._fh.close()
        index = np.array(self._index, dtype=np.int64).reshape(-1, 2)
        with atomic.atomic_path(self.folder / f"{self.split}.idx.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, index)
        self._bin.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the half-written split (the previous complete one, if any, stays)."""
        self._fh.close()
        try:
            self._bin.__exit__(MidiforgeError, MidiforgeError("aborted"), None)
        except MidiforgeError:
            pass


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise MidiforgeError(f"{path} is missing: is {path.parent} a dataset made by 'midiforge prepare'?")
    return json.loads(path.read_text())


class TokenSplit:
    """Memory-mapped tokens and index of one split (no torch needed)."""

    def __init__(self, path: str | Path, split: str = "train"):
        self.path = Path(path)
        if split not in SPLITS:
            raise MidiforgeError(f"unknown split '{split}' (use train or val)")
        idx_path, bin_path = self.path / f"{split}.idx.npy", self.path / f"{split}.bin"
        if not idx_path.is_file() or not bin_path.is_file():
            raise MidiforgeError(f"no {split} split in {self.path} (run 'midiforge prepare' first)")
        self.index = np.load(idx_path)
        size = bin_path.stat().st_size
        self.tokens = np.memmap(bin_path, dtype=np.uint16, mode="r") if size else np.zeros(0, dtype=np.uint16)

    def __len__(self) -> int:
        return len(self.index)

    def sequence(self, i: int) -> np.ndarray:
        offset, length = self.index[i]
        return np.asarray(self.tokens[offset : offset + length], dtype=np.int64)


def _torch_dataset_base():
    import torch.utils.data

    return torch.utils.data.Dataset


class TokenDataset(_torch_dataset_base()):
    """``(x, y)`` LongTensor pairs of length ``seq_len``, one per stored sequence.

    ``x`` is padded with the codec's ``pad_id``; ``y`` (``x`` shifted by one) uses -100 on padding
    so the loss ignores it.
    """

    def __init__(self, path: str | Path, split: str = "train", seq_len: int = 512):
        self.split_data = TokenSplit(path, split)
        self.meta = read_json(Path(path) / "meta.json")
        self.pad_id = int(self.meta["pad_id"])
        self.seq_len = int(seq_len)

    def __len__(self) -> int:
        return len(self.split_data)

    def __getitem__(self, i: int):
        import torch

        seq = self.split_data.sequence(i)[: self.seq_len + 1]
        x = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        y = np.full(self.seq_len, IGNORE_INDEX, dtype=np.int64)
        x[: len(seq) - 1] = seq[:-1]
        y[: len(seq) - 1] = seq[1:]
        return torch.from_numpy(x), torch.from_numpy(y)

    def lengths(self) -> np.ndarray:
        """Stored sequence lengths (for length-bucketed batching)."""
        return self.split_data.index[:, 1].copy()
