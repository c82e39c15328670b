"""Packaging: plugins/ and exporters/ install under the midiforge namespace, and a built wheel works."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"midiforge": "midiforge", "midiforge.plugins": "plugins", "midiforge.exporters": "exporters"}


def _declared_packages() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_package_directory_is_declared():
    found = set()
    for package, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "midiforge-" in str(init):  # example third-party distributions are not part of midiforge
                continue
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found == _declared_packages()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the checkout: setuptools writes build/ and *.egg-info beside the source."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
        "datasets", "runs", "out"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("midiforge-*.whl"))


@pytest.mark.slow
def test_wheel_has_no_generic_top_level_names(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "plugins" not in tops and "exporters" not in tops
    assert "midiforge/plugins/harmonic.py" in names and "midiforge/exporters/onnx.py" in names
    for asset in (ROOT / "midiforge" / "assets").glob("*.*"):
        assert f"midiforge/assets/{asset.name}" in names, asset.name


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns the venv folder."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # Dependencies come from this environment (no network, no GBs of torch again); midiforge from the wheel.
    Path(_site(py), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300, capture_output=True)
    return venv


def _site(py: Path) -> str:
    return subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   text=True).strip()


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(installed, tmp_path):
    venv = installed
    py = venv / "bin" / "python"
    site = _site(py)
    check = (
        "import importlib.util, midiforge, midiforge.plugins.harmonic, midiforge.exporters.onnx;"
        f"assert midiforge.__file__.startswith({site!r}), midiforge.__file__;"
        "assert importlib.util.find_spec('plugins') is None and importlib.util.find_spec('exporters') is None;"
        "print('ok')"
    )
    proc = subprocess.run([str(py), "-c", check], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.stdout.strip() == "ok", proc.stderr
    proc = subprocess.run([str(venv / "bin" / "midiforge"), "plugins", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = {p["name"] for p in json.loads(proc.stdout)["plugins"]}
    assert {"harmonic", "music-transformer", "onnx", "remi"} <= names


@pytest.mark.slow
def test_wheel_exports_the_shipped_model_and_generates_with_it(installed, tmp_path):
    """The default checkpoint is found through the installed package, not the source tree."""
    work = tmp_path / "work"  # away from the checkout, so nothing can come from the source tree
    work.mkdir()
    midiforge = str(installed / "bin" / "midiforge")
    proc = subprocess.run([midiforge, "export", "onnx", "-o", "m.onnx"], capture_output=True, text=True,
                          timeout=600, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "m.onnx").is_file() and (work / "m.json").is_file()
    proc = subprocess.run([midiforge, "generate", "melody", "--backend", "onnx", "--model", "m.onnx", "--n", "1",
                           "--bars", "2", "--seed", "1", "-o", "out"], capture_output=True, text=True, timeout=600,
                          cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert len(list((work / "out").rglob("*.mid"))) == 1
