"""One call for the whole workflow: analyze -> prepare -> train -> generate -> evaluate.

Every stage writes into its own subfolder of one output folder and is recorded in ``stages.json``
(written atomically) with its outputs, its figures and a fingerprint of its inputs and options.
A fingerprint includes the fingerprint of the stage before it, so changing an option re-runs that
stage and everything after it, and a re-run skips whatever is already done. An interrupted
training continues from the trainer's ``last.state.pt`` (see docs/training.md).

>>> from midiforge.pipeline import PipelineOptions, run_pipeline
>>> from midiforge.training import TrainConfig
>>> result = run_pipeline(PipelineOptions(path="my_midi", training=TrainConfig(epochs=20)))
>>> result.stage("train").summary["best_val_loss"]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midiforge import atomic, contracts
from midiforge.errors import MidiforgeError
from midiforge.terminal import stage_progress
from midiforge.training.config import TrainConfig

STAGES = ("analyze", "prepare", "train", "generate", "evaluate")
FOLDERS = {
    "analyze": "analysis",
    "prepare": "dataset",
    "train": "model",
    "generate": "generated",
    "evaluate": "evaluation",
}
STATE_NAME = "stages.json"
STATE_FORMAT = 1
#: The sampler budgets this many tokens per bar (``generation.styles.make_request``); the model's
#: context must hold them, so the pipeline sizes ``max_seq_len`` (free for rotary positions) to fit.
TOKENS_PER_BAR = 160
PREFIX_TOKENS = 16
GENERATION_CONTEXT = 8 * TOKENS_PER_BAR + PREFIX_TOKENS
MAX_REFERENCE_FILES = 200
DEFAULT_TRAINING = TrainConfig()


@dataclass
class PipelineOptions:
    """Everything ``midiforge pipeline`` takes; each stage's fingerprint uses the fields it reads."""

    path: str | Path | None = None  # folder of MIDI files ...
    corpus: str | None = None  # ... or a registered corpus name
    out: str | Path = "midiforge-pipeline"
    limit: int | None = None  # first N files of the source
    #: the model, its options, the training limits and hyperparameters; the pipeline sets ``data``,
    #: ``out``, ``seed``, ``resume`` and ``progress`` itself
    training: TrainConfig = field(default_factory=TrainConfig)
    # generation
    style: str = "melody"
    n_clips: int = 4
    bars: int = 8
    backend: str = "auto"
    # everything
    seed: int = 0
    workers: int = 2
    until: str | None = None  # stop after this stage
    force: bool = False  # re-run every stage from scratch

    def validate(self) -> None:
        if (self.path is None) == (self.corpus is None):
            raise MidiforgeError("give SOURCE (a folder of MIDI files) or --corpus NAME, not both or neither")
        if self.path is not None and not Path(self.path).expanduser().exists():
            raise MidiforgeError(f"source {self.path} not found")
        t = self.training  # TrainConfig checked the rest when it was made
        checks = [
            (t.max_steps >= 0, "--max-steps must be >= 0"),
            (t.max_minutes >= 0, "--max-minutes must be >= 0"),
            (t.seq_len >= 32, f"--seq-len must be at least 32, got {t.seq_len}"),
            (self.n_clips >= 1, "--n-clips must be at least 1"),
            (self.bars >= 1, "--bars must be at least 1"),
            (self.workers >= 1, "--workers must be at least 1"),
            (self.until is None or self.until in STAGES, f"--until must be one of {', '.join(STAGES)}"),
            (self.backend in ("auto", "onnx", "torch"), "--backend must be auto, onnx or torch"),
        ]
        for ok, message in checks:
            if not ok:
                raise MidiforgeError(message)
        contracts.model(t.model)
        contracts.style(self.style)


@dataclass
class StageOutcome:
    """One stage of one run: ``ran`` (this call did it), ``skipped`` (done before) or ``not run``."""

    name: str
    status: str
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    out: Path
    state_path: Path
    stages: list[StageOutcome]

    def stage(self, name: str) -> StageOutcome:
        return next(s for s in self.stages if s.name == name)


def digest(data: Any) -> str:
    """A short stable hash of JSON-able data (the fingerprints in ``stages.json``)."""
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class StateFile:
    """``stages.json``: per stage its status, fingerprint, outputs, figures and time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stages: dict[str, dict[str, Any]] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                self.stages = dict(data["stages"]) if data.get("format") == STATE_FORMAT else {}
            except (ValueError, KeyError, TypeError) as exc:
                raise MidiforgeError(f"{path} is damaged ({exc}); delete it or run with --force") from None

    def get(self, stage: str) -> dict[str, Any]:
        return self.stages.get(stage, {})

    def done(self, stage: str, fingerprint: str) -> bool:
        record = self.get(stage)
        return record.get("status") == "done" and record.get("fingerprint") == fingerprint

    def set(self, stage: str, record: dict[str, Any]) -> None:
        self.stages[stage] = record
        payload = {"format": STATE_FORMAT, "stages": {s: self.stages[s] for s in STAGES if s in self.stages}}
        atomic.write_text(self.path, json.dumps(payload, indent=2, default=str) + "\n")


class Pipeline:
    """Runs the stages in order; ``progress`` is an optional ``rich.progress.Progress``."""

    def __init__(self, options: PipelineOptions, progress=None) -> None:
        options.validate()
        self.opt = options
        self.out = Path(options.out).expanduser().resolve()  # stages.json paths work from any folder
        self.progress = progress
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = StateFile(self.out / STATE_NAME)
        self.fingerprints: dict[str, str] = {}
        self.previous: dict[str, Any] = {}
        last = STAGES.index(options.until) + 1 if options.until else len(STAGES)
        self.overall = self._add_task("pipeline", total=last)

    # ------------------------------------------------------------------ progress helpers

    def _add_task(self, label: str, total: float | None = None):
        return None if self.progress is None else self.progress.add_task(label, total=total, info="")

    def _update(self, task, **fields) -> None:
        if task is not None:
            self.progress.update(task, **fields)

    # ------------------------------------------------------------------ running

    def folder(self, stage: str) -> Path:
        return self.out / FOLDERS[stage]

    def run(self) -> PipelineResult:
        outcomes: list[StageOutcome] = []
        self.source_key = self._source_key()
        stop = False
        for index, stage in enumerate(STAGES):
            if stop:
                outcomes.append(StageOutcome(stage, "not run"))
                continue
            outcomes.append(self._run_stage(stage))
            self._update(self.overall, completed=index + 1, info="")
            stop = stage == self.opt.until
        return PipelineResult(self.out, self.state.path, outcomes)

    def _run_stage(self, stage: str) -> StageOutcome:
        fingerprint = self.fingerprint(stage)
        if not self.opt.force and self.state.done(stage, fingerprint):
            record = self.state.get(stage)
            return StageOutcome(
                stage, "skipped", record.get("seconds", 0.0), record["summary"], record["outputs"]
            )
        self._update(self.overall, info=stage)
        if self.opt.force or stage not in ("prepare", "train"):  # those two resume their own work
            shutil.rmtree(self.folder(stage), ignore_errors=True)
        before = set(self.progress.task_ids) if self.progress is not None else set()
        started = time.perf_counter()
        self.previous = self.state.get(stage)  # what an earlier, unfinished run left (train resumes it)
        record = {"status": "running", "fingerprint": fingerprint, "started_at": _now()}
        record.update(self._extra_state(stage))
        self.state.set(stage, record)
        try:
            summary, outputs = getattr(self, f"_{stage}")()
        except KeyboardInterrupt:
            self.state.set(stage, dict(record, status="interrupted"))
            raise
        except Exception as exc:
            self.state.set(stage, dict(record, status="failed", error=f"{type(exc).__name__}: {exc}"))
            raise
        seconds = round(time.perf_counter() - started, 2)
        self.state.set(
            stage,
            dict(
                record, status="done", finished_at=_now(), seconds=seconds, summary=summary, outputs=outputs
            ),
        )
        if self.progress is not None:  # keep one line per pipeline on screen, not one per sub-step
            for task in set(self.progress.task_ids) - before:
                self.progress.remove_task(task)
        return StageOutcome(stage, "ran", seconds, summary, outputs)

    # ------------------------------------------------------------------ fingerprints

    def _source_key(self) -> dict[str, Any]:
        """What the source is: a corpus name and limit, or the files of a folder with size and mtime."""
        if self.opt.corpus is not None:
            return {"corpus": self.opt.corpus, "limit": self.opt.limit}
        from midiforge.data.sources import resolve_source

        source = resolve_source(self.opt.path, None, self.opt.limit)
        files = [(source.relative(f), f.stat().st_size, f.stat().st_mtime_ns) for f in source.files]
        return {"path": str(Path(self.opt.path).expanduser().resolve()), "files": digest(files)}

    def _stage_options(self, stage: str) -> dict[str, Any]:
        o, t = self.opt, self.opt.training
        if stage == "analyze":
            return {"source": self.source_key}
        if stage == "prepare":
            return {"source": self.source_key, "seq_len": t.seq_len, "seed": o.seed}
        if stage == "train":
            return dict(
                self._resume_options(), epochs=t.epochs, max_steps=t.max_steps, max_minutes=t.max_minutes
            )
        if stage == "generate":
            return {"style": o.style, "n_clips": o.n_clips, "bars": o.bars, "seed": o.seed}
        return {"seed": o.seed, "reference_files": MAX_REFERENCE_FILES}

    def _resume_options(self) -> dict[str, Any]:
        """Training options a resumed run must share (the limits may grow between runs)."""
        t = self.opt.training
        # the default rate is recorded as None, as before TrainConfig held these options: runs stay done
        lr = None if t.lr == DEFAULT_TRAINING.lr else t.lr
        return {"model": t.model, "model_config": self.model_config(), "batch_size": t.batch_size,
                "seq_len": t.seq_len, "lr": lr, "seed": self.opt.seed}

    def fingerprint(self, stage: str) -> str:
        if stage not in self.fingerprints:
            index = STAGES.index(stage)
            upstream = self.fingerprint(STAGES[index - 1]) if index else ""
            self.fingerprints[stage] = digest(
                {"stage": stage, "after": upstream, **self._stage_options(stage)}
            )
        return self.fingerprints[stage]

    def _extra_state(self, stage: str) -> dict[str, Any]:
        if stage != "train":
            return {}
        return {"resume_key": digest({"after": self.fingerprint("prepare"), **self._resume_options()})}

    def model_config(self) -> dict[str, Any]:
        """Model options, with a context long enough for 8-bar clips (not tied to ``--bars``, so
        asking for other clips never retrains)."""
        config = dict(self.opt.training.model_config)
        config.setdefault("max_seq_len", max(self.opt.training.seq_len, GENERATION_CONTEXT))
        return config

    # ------------------------------------------------------------------ stages

    def _analyze(self) -> tuple[dict, dict]:
        from midiforge.data.analyze import analyze

        report = analyze(
            self.opt.path, self.opt.corpus, out=self.folder("analyze"), limit=self.opt.limit,
            workers=self.opt.workers, progress=stage_progress(self.progress), overwrite=True,
        )
        s = report.summary
        if not s["ok"]:
            raise MidiforgeError(f"none of the {s['files']} source files is usable: {s['skip_reasons']}")
        summary = {k: s[k] for k in ("files", "ok", "skipped", "total_notes", "total_hours")}
        return summary, dict(report.outputs)

    def _prepare(self) -> tuple[dict, dict]:
        from midiforge.data.prepare import PrepareOptions, prepare_dataset

        options = PrepareOptions(
            max_seq_len=self.opt.training.seq_len + 1, seed=self.opt.seed
        )  # one window per sequence
        result = prepare_dataset(
            self.folder("prepare"), path=self.opt.path, corpus=self.opt.corpus, options=options,
            limit=self.opt.limit, workers=self.opt.workers,
            progress=stage_progress(self.progress),
        )
        if not result.sequences["train"]:
            raise MidiforgeError(f"preparation gave no training sequences ({result.skip_reasons})")
        summary = {
            "files": result.files, "prepared": result.prepared, "skipped": result.skipped,
            "sequences": result.sequences, "tokens": sum(result.tokens.values()), "vocab_size": result.vocab_size,
        }
        return summary, {"dataset": str(self.folder("prepare"))}

    def _train(self) -> tuple[dict, dict]:
        from midiforge.training import train

        model_dir = self.folder("train")
        resume = (
            not self.opt.force
            and (model_dir / "last.state.pt").is_file()
            and self.previous.get("resume_key") == self._extra_state("train")["resume_key"]
        )
        if not resume:
            shutil.rmtree(model_dir, ignore_errors=True)
        config = self.opt.training.replace(
            model_config=self.model_config(), data=[str(self.folder("prepare"))], out=str(model_dir),
            seed=self.opt.seed, progress=False, resume=resume,
        )
        task = self._add_task("training", total=self._expected_steps())

        def on_step(step: int, info: dict[str, Any]) -> None:
            self._update(task, completed=step, info=f"loss {info['loss']:.3f}")

        result = train(config, on_step=on_step)
        checkpoint = result.best or result.last
        summary = {
            "steps": result.steps, "stopped": result.stopped, "best_val_loss": result.best_val_loss,
            "tokens_seen": result.tokens_seen, "resumed": resume,
        }
        return summary, {"checkpoint": str(checkpoint), "folder": str(model_dir)}

    def _expected_steps(self) -> int | None:
        sequences = self.state.get("prepare").get("summary", {}).get("sequences", {}).get("train")
        if not sequences:
            return None
        t = self.opt.training
        steps = t.epochs * (sequences // t.batch_size)
        return min(steps, t.max_steps) if t.max_steps else steps

    def _generate(self) -> tuple[dict, dict]:
        from midiforge.generation import SamplingConfig, StyleOptions, generate
        from midiforge.models.checkpoint import read_metadata

        checkpoint = Path(self.state.get("train")["outputs"]["checkpoint"])
        context = int(read_metadata(checkpoint)["model_config"].get("max_seq_len", 0) or 0)
        bars = self.opt.bars
        if context:  # a user-set max_seq_len may be short: keep the clips inside the model's context
            bars = max(1, min(bars, (context - PREFIX_TOKENS) // TOKENS_PER_BAR))
        options = StyleOptions(n=self.opt.n_clips, bars=bars, sampling=SamplingConfig(seed=self.opt.seed))
        task = self._add_task(f"generating {self.opt.n_clips} x {self.opt.style}", total=None)
        backend = self.opt.backend
        if backend == "auto" and not contracts.model_exportable(self.opt.training.model):
            backend = "torch"  # the model declares it cannot be exported (e.g. transformers models)
        result = generate(
            self.opt.style, options, out=self.folder("generate"), model=checkpoint, backend=backend
        )
        self._update(task, total=1, completed=1)
        summary = {"files": len(result.files), "style": self.opt.style, "bars": bars, "backend": result.backend,
                   "seconds": round(result.seconds, 2)}
        return summary, {"files": [str(p) for p in result.files]}

    def _evaluate(self) -> tuple[dict, dict]:
        from midiforge.data.sources import resolve_source
        from midiforge.evaluation import EvaluationSettings, evaluate, perplexity, save_report

        dataset = self.folder("prepare")
        reference = resolve_source(self.opt.path, self.opt.corpus, self.opt.limit, self.opt.workers).files
        settings = EvaluationSettings(seed=self.opt.seed, max_reference_files=MAX_REFERENCE_FILES)
        report = evaluate(self.folder("generate"), reference, training=f"{dataset}:train", settings=settings,
                          progress=self.progress)
        checkpoint = self.state.get("train")["outputs"]["checkpoint"]
        try:
            report.perplexity = perplexity(
                checkpoint, dataset, seq_len=self.opt.training.seq_len, progress=self.progress
            )
        except MidiforgeError as exc:  # e.g. a corpus too small to hold out a validation file
            report.perplexity = None
            perplexity_note = str(exc)
        else:
            perplexity_note = ""
        written = save_report(report, self.folder("evaluate"))
        return evaluation_figures(report, perplexity_note), {"files": [str(p) for p in written]}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return round(sum(finite) / len(finite), 4) if finite else None


def evaluation_figures(report, perplexity_note: str = "") -> dict[str, Any]:
    """The few numbers the pipeline's summary shows (the full report is evaluation/report.json)."""
    harmony = report.harmony.get("generated")
    figures = {
        "generated_files": report.generated.files if report.generated else 0,
        "reference_files": report.reference.files if report.reference else 0,
        "mean_overlap_area": _mean([f.overlap.overlap_area for f in report.features]),
        "mean_kl_divergence": _mean([f.overlap.kl_divergence for f in report.features]),
        "in_key_ratio": None if harmony is None else _mean([harmony.in_key_ratio]),
        "max_copied_notes": report.originality.max_copied_notes if report.originality else None,
        "copied_files": len(report.originality.copied_files) if report.originality else 0,
        "perplexity": round(report.perplexity.perplexity, 3) if report.perplexity else None,
    }
    if perplexity_note:
        figures["perplexity_note"] = perplexity_note
    return figures


def run_pipeline(options: PipelineOptions, progress=None) -> PipelineResult:
    """Run (or resume) the whole pipeline; see :class:`PipelineOptions` and docs/pipeline.md."""
    out = Path(options.out).expanduser()
    created = not out.exists()
    try:
        return Pipeline(options, progress).run()
    except Exception:
        # a new run that failed before any stage wrote a result leaves no folder behind
        if created and out.is_dir() and not any(p.is_file() and p.name != STATE_NAME for p in out.rglob("*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


__all__ = ["STAGES", "PipelineOptions", "PipelineResult", "StageOutcome", "run_pipeline"]
