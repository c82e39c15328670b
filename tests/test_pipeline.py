"""``midiforge pipeline``: the whole workflow on six small MIDI files, resumed after a stop, forced again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from midiforge.cli import main
from midiforge.errors import MidiforgeError
from midiforge.pipeline import STAGES, PipelineOptions, run_pipeline
from midiforge.training.config import TrainConfig

TINY = ["--model-opt", "d_model=32", "--model-opt", "n_layers=1", "--model-opt", "n_heads=2"]


def pipeline_args(songs: Path, out: Path, *extra: str) -> list[str]:
    return ["pipeline", str(songs), "--out", str(out), "--max-steps", "4", "--seq-len", "64",
            "--batch-size", "4", "--style", "melody", "--n-clips", "2", "--bars", "2", "--backend", "torch",
            "--workers", "1", *TINY, *extra]


def states(out: Path) -> dict:
    return json.loads((out / "stages.json").read_text())["stages"]


@pytest.mark.slow
def test_stops_after_prepare_then_resumes_then_force_reruns(songs, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(pipeline_args(songs, out, "--until", "prepare"))
    assert exit_info.value.code == 0
    first = states(out)
    assert [first[s]["status"] for s in ("analyze", "prepare")] == ["done", "done"]
    assert "train" not in first
    assert (out / "analysis" / "analysis.json").is_file()
    assert (out / "dataset" / "train.bin").is_file() and (out / "dataset" / "codec.json").is_file()
    assert first["analyze"]["summary"]["ok"] == 6
    assert first["prepare"]["summary"]["tokens"] > 0

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(pipeline_args(songs, out))
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    second = states(out)
    for stage in ("analyze", "prepare"):  # untouched: same record, same finish time
        assert second[stage] == first[stage]
    assert all(second[s]["status"] == "done" for s in STAGES)
    assert second["train"]["summary"]["steps"] == 4 and second["train"]["summary"]["resumed"] is False
    assert Path(second["train"]["outputs"]["checkpoint"]).is_file()
    generated = sorted((out / "generated").rglob("*.mid"))
    assert len(generated) == 2 == second["generate"]["summary"]["files"]
    report = json.loads((out / "evaluation" / "report.json").read_text())
    assert report["generated"]["files"] == 2 and report["reference"]["files"] == 6
    figures = second["evaluate"]["summary"]
    assert figures["perplexity"] is not None and figures["perplexity"] > 1
    assert 0 <= figures["mean_overlap_area"] <= 1
    assert "skipped" in printed and "pipeline finished" in printed

    training = TrainConfig(max_steps=4, seq_len=64, batch_size=4, model_config={"d_model": 32, "n_layers": 1, "n_heads": 2})
    same = dict(path=songs, out=out, training=training, style="melody", n_clips=2, bars=2, backend="torch", workers=1)
    third = run_pipeline(PipelineOptions(**same))
    assert [s.status for s in third.stages] == ["skipped"] * 5  # nothing left to do

    other_clips = run_pipeline(PipelineOptions(**{**same, "n_clips": 3, "bars": 3}))  # no retraining for them
    assert [s.status for s in other_clips.stages] == ["skipped"] * 3 + ["ran"] * 2
    assert len(sorted((out / "generated").rglob("*.mid"))) == 3  # the earlier clips are gone

    analysis_written = (out / "analysis" / "analysis.json").stat().st_mtime_ns
    forced = run_pipeline(PipelineOptions(**same, until="prepare", force=True))
    assert [s.status for s in forced.stages] == ["ran", "ran", "not run", "not run", "not run"]
    assert (out / "analysis" / "analysis.json").stat().st_mtime_ns > analysis_written
    assert states(out)["train"] == second["train"]  # same inputs: the trained model still counts


def test_interrupted_training_resumes_and_changed_limits_continue(songs, tmp_path, monkeypatch):
    """A crash in training leaves the stage 'failed'; the re-run resumes from last.state.pt."""
    import midiforge.training as training

    out = tmp_path / "run"
    config = TrainConfig(max_steps=6, seq_len=64, batch_size=4, model_config={"d_model": 32, "n_layers": 1, "n_heads": 2})
    options = dict(path=songs, out=out, training=config, backend="torch", workers=1, n_clips=1, bars=2)
    real_train = training.train

    def crash_after_checkpoint(config, on_step=None):
        def step(n, info):
            if n == 5:
                raise RuntimeError("power cut")

        return real_train(config.replace(checkpoint_interval=3), on_step=step)

    monkeypatch.setattr(training, "train", crash_after_checkpoint)
    with pytest.raises(RuntimeError, match="power cut"):
        run_pipeline(PipelineOptions(**options, until="train"))
    assert states(out)["train"]["status"] == "failed"
    saved = torch.load(out / "model" / "last.state.pt", weights_only=True)
    assert saved["position"]["step"] == 3

    monkeypatch.setattr(training, "train", real_train)
    resumed = run_pipeline(PipelineOptions(**options, until="train"))
    assert [s.status for s in resumed.stages[:3]] == ["skipped", "skipped", "ran"]
    summary = resumed.stage("train").summary
    assert summary["steps"] == 6 and summary["resumed"] is True and summary["stopped"] == "max_steps"
    assert states(out)["train"]["status"] == "done"
    steps = [int(row.split(",")[0]) for row in (out / "model" / "metrics.csv").read_text().splitlines()[1:]]
    assert max(steps) == 6

    longer = run_pipeline(
        PipelineOptions(**{**options, "training": config.replace(max_steps=8)}, until="train")
    )  # more steps: continue
    assert longer.stage("train").status == "ran"
    assert longer.stage("train").summary["steps"] == 8 and longer.stage("train").summary["resumed"] is True


def test_bad_source_and_options_give_one_line_errors(tmp_path, songs):
    with pytest.raises(MidiforgeError, match="not found"):
        run_pipeline(PipelineOptions(path=tmp_path / "missing", out=tmp_path / "o"))
    with pytest.raises(MidiforgeError, match="SOURCE"):
        run_pipeline(PipelineOptions(out=tmp_path / "o"))
    with pytest.raises(MidiforgeError, match="--until"):
        run_pipeline(PipelineOptions(path=songs, out=tmp_path / "o", until="deploy"))
    with pytest.raises(MidiforgeError, match="style"):
        run_pipeline(PipelineOptions(path=songs, out=tmp_path / "o", style="polka"))
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", str(songs), "--out", str(tmp_path / "o"), "--model-opt", "d_model"])
    assert exit_info.value.code == 1
