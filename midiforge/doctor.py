"""``midiforge doctor``: what this machine can run (CUDA / MPS / CPU, library versions) and how
to fix the usual setup problems.

Facts are gathered once (:func:`gather_facts`) and judged by pure rules (:func:`find_problems`),
so each rule is tested with made-up facts (a Mac without MPS, a CUDA build without a driver)
on any machine.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

#: distributions reported, in display order (import name differs for some)
PACKAGES = (
    "torch",
    "numpy",
    "miditok",
    "symusic",
    "music21",
    "pretty_midi",
    "mido",
    "python-rtmidi",
    "onnx",
    "onnxruntime",
    "coremltools",
    "transformers",
    "midiforge",
)
#: the light install (generate, infill, vary); the rest comes with extras
REQUIRED = {"numpy", "miditok", "symusic", "mido", "onnxruntime"}
#: from an extra: what is off without it, and the extra
EXTRA_PACKAGES = {"torch": ("training and PyTorch checkpoints are off", "train"),
                  "music21": ("the bundled corpora are off", "train"),
                  "onnx": ("ONNX export is off", "export")}


@dataclass
class Facts:
    """Everything the rules look at (plain data, so tests can make any machine up)."""

    python: str
    executable: str
    system: str  # platform.system(): Linux, Darwin, Windows
    machine: str  # x86_64, arm64, ...
    rosetta: bool = False  # an x86_64 Python on Apple silicon
    versions: dict[str, str | None] = field(default_factory=dict)
    torch_cuda_build: str | None = None  # torch.version.cuda (None: CPU or MPS build)
    cuda_available: bool = False
    cuda_devices: list[str] = field(default_factory=list)
    mps_built: bool = False
    mps_available: bool = False
    nvidia_gpu_present: bool = False  # nvidia-smi found a GPU
    onnxruntime_providers: list[str] = field(default_factory=list)
    midi_problem: str | None = None  # why live MIDI output cannot work, None when it can
    torch_error: str | None = None  # import error of torch, if any


@dataclass
class Finding:
    severity: str  # "error" (midiforge cannot work), "warning" (a feature is off), "info"
    problem: str
    fix: str


@dataclass
class Report:
    facts: Facts
    device: str  # what `--device auto` uses: cuda, mps or cpu
    findings: list[Finding]

    def to_dict(self) -> dict:
        return {
            "device": self.device,
            "facts": asdict(self.facts),
            "findings": [asdict(f) for f in self.findings],
        }


# ---------------------------------------------------------------- gathering


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _rosetta() -> bool:
    if platform.system() != "Darwin":
        return False
    try:
        out = subprocess.run(
            ["sysctl", "-in", "sysctl.proc_translated"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == "1"


def _nvidia_gpu_present() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C libraries (ALSA prints to fd 2 when it has no sound devices)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _torch_facts(facts: Facts) -> None:
    try:
        import torch
    except Exception as exc:  # missing, or a broken install (wrong CUDA libs, numpy ABI)
        facts.torch_error = f"{type(exc).__name__}: {exc}"
        return
    facts.torch_cuda_build = torch.version.cuda
    facts.cuda_available = bool(torch.cuda.is_available())
    if facts.cuda_available:
        facts.cuda_devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    facts.mps_built = bool(mps and mps.is_built())
    facts.mps_available = bool(mps and mps.is_available())


def gather_facts() -> Facts:
    """Look at this machine (imports torch and onnxruntime; takes a second or two)."""
    facts = Facts(
        python=platform.python_version(),
        executable=sys.executable,
        system=platform.system(),
        machine=platform.machine(),
        rosetta=_rosetta(),
        versions={name: _version(name) for name in PACKAGES},
        nvidia_gpu_present=_nvidia_gpu_present(),
    )
    _torch_facts(facts)
    try:
        import onnxruntime

        facts.onnxruntime_providers = list(onnxruntime.get_available_providers())
    except Exception:
        pass
    from midiforge.live import midi_backend_problem

    with _quiet_stderr():
        facts.midi_problem = midi_backend_problem()
    return facts


# ---------------------------------------------------------------- rules


def _major_minor(version: str | None) -> tuple[int, int]:
    if not version:
        return (0, 0)
    parts = [int("".join(ch for ch in p if ch.isdigit()) or 0) for p in version.split(".")[:2]]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def _device_findings(f: Facts) -> list[Finding]:
    out: list[Finding] = []
    if f.torch_cuda_build and not f.cuda_available:
        out.append(
            Finding(
                "warning",
                f"PyTorch is a CUDA {f.torch_cuda_build} build but sees no GPU (no NVIDIA driver, or one too old)",
                "install or update the NVIDIA driver (check `nvidia-smi`); on a machine without a GPU install the "
                "CPU wheel: pip install torch --index-url https://download.pytorch.org/whl/cpu",
            )
        )
    if f.nvidia_gpu_present and not f.torch_cuda_build:
        out.append(
            Finding(
                "warning",
                "an NVIDIA GPU is present but PyTorch is a CPU-only build",
                "install a CUDA build: see https://pytorch.org/get-started/locally/ "
                "(e.g. pip install torch --index-url https://download.pytorch.org/whl/cu128)",
            )
        )
    if f.system == "Darwin" and not f.mps_available:
        if f.rosetta or f.machine == "x86_64":
            why = (
                "this Python runs as x86_64 (Rosetta)"
                if f.rosetta
                else "this is an Intel Mac or an x86_64 Python"
            )
            fix = "on Apple silicon use a native arm64 Python (python.org or `brew install python`) and reinstall"
        elif not f.mps_built:
            why, fix = (
                "this PyTorch was built without MPS",
                "pip install --upgrade torch (the macOS arm64 wheel has MPS)",
            )
        else:
            why, fix = "MPS needs macOS 12.3 or newer", "update macOS; until then training runs on the CPU"
        out.append(Finding("warning", f"Apple MPS is not available: {why}", fix))
    return out


def _package_findings(f: Facts) -> list[Finding]:
    out: list[Finding] = []
    v = f.versions
    missing = sorted(name for name in REQUIRED if not v.get(name))
    for name in missing:
        out.append(
            Finding(
                "error",
                f"{name} is not installed",
                f"pip install {name}  (or reinstall: pip install midiforge)",
            )
        )
    for name, (what, extra) in EXTRA_PACKAGES.items():
        if not v.get(name):
            out.append(Finding("info", f"{name} is not installed: {what}", f"pip install 'midiforge[{extra}]'"))
    if v.get("torch") and f.torch_error:
        out.append(
            Finding(
                "error",
                f"torch is installed but fails to import ({f.torch_error})",
                "pip install --force-reinstall torch",
            )
        )
    numpy, coreml = _major_minor(v.get("numpy")), _major_minor(v.get("coremltools"))
    if coreml[0] == 9 and numpy >= (2, 4):
        out.append(
            Finding(
                "warning",
                f"numpy {v['numpy']} is too new for coremltools {v['coremltools']} (CoreML export fails)",
                "pip install 'numpy<2.4'",
            )
        )
    if not v.get("coremltools"):
        out.append(
            Finding("info", "coremltools is not installed: CoreML export is off", "pip install 'midiforge[export]'")
        )
    if (
        f.cuda_available
        and f.onnxruntime_providers
        and "CUDAExecutionProvider" not in f.onnxruntime_providers
    ):
        out.append(
            Finding(
                "info",
                "onnxruntime runs ONNX models on the CPU only (no CUDAExecutionProvider)",
                "pip uninstall onnxruntime && pip install onnxruntime-gpu (optional: generation is fast on CPU)",
            )
        )
    return out


def _live_findings(f: Facts) -> list[Finding]:
    if f.midi_problem is None:
        return []
    fix = (
        "pip install 'midiforge[live]'"
        if "not installed" in f.midi_problem
        else "Linux: sudo modprobe snd-seq (or run a JACK server); inside Docker pass --device /dev/snd"
    )
    return [Finding("info", f"no MIDI output for --live: {f.midi_problem}", fix)]


def find_problems(facts: Facts) -> list[Finding]:
    """Every problem the facts show, most serious first."""
    findings = _package_findings(facts) + _device_findings(facts) + _live_findings(facts)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order[f.severity])


def chosen_device(facts: Facts) -> str:
    """What ``--device auto`` picks: CUDA, then Apple MPS, then CPU."""
    if facts.cuda_available:
        return "cuda"
    if facts.mps_available:
        return "mps"
    return "cpu"


def diagnose(facts: Facts | None = None) -> Report:
    """Gather facts (unless given) and judge them."""
    facts = facts or gather_facts()
    return Report(facts, chosen_device(facts), find_problems(facts))
