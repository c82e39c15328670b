"""A corpus plugin and a model plugin written exactly as docs/plugins.md describes them, used by
every command that takes a corpus or a model: pipeline, analyze, prepare, train, generate, export,
evaluate (reference and perplexity), infill and vary.

The plugins below use only what the docs promise; if a command calls them any other way (a
keyword the documented ``files(cache_dir)`` does not take, ``init_cache`` without its device, a
plain dict for ``build``), these tests fail.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import midiforge
from midiforge.cli import cli
from midiforge.pipeline import PipelineOptions, run_pipeline
from midiforge.training.config import TrainConfig

# --- the plugins, as docs/plugins.md writes them -------------------------------------------


class SongsCorpus:
    """``files(cache_dir: Path) -> list[Path]``, copying into ``cache_dir`` once."""

    name = "docs-songs"
    description = "Six songs copied into the cache once."

    def __init__(self, source: Path) -> None:
        self.source = source
        self.calls: list[Path] = []

    def files(self, cache_dir):
        self.calls.append(cache_dir)
        folder = cache_dir / self.name
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.source.glob("*.mid")):
            if not (folder / path.name).exists():
                shutil.copy(path, folder / path.name)
        return sorted(folder.glob("*.mid"))


@dataclass
class TinyGRUConfig:
    vocab_size: int = 512
    max_seq_len: int = 1024
    hidden: int = 24


class TinyGRU(nn.Module):
    """``config``, ``forward(ids)``, ``init_cache(batch_size, device)``, ``step(ids, cache)``,
    ``num_parameters()``: plain tensor ops, so ONNX export works."""

    def __init__(self, config: TinyGRUConfig) -> None:
        super().__init__()
        assert isinstance(config, TinyGRUConfig), "build() receives a config_class instance"
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.hidden)
        self.gru = nn.GRU(config.hidden, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, ids):
        return self.step(ids, self.init_cache(ids.shape[0], ids.device))[0]

    def init_cache(self, batch_size, device):
        return torch.zeros(1, batch_size, self.config.hidden, device=device)

    def step(self, ids, cache):
        out, cache = self.gru(self.embed(ids), cache)
        return self.head(out), cache

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())


class TinyGRUPlugin:
    name = "tiny-gru"
    description = "A one-layer GRU written from docs/plugins.md."
    config_class = TinyGRUConfig

    def build(self, config):
        return TinyGRU(config)


class DocsPlugin:
    """The plugin module: one hook per kind, marked with ``@midiforge.hookimpl``."""

    def __init__(self, corpus: SongsCorpus) -> None:
        self.corpus = corpus

    @midiforge.hookimpl
    def register_corpora(self, register):
        register(self.corpus)

    @midiforge.hookimpl
    def register_models(self, register):
        register(TinyGRUPlugin())


# --- fixtures: the plugin installed for this module, one pipeline run -----------------------


@pytest.fixture(scope="module")
def corpus(songs, tmp_path_factory):
    from midiforge import registry

    corpus = SongsCorpus(songs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDIFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))
        loaded = registry.load_registry(extra_plugins={"docs-example": DocsPlugin(corpus)})
        mp.setattr(registry, "registry", lambda: loaded)
        assert not loaded.problems
        yield corpus


@pytest.fixture(scope="module")
def pipeline_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    options = PipelineOptions(
        corpus="docs-songs", out=out, training=TrainConfig(model="tiny-gru", max_steps=3, seq_len=64, batch_size=4),
        style="melody", n_clips=2, bars=2, backend="auto", workers=1,
    )
    return out, run_pipeline(options)


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# --- every command ----------------------------------------------------------------------------


def test_pipeline_runs_every_stage_with_the_plugins(pipeline_run):
    out, result = pipeline_run
    stages = json.loads((out / "stages.json").read_text())["stages"]
    assert all(stages[s]["status"] == "done" for s in ("analyze", "prepare", "train", "generate", "evaluate"))
    assert stages["analyze"]["summary"]["ok"] == 6
    assert json.loads((out / "dataset" / "meta.json").read_text())["corpus"] == "docs-songs"
    assert stages["generate"]["summary"]["backend"] == "onnx"  # exported through the exporter plugin
    assert len(list((out / "generated").rglob("*.mid"))) == 2
    assert (out / "evaluation" / "report.json").is_file()


def test_analyze_and_prepare_use_the_corpus_with_a_limit(corpus, tmp_path):
    output = invoke("analyze", "--corpus", "docs-songs", "--limit", "3", "--workers", "1", "--json", "-o", tmp_path)
    assert json.loads(output)["summary"]["files"] == 3
    invoke("prepare", "--corpus", "docs-songs", "--limit", "4", "--workers", "1", "-o", tmp_path / "ds")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["corpus"] == "docs-songs" and len(json.loads((tmp_path / "ds" / "report.json").read_text())["files"]) == 4
    assert all(isinstance(c, Path) for c in corpus.calls)  # files(cache_dir) got a Path, nothing else


def test_train_then_generate_export_and_vary_with_the_model(pipeline_run, tmp_path):
    out, _ = pipeline_run
    invoke("train", "--data", out / "dataset", "--model", "tiny-gru", "--model-opt", "hidden=16",
           "--max-steps", "2", "--seq-len", "64", "--batch-size", "4", "--no-progress", "--out", tmp_path / "run")
    checkpoint = next((tmp_path / "run").glob("*.safetensors"))
    for backend in ("torch", "onnx"):
        invoke("generate", "melody", "--model", checkpoint, "--backend", backend, "--bars", "2", "--n-clips", "1",
               "--seed", "1", "-o", tmp_path / backend)
        assert len(list((tmp_path / backend).rglob("*.mid"))) == 1
    invoke("export", "onnx", checkpoint, "-o", tmp_path / "tiny.onnx")
    assert (tmp_path / "tiny.onnx").is_file()
    song = next((out / "generated").rglob("*.mid"))
    invoke("vary", song, "--strength", "0.5", "--model", checkpoint, "--backend", "torch", "--seed", "1",
           "-o", tmp_path / "varied.mid")
    invoke("infill", song, "--bars", "1", "--model", checkpoint, "--backend", "torch", "--seed", "1",
           "-o", tmp_path / "infilled.mid")
    assert (tmp_path / "varied.mid").is_file() and (tmp_path / "infilled.mid").is_file()


def test_evaluate_against_the_corpus_with_the_models_perplexity(pipeline_run, tmp_path):
    out, _ = pipeline_run
    checkpoint = json.loads((out / "stages.json").read_text())["stages"]["train"]["outputs"]["checkpoint"]
    report = json.loads(invoke("evaluate", out / "generated", "-r", "docs-songs", "--perplexity", checkpoint,
                               "--data", out / "dataset", "--seq-len", "64", "--no-plot", "--json", "-o", tmp_path))
    assert report["reference"]["files"] == 6
    assert report["perplexity"]["perplexity"] > 1
