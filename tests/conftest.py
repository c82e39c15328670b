"""Shared fixtures: the generation engines, a tiny random model, small songs, and plugins that
are installed for one test only (never into the running environment)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

PROGRESSION = [(0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14)]  # I vi IV V


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A 2-layer music-transformer checkpoint with the default codec (random weights)."""
    import torch

    from midiforge import contracts
    from midiforge.data.codec import Codec
    from midiforge.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    codec = Codec()
    values = {"vocab_size": codec.vocab_size, "max_seq_len": 1024, "d_model": 64, "n_layers": 2, "n_heads": 4}
    model = contracts.build_model(contracts.model("music-transformer"), values)
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    return save_checkpoint(path, model, "music-transformer", codec)


@pytest.fixture(scope="session")
def engine():
    """The shipped default model, on the fastest backend available (ONNX on CPU)."""
    from midiforge.generation.engine import Engine, default_model_path

    default_model_path()  # a clear failure if the model is not shipped
    return Engine.load(backend="auto")


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoint):
    """The tiny random model on PyTorch: fast, for tests of the sampler's mechanics."""
    from midiforge.generation.engine import Engine

    return Engine.load(tiny_checkpoint, backend="torch")


def write_song(path: Path, tonic: int, seed: int) -> None:
    """Eight bars at 120 bpm: a flute melody on chord and scale tones, piano chords, a bass line."""
    import numpy as np
    import pretty_midi

    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    melody, chords, bass = (
        pretty_midi.Instrument(program=p, name=n) for p, n in ((73, "melody"), (0, "chords"), (32, "bass"))
    )
    scale = [0, 2, 4, 5, 7, 9, 11]
    for bar in range(8):
        start = bar * 2.0
        chord = PROGRESSION[bar % 4]
        for pc in chord:
            chords.notes.append(pretty_midi.Note(70, 60 + tonic + pc, start, start + 1.9))
        bass.notes.append(pretty_midi.Note(80, 36 + tonic + chord[0], start, start + 0.9))
        bass.notes.append(pretty_midi.Note(80, 43 + tonic + chord[0], start + 1.0, start + 1.9))
        for beat in range(4):
            pitch = 72 + tonic + (chord[beat % 3] if beat % 2 == 0 else int(rng.choice(scale)))
            melody.notes.append(pretty_midi.Note(90, pitch, start + beat * 0.5, start + beat * 0.5 + 0.45))
    pm.instruments.extend([melody, chords, bass])
    pm.write(str(path))


@pytest.fixture(scope="session")
def songs(tmp_path_factory) -> Path:
    """Six eight-bar songs (melody, chords, bass) in different keys."""
    folder = tmp_path_factory.mktemp("songs")
    for i, tonic in enumerate([0, 2, 4, 5, 7, 9]):
        write_song(folder / f"song_{i}.mid", tonic, seed=i)
    return folder


class SitePackages:
    """A folder that acts as an extra site-packages: distributions added here are visible to a
    subprocess through ``env`` and to this process (for one test); nothing is pip-installed."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.monkeypatch = root, monkeypatch
        self.paths = [str(root)]
        self.modules: list[str] = []
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.syspath_prepend(str(root))

    def add(self, dist: str, module: str, source: str, entry_point: str | None = None) -> None:
        """A distribution ``dist`` (version 1.0) whose ``midiforge`` entry point ``entry_point``
        (default: the module name) loads the module ``module`` written from ``source``."""
        self.add_metadata(dist, "1.0", {entry_point or module: module})
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        self.modules.append(module)

    def add_metadata(self, dist: str, version: str, entry_points: dict[str, str], source: Path | None = None) -> None:
        """Only the dist-info; the code is already on the path or lives in the folder ``source``."""
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[midiforge]\n{lines}")
        if source is not None:
            self.paths.append(str(source))
            self.monkeypatch.syspath_prepend(str(source))
            self.modules.extend(target.split(".")[0].split(":")[0] for target in entry_points.values())

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": os.pathsep.join(self.paths), "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def site_packages(tmp_path, monkeypatch):
    """Third-party plugin distributions for one test; ``sys.path`` and imports are undone after."""
    import sys

    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # nothing written beside a plugin's source
    site = SitePackages(tmp_path / "site-packages", monkeypatch)
    yield site
    for module in site.modules:
        sys.modules.pop(module, None)


@pytest.fixture
def use_plugins(monkeypatch) -> Callable[..., object]:
    """Make the process-wide registry hold these extra in-process plugins (name -> object)."""
    from midiforge import registry

    def use(plugins: dict[str, object], **options) -> object:
        loaded = registry.load_registry(extra_plugins=plugins, **options)
        monkeypatch.setattr(registry, "registry", lambda: loaded)
        return loaded

    return use
