"""midiforge doctor: rules on made-up machines, and a real run on this one."""

from __future__ import annotations

import json

import numpy
import pytest

from midiforge.cli import cli
from midiforge.cli.common import run_cli
from midiforge.doctor import Facts, diagnose, find_problems, gather_facts

HEALTHY_VERSIONS = {
    "torch": "2.13.0",
    "numpy": "2.3.5",
    "miditok": "3.1.0",
    "symusic": "0.6.0",
    "music21": "10.5.1",
    "pretty_midi": "0.2.11",
    "mido": "1.3.3",
    "python-rtmidi": "1.5.8",
    "onnx": "1.19.0",
    "onnxruntime": "1.23.0",
    "coremltools": "9.0",
}


def _facts(**changes) -> Facts:
    versions = {**HEALTHY_VERSIONS, **changes.pop("versions", {})}
    base = {"python": "3.11.9", "executable": "/usr/bin/python3", "system": "Linux", "machine": "x86_64"}
    return Facts(**{**base, "versions": versions, **changes})


def _problems(facts: Facts) -> list[str]:
    return [f"{f.severity}: {f.problem} -> {f.fix}" for f in find_problems(facts)]


def test_a_healthy_linux_cpu_machine_has_no_problems() -> None:
    report = diagnose(_facts())
    assert report.findings == [] and report.device == "cpu"


def test_healthy_cuda_and_mps_machines_pick_their_accelerator() -> None:
    cuda = diagnose(_facts(torch_cuda_build="12.8", cuda_available=True, cuda_devices=["NVIDIA H100"],
                           nvidia_gpu_present=True, onnxruntime_providers=["CUDAExecutionProvider"]))
    assert cuda.device == "cuda" and cuda.findings == []
    mac = diagnose(_facts(system="Darwin", machine="arm64", mps_built=True, mps_available=True))
    assert mac.device == "mps" and mac.findings == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"system": "Darwin", "machine": "arm64", "mps_built": False}, "built without MPS"),
        ({"system": "Darwin", "machine": "x86_64", "rosetta": True, "mps_built": True}, "Rosetta"),
        ({"system": "Darwin", "machine": "arm64", "mps_built": True}, "macOS 12.3"),
    ],
)
def test_mac_without_mps_explains_why_and_how_to_fix(changes, expected) -> None:
    report = diagnose(_facts(**changes))
    assert report.device == "cpu"
    [finding] = report.findings
    assert finding.severity == "warning" and "MPS is not available" in finding.problem
    assert expected in finding.problem + finding.fix


def test_numpy_too_new_for_coremltools_9() -> None:
    [line] = _problems(_facts(versions={"numpy": "2.4.1"}))
    assert "numpy 2.4.1 is too new for coremltools 9.0" in line and "numpy<2.4" in line
    assert _problems(_facts(versions={"numpy": "2.4.1", "coremltools": "8.3"})) == []


def test_torch_missing_is_an_info_naming_the_extra_and_broken_is_an_error() -> None:
    missing = _problems(
        _facts(versions={"torch": None}, torch_error="ModuleNotFoundError: No module named 'torch'")
    )
    assert missing == ["info: torch is not installed: training and PyTorch checkpoints are off "
                       "-> pip install 'midiforge[train]'"]
    assert _problems(_facts(versions={"onnxruntime": None}))[0].startswith("error: onnxruntime is not installed")
    broken = _problems(_facts(torch_error="OSError: libcudart.so.12: cannot open shared object file"))
    assert broken[0].startswith("error: torch is installed but fails to import")


def test_cuda_build_without_a_driver_and_gpu_without_cuda_build() -> None:
    [no_driver] = _problems(_facts(torch_cuda_build="12.8", cuda_available=False))
    assert "CUDA 12.8 build but sees no GPU" in no_driver and "nvidia-smi" in no_driver
    [cpu_build] = _problems(_facts(nvidia_gpu_present=True))
    assert "CPU-only build" in cpu_build and "download.pytorch.org/whl/cu" in cpu_build


def test_missing_midi_backend_and_optional_packages_are_infos() -> None:
    lines = _problems(_facts(midi_problem="python-rtmidi is not installed: pip install 'midiforge[live]'",
                             versions={"coremltools": None}))
    assert all(line.startswith("info:") for line in lines)
    assert any("--live" in line and "midiforge[live]" in line for line in lines)
    assert any("CoreML export is off" in line for line in lines)
    [alsa] = _problems(_facts(midi_problem="no MIDI system available (ALSA)"))
    assert "modprobe snd-seq" in alsa


def test_errors_come_first() -> None:
    facts = _facts(versions={"mido": None, "numpy": "2.4.0"}, midi_problem="no MIDI system available")
    assert [f.severity for f in find_problems(facts)] == ["error", "warning", "info"]


def test_this_machine_is_reported_truthfully() -> None:
    facts = gather_facts()
    assert facts.versions["numpy"] == numpy.__version__
    assert facts.python.count(".") == 2
    import torch

    assert facts.cuda_available == torch.cuda.is_available()
    assert diagnose(facts).device in {"cpu", "cuda", "mps"}


def test_cli_table_and_json(capsys) -> None:
    assert run_cli(cli, ["doctor"]) == 0
    out = capsys.readouterr().out
    assert "training device" in out and "numpy" in out and numpy.__version__ in out
    assert run_cli(cli, ["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["device"] in {"cpu", "cuda", "mps"}
    assert data["facts"]["versions"]["numpy"] == numpy.__version__
    assert isinstance(data["findings"], list)


def test_rendered_fix_keeps_its_brackets(monkeypatch) -> None:
    """rich markup used to eat ``[live]`` from ``pip install 'midiforge[live]'``."""
    import io

    from rich.console import Console

    from midiforge.cli import doctor_cmd

    screen = io.StringIO()
    monkeypatch.setattr(doctor_cmd, "console", Console(file=screen, width=400))  # one row per line
    doctor_cmd.render(diagnose(_facts(midi_problem="python-rtmidi is not installed", versions={"python-rtmidi": None})))
    assert "pip install 'midiforge[live]'" in screen.getvalue()


def test_training_device_choice(monkeypatch):
    import torch

    from midiforge.errors import MidiforgeError
    from midiforge.training.runtime import Dist, pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")  # a Mac without CUDA trains on its GPU
    assert pick_device("auto", Dist(rank=0, world=2, local_rank=0)) == torch.device("cpu")  # no DDP on MPS
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(MidiforgeError, match="Apple MPS is not available"):
        pick_device("mps")
    with pytest.raises(MidiforgeError, match="no CUDA GPU"):
        pick_device("cuda")
    with pytest.raises(MidiforgeError, match="unknown device 'tpu9'"):
        pick_device("tpu9")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("auto", Dist(rank=3, world=4, local_rank=3)) == torch.device("cuda", 1)
