"""Worker processes that die never hang a run: prepare, analyze and run_jobs notice, retry once,
then report the file and finish."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from midiforge.data import analyze as analyze_mod
from midiforge.data import prepare as prepare_mod
from midiforge.data.workers import WorkerDied, run_jobs
from midiforge.errors import MidiforgeError
from tests.helpers.midi_files import write_song as _write_song
from tests.test_data_prepare import _options

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tests patch forked workers")


@pytest.fixture(autouse=True)
def deadline():
    """A hang fails the test after 60 s instead of stalling the suite."""

    def hung(signum, frame):
        raise TimeoutError("hung: a dead worker was not noticed")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _square_or_die(job: int) -> int:
    if job == 3:
        os._exit(7)
    if job == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return job * job


def _fails(job: int) -> int:
    if job == 2:
        raise ValueError("a bug")
    return job


def test_run_jobs_reports_dead_workers_and_finishes() -> None:
    results = dict(run_jobs(_square_or_die, list(range(8)), workers=2))
    assert sorted(results) == list(range(8))
    assert results[3] == WorkerDied(7) and "exit code 7" in results[3].reason
    assert results[5] == WorkerDied(-signal.SIGKILL) and "signal 9" in results[5].reason
    assert {k: v for k, v in results.items() if k not in (3, 5)} == {i: i * i for i in (0, 1, 2, 4, 6, 7)}


def test_run_jobs_reraises_a_bug_in_the_job() -> None:
    with pytest.raises(RuntimeError, match="ValueError: a bug"):
        list(run_jobs(_fails, list(range(5)), workers=2))


def _broken_setup() -> None:
    raise ImportError("no such codec")


def test_a_failing_worker_set_up_stops_the_run_with_its_reason() -> None:
    with pytest.raises(RuntimeError, match="worker set-up failed: ImportError: no such codec"):
        list(run_jobs(_square_or_die, list(range(4)), workers=2, initializer=_broken_setup))


def _killer_folder(root: Path) -> Path:
    for i in range(4):
        _write_song(root / f"good{i}.mid", 6, i)
    _write_song(root / "killer.mid", 6, 9)
    return root


def test_prepare_finishes_when_a_worker_dies_on_a_file(tmp_path, monkeypatch) -> None:
    real = prepare_mod.process_file

    def dies_on_killer(codec, path, options, roles_map):
        if path.name == "killer.mid":
            os._exit(1)  # as if the OOM killer took the worker
        return real(codec, path, options, roles_map)

    monkeypatch.setattr(prepare_mod, "process_file", dies_on_killer)  # forked workers inherit it
    root = _killer_folder(tmp_path / "midi")
    out = tmp_path / "ds"
    summary = prepare_mod.prepare_dataset(out, path=root, options=_options(), workers=2)
    assert summary.prepared == 4 and summary.skipped == 1
    assert summary.skip_reasons == {"worker process died (exit code 1)": 1}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["skipped"] == {"killer.mid": "worker process died (exit code 1)"}

    monkeypatch.setattr(prepare_mod, "process_file", real)  # the next run tries the file again
    stale = next((out / ".work").iterdir()) / ".abc.npz.x1.tmp"  # as a kill during a write leaves it
    stale.write_bytes(b"")
    again = prepare_mod.prepare_dataset(out, path=root, options=_options(), workers=2)
    assert again.prepared == 5 and again.resumed == 4
    assert not list(out.rglob("*.tmp"))


def test_prepare_retries_a_file_whose_worker_was_killed_once(tmp_path, monkeypatch) -> None:
    real = prepare_mod.process_file
    marker = tmp_path / "killed-once"

    def killed_once(codec, path, options, roles_map):
        if path.name == "killer.mid" and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(codec, path, options, roles_map)

    monkeypatch.setattr(prepare_mod, "process_file", killed_once)
    summary = prepare_mod.prepare_dataset(
        tmp_path / "ds", path=_killer_folder(tmp_path / "midi"), options=_options(), workers=2
    )
    assert marker.exists() and summary.prepared == 5 and summary.skipped == 0


def test_analyze_finishes_when_a_worker_dies_on_a_file(tmp_path, monkeypatch) -> None:
    real = analyze_mod.file_stats

    def dies_on_killer(path, roles_map, limits):
        if path.name == "killer.mid":
            os._exit(1)
        return real(path, roles_map, limits)

    monkeypatch.setattr(analyze_mod, "file_stats", dies_on_killer)
    report = analyze_mod.analyze(_killer_folder(tmp_path / "midi"), workers=2)
    assert report.summary["ok"] == 4
    assert report.summary["skip_reasons"] == {"worker process died (exit code 1)": 1}
    assert [f["name"] for f in report.files] == sorted(f["name"] for f in report.files)  # input order


def test_prepare_of_only_bad_files_is_an_error_and_writes_no_dataset(tmp_path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "empty.mid").write_bytes(b"")
    (root / "notes.mid").write_text("not MIDI")
    _write_song(root / "drums.mid", 4, 1, drums_only=True)
    out = tmp_path / "ds"
    with pytest.raises(MidiforgeError, match=r"no file could be prepared \(.*empty file.*\); no dataset written") as info:
        prepare_mod.prepare_dataset(out, path=root, options=_options(), workers=1)
    assert "\n" not in str(info.value)
    assert not (out / "meta.json").exists() and not list(out.glob("*.bin"))
