"""analyze: per-file statistics, summary, JSON report and PNG on a folder of good and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from midiforge.cli import main
from midiforge.data.analyze import analyze, onset_polyphony
from midiforge.data.midi_io import LoadLimits
from tests.helpers.midi_files import bad_folder


def test_polyphony_counts_sounding_notes_at_onsets() -> None:
    import numpy as np

    starts = np.array([0, 0, 0, 480, 960])
    ends = np.array([960, 960, 960, 960, 1440])
    mean, peak = onset_polyphony(starts, ends)
    assert peak == 4 and mean == (3 + 4 + 1) / 3


def test_analyze_folder(tmp_path: Path) -> None:
    root = tmp_path / "midi"
    expected = bad_folder(root)
    out = tmp_path / "report"
    report = analyze(root, out=out, workers=2, limits=LoadLimits(max_mb=0.03))  # huge.mid is ~40 KB
    assert report.summary["files"] == 10 and report.summary["ok"] == 3
    by_name = {Path(f["name"]).name: f for f in report.files}
    for name, reason in expected.items():
        assert by_name[name]["reason"].startswith(reason)
    good = by_name["good1.mid"]
    assert good["tempo_bpm"] == 96.0 and good["time_signature"] == "4/4"
    assert good["notes"] == 6 * (8 + 3 + 1) and good["tracks"] == 3 and good["programs"] == [0, 33, 81]
    assert good["duration_s"] == 6 * 4 * 60 / 96
    assert 36 <= good["pitch_min"] < good["pitch_max"] <= 79
    assert good["onset_polyphony_mean"] > 2 and good["onset_polyphony_max"] == 5
    assert good["roles"] == {"melody": 1, "chords": 1, "bass": 1}
    assert good["key"] is not None
    assert report.summary["time_signatures"] == {"4/4": 3}
    assert sum(report.pitch_histogram) == sum(
        by_name[n]["notes"] for n in ("good1.mid", "good2.midi", "good3.MID")
    )
    saved = json.loads((out / "analysis.json").read_text())
    assert saved["summary"]["skipped"] == 7 and len(saved["files"]) == 10
    png = (out / "histograms.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_analyze_cli_json_and_errors(tmp_path: Path, capsys) -> None:
    root = tmp_path / "midi"
    bad_folder(root)
    code = main_exit(
        ["analyze", str(root), "--json", "--workers", "1", "--max-file-mb", "0.03", "-o", str(tmp_path / "r")]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["ok"] == 3
    assert main_exit(["analyze", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def main_exit(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.slow
def test_analyze_never_replaces_an_earlier_analysis(tmp_path: Path, capsys) -> None:
    root = tmp_path / "midi"
    bad_folder(root)
    out = tmp_path / "analysis" / "midi"
    full = analyze(root, out=out, workers=1, limits=LoadLimits(max_mb=0.03))
    before = (out / "analysis.json").read_bytes()
    assert full.outputs["json"] == str(out / "analysis.json")

    # the first three files hold a usable one (a run with none usable is an error)
    code = main_exit(["analyze", str(root), "--limit", "3", "--workers", "1", "--max-rows", "0", "-o", str(out)])
    assert code == 0
    assert (out / "analysis.json").read_bytes() == before  # the full analysis is kept
    second = json.loads((tmp_path / "analysis" / "midi-2" / "analysis.json").read_text())
    assert second["summary"]["files"] == 3
    assert "already holds an analysis" in capsys.readouterr().err

    replaced = analyze(root, out=out, limit=4, workers=1, overwrite=True)
    assert replaced.outputs["json"] == str(out / "analysis.json")
    assert json.loads((out / "analysis.json").read_text())["summary"]["files"] == 4
    assert not (tmp_path / "analysis" / "midi-3").exists()
