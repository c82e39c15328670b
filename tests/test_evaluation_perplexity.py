"""Perplexity of a tiny random checkpoint on a prepared dataset and on a folder of MIDI files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from midiforge.cli import cli
from midiforge.errors import MidiforgeError
from midiforge.evaluation import perplexity
from midiforge.evaluation.perplexity import midi_windows
from midiforge.models.checkpoint import load_checkpoint
from tests.helpers.evaluation_midi import note_list, write_midi


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ppl_midi")
    for i in range(3):
        melody = note_list([72 + (i + k) % 5 for k in range(16)])
        chords = [(48 + x, b * 4, b * 4 + 4) for b in range(4) for x in (0, 4, 7)]
        write_midi(
            root / f"song{i}.mid",
            {"Melody": melody, "Chords": chords, "Bass": [(36, b * 4, b * 4 + 4) for b in range(4)]},
        )
    return root


@pytest.fixture(scope="module")
def model_and_windows(tiny_checkpoint, midi_folder):
    loaded = load_checkpoint(tiny_checkpoint)
    return loaded, list(midi_windows(sorted(midi_folder.glob("*.mid")), loaded.codec, 1024))


def write_dataset(folder, codec, sequences):
    """A val split in the on-disk dataset format of docs/architecture.md."""
    from midiforge.data.dataset import SplitWriter

    folder.mkdir(parents=True, exist_ok=True)
    codec.save(folder / "codec.json")
    (folder / "meta.json").write_text(json.dumps({"pad_id": codec.pad_id}))
    writer = SplitWriter(folder, "val")
    writer.add(np.concatenate(sequences), [len(s) for s in sequences])
    writer.close()
    return folder


def manual_perplexity(model, windows):
    nll, count = 0.0, 0
    with torch.inference_mode():
        for x, y in windows:
            logits = model(torch.from_numpy(x)[None])[0]
            nll += float(F.cross_entropy(logits, torch.from_numpy(y), reduction="sum"))
            count += len(y)
    return math.exp(nll / count), count


def test_midi_folder_perplexity_is_exp_mean_nll(tiny_checkpoint, midi_folder, model_and_windows):
    loaded, windows = model_and_windows
    assert len(windows) >= 3  # every role view of every file
    expected, tokens = manual_perplexity(loaded.model, windows)
    result = perplexity(tiny_checkpoint, midi_folder, batch_size=4)  # batched with padding
    assert result.split == "midi" and result.tokens == tokens
    assert result.perplexity == pytest.approx(expected, rel=1e-4)
    assert result.perplexity == pytest.approx(math.exp(result.mean_nll))
    # an untrained model is about as unsure as a uniform guess over the vocabulary
    assert loaded.codec.vocab_size / 4 < result.perplexity < loaded.codec.vocab_size * 4


def test_dataset_val_split_gives_the_same_number(tiny_checkpoint, midi_folder, model_and_windows, tmp_path):
    loaded, windows = model_and_windows
    sequences = [np.append(x, y[-1]) for x, y in windows]
    dataset = write_dataset(tmp_path / "ds", loaded.codec, sequences)
    from_dataset = perplexity(tiny_checkpoint, dataset, batch_size=2)
    from_midi = perplexity(tiny_checkpoint, midi_folder)
    assert from_dataset.split == "val" and from_dataset.sequences == len(sequences)
    assert from_dataset.tokens == from_midi.tokens
    assert from_dataset.perplexity == pytest.approx(from_midi.perplexity, rel=1e-4)


def test_dataset_with_another_codec_is_refused(tiny_checkpoint, tmp_path):
    from midiforge.data.codec import Codec

    other = Codec(params={"beat_res": {(0, 4): 8, (4, 8): 4}})
    dataset = write_dataset(tmp_path / "ds", other, [np.array([other.bos_id, other.eos_id])])
    with pytest.raises(MidiforgeError, match="different codec"):
        perplexity(tiny_checkpoint, dataset)


def test_cli_perplexity_only(tiny_checkpoint, midi_folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["evaluate", "--perplexity", str(tiny_checkpoint), "--data", str(midi_folder), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["perplexity"]["perplexity"] > 1 and report["features"] == []
    missing = CliRunner().invoke(
        cli, ["evaluate", "--perplexity", str(tmp_path / "none.safetensors"), "--data", str(midi_folder)]
    )
    assert isinstance(missing.exception, MidiforgeError) and "not found" in str(missing.exception)
