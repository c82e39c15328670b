"""prepare on a folder of good and bad files (made here): every bad file is skipped with its
reason, every good file is prepared, a re-run resumes, and the dataset reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from midiforge.data.dataset import IGNORE_INDEX, TokenDataset, TokenSplit
from midiforge.data.prepare import PrepareOptions, prepare_dataset
from midiforge.errors import MidiforgeError
from tests.helpers.midi_files import bad_folder as make_bad_folder


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("midi")
    return root, make_bad_folder(root)


def _options() -> PrepareOptions:
    # huge.mid is ~40 KB; the good files are far below the 30 KB limit
    return PrepareOptions(
        max_seq_len=128, transpose_low=-1, transpose_high=1, infill_prob=0.5, max_file_mb=0.03
    )


def test_bad_files_are_skipped_with_reasons_and_good_ones_prepared(bad_folder, tmp_path) -> None:
    root, expected = bad_folder
    out = tmp_path / "ds"
    summary = prepare_dataset(out, path=root, options=_options(), workers=2)
    assert summary.files == 10
    assert summary.prepared == 3 and summary.skipped == 7
    assert sum(summary.skip_reasons.values()) == 7
    report = {Path(f["name"]).name: f for f in json.loads((out / "report.json").read_text())["files"]}
    for name, reason in expected.items():
        assert report[name]["status"] == "skipped"
        assert report[name]["reason"].startswith(reason), (name, report[name]["reason"])
    for name in ("good1.mid", "good2.midi", "good3.MID"):
        assert report[name]["status"] == "ok" and report[name]["sequences"] > 0
    assert summary.split_files == {"train": 2, "val": 1}  # split by file
    assert summary.tokens["train"] > 0 and summary.sequences["val"] > 0
    meta = json.loads((out / "meta.json").read_text())
    assert set(meta["skipped"]) == {n for n in expected} and meta["vocab_size"] == summary.vocab_size

    again = prepare_dataset(out, path=root, options=_options(), workers=1)
    assert again.resumed == 10 and again.tokens == summary.tokens and again.sequences == summary.sequences


def test_dataset_reads_back_as_training_windows(bad_folder, tmp_path) -> None:
    root, _ = bad_folder
    out = tmp_path / "ds"
    summary = prepare_dataset(out, path=root, options=_options(), workers=1)
    split = TokenSplit(out, "train")
    assert (
        len(split) == summary.sequences["train"] and int(split.index[:, 1].sum()) == summary.tokens["train"]
    )
    meta = json.loads((out / "meta.json").read_text())
    first = split.sequence(0)
    assert first[0] == meta["bos_id"] and len(first) <= 128
    data = TokenDataset(out, "train", seq_len=160)
    x, y = data[0]
    n = len(first) - 1
    assert x.shape == y.shape == (160,)
    assert x[:n].tolist() == first[:-1].tolist() and y[:n].tolist() == first[1:].tolist()
    assert (x[n:] == meta["pad_id"]).all() and (y[n:] == IGNORE_INDEX).all()
    # infilling examples are part of the data
    from midiforge.data.codec import Codec

    codec = Codec.load(out)
    infill_start = codec.id("Infill_Start")
    assert any(infill_start in split.sequence(i) for i in range(len(split)))


def test_missing_path_and_bad_options_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(MidiforgeError, match="no such file or folder"):
        prepare_dataset(tmp_path / "ds", path=tmp_path / "nope")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(MidiforgeError, match="no MIDI files"):
        prepare_dataset(tmp_path / "ds", path=tmp_path / "empty_dir")
    with pytest.raises(MidiforgeError, match="infill-prob"):
        prepare_dataset(tmp_path / "ds", path=tmp_path, options=PrepareOptions(infill_prob=2.0))
    with pytest.raises(MidiforgeError, match="unknown corpus"):
        prepare_dataset(tmp_path / "ds", corpus="no-such-corpus")
