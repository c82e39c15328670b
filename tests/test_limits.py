"""Oversize requests get a one-line error within seconds (docs/limits.md); long ones show progress."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from midiforge.cli import cli
from midiforge.cli.common import run_cli
from midiforge.limits import MAX_BARS


@pytest.fixture(scope="module")
def big_midi(tmp_path_factory) -> Path:
    """A 20 MB file with a valid MIDI header."""
    path = tmp_path_factory.mktemp("big") / "big song.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0" + b"\x00" * (20 * 1024 * 1024))
    return path


def _one_line_error(capsys, argv: list[str]) -> str:
    started = time.monotonic()
    code = run_cli(cli, argv)
    seconds = time.monotonic() - started
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert seconds < 10, f"{argv} took {seconds:.1f} s to refuse"
    assert err.startswith("Error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "args, expected",
    [
        (["generate", "melody", "--bars", "10000"], "10,000 bars; the limit is 256 bars"),
        (["generate", "harmonic", "--seconds", "100000"], "50,000 bars; the limit is 256 bars"),
        (["generate", "harmonic", "--section-bars", "100", "--sections", "AABA"], "400 bars"),
        (["generate", "melody", "--bars", "0"], "--bars must be at least 1"),
        (["generate", "melody", "--seconds", "-1"], "--seconds must be positive"),
    ],
)
def test_oversize_lengths_are_refused_at_once(capsys, tmp_path, args, expected):
    err = _one_line_error(capsys, [*args, "--out", str(tmp_path)])
    assert expected in err
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "melody", "--prompt", "{big}"],
        ["infill", "{big}", "--bars", "1-2"],
        ["vary", "{big}"],
        ["evaluate", "{big}", "-r", "{big}"],
    ],
)
def test_a_20_mb_input_is_refused_at_once(capsys, big_midi, tmp_path, args):
    argv = [a.format(big=big_midi) for a in args] + ["--out", str(tmp_path / "out")]
    if args[0] == "infill" or args[0] == "vary":
        argv[-1] = str(tmp_path / "out.mid")
    err = _one_line_error(capsys, argv)
    assert "20.0 MB; the limit is 8 MB" in err


def test_the_limit_itself_is_accepted_and_long_requests_count_bars(tiny_checkpoint, tmp_path):
    """A request at the limit passes the check; the progress listener sees every bar and does not
    change the music."""
    from midiforge.cli.generate_cmd import BarCounter
    from midiforge.generation import SamplingConfig, StyleOptions, generate
    from midiforge.limits import check_request

    check_request(StyleOptions(bars=MAX_BARS))
    check_request(StyleOptions(seconds=MAX_BARS * 2.0, tempo=120))  # 2 s per 4/4 bar at 120 bpm

    class FakeBar:
        def __init__(self):
            self.total, self.done = None, 0

        def add_task(self, description, total, info):
            return 0

        def update(self, task, total):
            self.total = total

        def advance(self, task, n):
            self.done += n

    def run(out: Path, listener):
        options = StyleOptions(n=2, bars=3, key="C major", sampling=SamplingConfig(seed=4), listener=listener)
        files = generate("melody", options, out=out, model=str(tiny_checkpoint), backend="torch").files
        return [f.read_bytes() for f in files]

    bar = FakeBar()
    with_progress = run(tmp_path / "a", BarCounter(bar, "generating"))
    assert bar.total == bar.done == 6
    assert with_progress == run(tmp_path / "b", None)
