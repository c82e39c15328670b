"""The Docker route: the Dockerfile's pip requirements resolve, the Makefile targets exist, and
(only where a Docker daemon runs) the image builds and answers ``midiforge --version``."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
PIP_OPTIONS_WITH_VALUE = {
    "--index-url",
    "-i",
    "--extra-index-url",
    "--find-links",
    "-f",
    "-c",
    "--constraint",
}


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _build_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)


def _pip_requirements(instructions: list[tuple[str, str]]) -> list[str]:
    """Every requirement a ``pip install`` in a RUN line asks for, with ARG defaults filled in."""
    args = _build_args(instructions)
    requirements = []
    for keyword, command in instructions:
        if keyword != "RUN":
            continue
        command = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], command)
        for part in re.split(r"&&|;", command):
            words = shlex.split(part)
            if words[:2] != ["pip", "install"]:
                continue
            skip = False
            for word in words[2:]:
                if skip:
                    skip = False
                elif word in PIP_OPTIONS_WITH_VALUE:
                    skip = True
                elif not word.startswith("-"):
                    requirements.append(word)
    return requirements


def test_dockerfile_shape() -> None:
    instructions = _instructions(DOCKERFILE.read_text())
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    args = _build_args(instructions)
    assert froms == ["python:${PYTHON_VERSION}-slim"] and args["PYTHON_VERSION"] == "3.11"
    assert args["TORCH_VERSION"] == "2.13.0" and args["TORCH_INDEX"].endswith("/whl/cpu")
    assert ("ENTRYPOINT", '["midiforge"]') in instructions
    assert _pip_requirements(instructions) == ["torch==2.13.0", ".[all]"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "runs"} <= set(ignored)


@pytest.mark.slow
def test_every_pip_requirement_in_the_dockerfile_resolves(tmp_path) -> None:
    """``pip install --dry-run`` against this environment: no download, no new venv."""
    requirements = _pip_requirements(_instructions(DOCKERFILE.read_text()))
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-build-isolation", "--quiet",
               "--report", str(report), *requirements]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    would_install = {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    # everything but midiforge itself is already satisfied by the tested environment
    assert set(would_install) <= {"midiforge"}, would_install


def test_makefile_targets_expand() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for target in ("install", "test", "lint", "download-data", "train", "generate", "build", "docker-build",
                   "docker-run", "shell"):
        result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (target, result.stderr)
    dry = subprocess.run(["make", "-n", "train", "DATA=data/folk", "ARGS=--epochs 1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30).stdout
    assert "midiforge train --model music-transformer --data data/folk" in dry and "--epochs 1" in dry
    data = subprocess.run(["make", "-n", "download-data", "CORPUS=folk"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30).stdout
    assert "midiforge prepare --corpus folk -o data/folk" in data
    shell = subprocess.run(["make", "-n", "shell"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    assert "--entrypoint bash" in shell and "-it" in shell
    build = subprocess.run(
        ["make", "-n", "docker-build"], cwd=ROOT, capture_output=True, text=True, timeout=30
    ).stdout
    assert "docker build" in build and "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in build


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.slow
def test_docker_image_builds_and_runs() -> None:
    if not _docker_works():
        pytest.skip("no running Docker daemon (`docker info` fails)")
    tag = "midiforge:test"
    build = subprocess.run(
        ["docker", "build", "-t", tag, "."], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(
        ["docker", "run", "--rm", tag, "--version"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "midiforge" in run.stdout


def test_ci_runs_the_dockerfile_installs_in_a_clean_venv() -> None:
    """Without a Docker daemon, CI still runs the image's install commands: ``.ci/run`` creates a
    fresh venv and installs the same torch pin and the project with every extra the image takes."""
    import tomllib

    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv" in ci
    requirements = _pip_requirements(_instructions(DOCKERFILE.read_text()))
    assert "torch==2.13.0" in requirements and "pip install -q torch==2.13.0" in ci
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert ".[all]" in requirements and 'pip install -q -e ".[dev]"' in ci
    assert "midiforge[all]" in extras["dev"]  # [dev] installs everything [all] does
