"""Validation perplexity of a checkpoint: exp(mean next-token negative log-likelihood).

The held-out data is either a prepared dataset folder (its ``val`` split, via
:class:`midiforge.data.dataset.TokenDataset`) or a folder of MIDI files tokenized with the
checkpoint's own codec. A dataset made with a different codec is refused: its token ids would
mean other things to the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midiforge.errors import MidiforgeError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class PerplexityResult:
    checkpoint: str
    data: str
    split: str  # "val" for a dataset, "midi" for a folder of MIDI files
    sequences: int
    tokens: int
    mean_nll: float  # nats per token
    perplexity: float
    seq_len: int


def is_dataset_dir(path: Path) -> bool:
    return path.is_dir() and (path / "codec.json").is_file()


def _dataset_windows(path: Path, split: str, seq_len: int, codec) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from midiforge.data.codec import Codec
    from midiforge.data.dataset import TokenDataset

    if Codec.load(path / "codec.json").fingerprint() != codec.fingerprint():
        raise MidiforgeError(
            f"dataset {path} was made with a different codec than the checkpoint; "
            "evaluate on a folder of MIDI files instead, or prepare the data with the checkpoint's codec"
        )
    dataset = TokenDataset(path, split, seq_len)
    if len(dataset) == 0:
        raise MidiforgeError(f"dataset {path} has no '{split}' sequences")
    for index in range(len(dataset)):
        x, y = dataset[index]
        yield np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)


def midi_windows(files: Iterable[Path], codec, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(x, y) windows of MIDI files tokenized as ``midiforge prepare`` does (every role view,
    bar-aligned segments that repeat the conditioning prefix), without augmentation.
    Files the codec cannot use are skipped."""
    from midiforge.data.encoding import encode_piece
    from midiforge.data.examples import segment
    from midiforge.data.midi_io import BadMidi, load_score
    from midiforge.data.roles import find_roles, views_for

    for path in files:
        try:
            score = load_score(path)
            roles = find_roles(score)
            piece = encode_piece(codec, score, roles, views_for(roles))
            segments = [seg for ids in piece.views.values() for seg in segment(codec, ids, seq_len + 1)]
        except (BadMidi, MidiforgeError, ValueError, RuntimeError):
            continue
        for seg in segments:
            ids = np.asarray(seg, dtype=np.int64)
            if len(ids) > 1:
                yield ids[:-1], ids[1:]


def _batches(windows: Iterable[tuple[np.ndarray, np.ndarray]], batch_size: int, pad_id: int):
    batch: list[tuple[np.ndarray, np.ndarray]] = []
    for window in windows:
        batch.append(window)
        if len(batch) == batch_size:
            yield _collate(batch, pad_id)
            batch = []
    if batch:
        yield _collate(batch, pad_id)


def _collate(batch, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(x) for x, _ in batch)
    xs = np.full((len(batch), width), pad_id, dtype=np.int64)
    ys = np.full((len(batch), width), IGNORE_INDEX, dtype=np.int64)
    for row, (x, y) in enumerate(batch):
        xs[row, : len(x)] = x
        ys[row, : len(y)] = y
    return xs, ys


def perplexity(
    checkpoint: str | Path,
    data: str | Path,
    *,
    seq_len: int | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    progress=None,
) -> PerplexityResult:
    """Perplexity of ``checkpoint`` on a prepared dataset's val split or a folder of MIDI files."""
    import torch
    import torch.nn.functional as F

    from midiforge.evaluation.pieces import resolve_midi_files
    from midiforge.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint, device=device)
    model, codec = loaded.model, loaded.codec
    if isinstance(codec, dict):
        raise MidiforgeError(f"checkpoint {checkpoint} has no usable codec to tokenize the data with")
    seq_len = int(seq_len or getattr(model.config, "max_seq_len", 1024))
    data = Path(data)
    if is_dataset_dir(data):
        split, windows = "val", _dataset_windows(data, "val", seq_len, codec)
    else:
        split, windows = "midi", midi_windows(resolve_midi_files(data, "--data"), codec, seq_len)
    total_nll, total_tokens, sequences = 0.0, 0, 0
    task = progress.add_task("perplexity", total=None, info="") if progress is not None else None
    with torch.inference_mode():
        for xs, ys in _batches(windows, batch_size, codec.pad_id):
            x, y = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)
            logits = model(x).float()
            nll = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                y.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total_nll += float(nll)
            total_tokens += int((y != IGNORE_INDEX).sum())
            sequences += len(xs)
            if task is not None:
                progress.update(
                    task, advance=len(xs), info=f"ppl {np.exp(total_nll / max(total_tokens, 1)):.2f}"
                )
    if total_tokens == 0:
        raise MidiforgeError(f"{data}: no tokens to evaluate the checkpoint on")
    mean_nll = total_nll / total_tokens
    return PerplexityResult(
        str(checkpoint), str(data), split, sequences, total_tokens, mean_nll, float(np.exp(mean_nll)), seq_len
    )
