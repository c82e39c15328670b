"""The studio's work, on top of midiforge's public API (``generate``, ``infill``, ``vary``).

Requests are checked when they arrive (a bad chord symbol or meter is answered at once, in one
line); the model runs later, in the job queue, with one engine loaded once for all jobs.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import midiforge
from midiforge.errors import MidiforgeError
from midiforge.studio.history import History
from midiforge.studio.jobs import Job, JobQueue

STYLES = ("harmonic", "melody", "chord", "bass")
LIMITS = {"n": (1, 8), "bars": (1, 64), "seconds": (2.0, 240.0), "temperature": (0.05, 2.0),
          "velocity_temperature": (0.05, 2.0)}
TRACKS = ("full", "melody", "chords", "bass")


def _number(params: dict, name: str, kind: type, default: Any) -> Any:
    value = params.get(name, default)
    if value in (None, ""):
        return default
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise MidiforgeError(f"{name} must be a number, not '{value}'") from None
    low, high = LIMITS.get(name, (None, None))
    if low is not None and not low <= value <= high:
        raise MidiforgeError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


def _sampling(params: dict, seed: int | None) -> midiforge.SamplingConfig:
    """The page's sampling settings: temperature, and the dynamics' own (velocity temperature)."""
    return midiforge.SamplingConfig(temperature=_number(params, "temperature", float, 1.0),
                                    velocity_temperature=_number(params, "velocity_temperature", float, 1.0),
                                    seed=seed)


def _choice(params: dict, name: str, check: Any) -> str | None:
    """A text setting, checked by ``check`` (which raises the one-line error); empty means the default."""
    value = str(params.get(name) or "").strip()
    return check(value) if value else None


@dataclass
class GenerateRequest:
    style: str
    options: Any  # StyleOptions, checked


@dataclass
class EditRequest:
    parent: str
    mode: str  # regenerate (infill) or vary
    gap: tuple[int, int] | None  # 0-based bars, end exclusive; None: vary chooses
    track: str
    sampling: Any
    seed: int | None


class ProgressListener:
    """Hears bars as the style samples them (the ``BarListener`` hook) and reports the share done."""

    def __init__(self, job: Job) -> None:
        self.job, self.total, self.heard = job, {}, set()

    def piece(self, row: int, n_bars: int, render) -> None:
        self.total[row] = n_bars

    def bars(self, row: int, first_bar: int, bars: list[list[int]]) -> None:
        self.heard.update((row, first_bar + k) for k in range(len(bars)))
        total = sum(self.total.values()) or 1
        self.job.report(len(self.heard) / total, f"bar {len(self.heard)} of {total}")


class Studio:
    """Checks requests, queues model runs, keeps results in the history."""

    def __init__(self, folder: Path, model: str | None = None, engine=None) -> None:
        self.history = History(folder)
        self.jobs = JobQueue()
        self.model = model
        self._engine = engine
        self._engine_lock = threading.Lock()

    # ------------------------------------------------------------------ model
    def engine(self):
        with self._engine_lock:
            if self._engine is None:
                self._engine = midiforge.Engine.load(self.model)
            return self._engine

    # ------------------------------------------------------------------ checking
    def check_generate(self, params: dict) -> GenerateRequest:
        from midiforge.data.vocab import check_density, check_groove
        from midiforge.generation.styles import check_dynamics, parse_form
        from midiforge.music.keys import parse_key

        style = str(params.get("style") or "harmonic")
        if style not in STYLES:
            raise MidiforgeError(f"unknown style '{style}' (use one of: {', '.join(STYLES)})")
        chords = str(params.get("chords") or "").strip() or None
        if chords and Path(chords).exists():
            raise MidiforgeError("chords are chord symbols such as 'Am F C G', not a file name")
        key = str(params.get("key") or "").strip() or None
        if key:
            parse_key(key)
        seed = _number(params, "seed", int, None)
        sampling = _sampling(params, seed)
        song = style == "harmonic"
        options = midiforge.StyleOptions(
            n=_number(params, "n", int, 1), bars=_number(params, "bars", int, None),
            seconds=_number(params, "seconds", float, None), tempo=_number(params, "tempo", float, 120.0),
            key=key, meter=str(params.get("meter") or "4/4"), chords=chords, sampling=sampling,
            drums=bool(params.get("drums")) and song, groove=_choice(params, "groove", check_groove),
            density=_choice(params, "density", check_density),
            sections=_choice(params, "sections", parse_form) if song else None,
            vary_repeats=bool(params.get("vary_repeats")) and song,
            pickup=_number(params, "pickup", int, 0) if song else 0,
            dynamics=_choice(params, "dynamics", check_dynamics) or "phrases",
        )
        options.check_pickup()
        options.time_signature()
        options.tempo_bpm()
        options.n_bars(16.0)
        options.progression()  # every chord symbol read now: the error goes back to the page at once
        return GenerateRequest(style, options)

    def check_edit(self, params: dict) -> EditRequest:
        from midiforge.generation.infill import parse_bars

        parent = str(params.get("result") or "")
        self.history.get(parent)
        mode = str(params.get("mode") or "regenerate")
        if mode not in ("regenerate", "vary"):
            raise MidiforgeError(f"unknown edit '{mode}' (use regenerate or vary)")
        track = str(params.get("track") or "full")
        if track not in TRACKS:
            raise MidiforgeError(f"track must be one of {', '.join(TRACKS)}, not '{track}'")
        bars_text = str(params.get("bars") or "").strip()
        if not bars_text and mode == "regenerate":
            raise MidiforgeError("select the bars to regenerate first (e.g. 5-8)")
        gap = parse_bars(bars_text) if bars_text else None
        seed = _number(params, "seed", int, None)
        sampling = _sampling(params, seed)
        return EditRequest(parent, mode, gap, track, sampling, seed)

    # ------------------------------------------------------------------ queueing
    def submit_generate(self, params: dict) -> Job:
        request = self.check_generate(params)
        return self.jobs.submit("generate", lambda job: self._generate(job, request))

    def submit_edit(self, params: dict) -> Job:
        request = self.check_edit(params)
        return self.jobs.submit(request.mode, lambda job: self._edit(job, request))

    # ------------------------------------------------------------------ running (in the queue's worker)
    def _generate(self, job: Job, request: GenerateRequest) -> list[str]:
        job.report(0.0, "loading the model")
        engine = self.engine()
        request.options.listener = ProgressListener(job)
        staging = Path(tempfile.mkdtemp(prefix=".generate-", dir=self.history.root))
        try:
            result = midiforge.generate(request.style, request.options, out=staging, engine=engine)
            ids = []
            for path, piece in zip(result.files, result.pieces, strict=True):
                meta = {**_plain(piece.meta), "kind": "generate", "title": _title(request.style, piece.meta),
                        "settings": _settings(request)}
                ids.append(self.history.add(midiforge_score(path), meta).id)
            return ids
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _edit(self, job: Job, request: EditRequest) -> list[str]:
        parent = self.history.get(request.parent)
        job.report(0.0, "loading the model")
        engine = self.engine()
        score = midiforge_score(parent.midi)
        job.report(0.1, "the model is rewriting the bars")
        if request.mode == "regenerate" or request.gap is not None:
            # Vary on chosen bars keeps each bar's chord (vary's own rule); Regenerate may change it.
            result = midiforge.infill(engine, score, request.gap, request.track, request.sampling,
                                      keep_harmony=request.mode == "vary")
            new_score, changed = result.score, [request.gap[0] + 1, request.gap[1]]
        else:
            new_score, bars = midiforge.vary(engine, score, 0.3, request.track, request.sampling, seed=request.seed)
            changed = bars
        label = "Regenerated" if request.mode == "regenerate" else "Varied"
        where = (f"bars {changed[0]}-{changed[1]}" if request.gap is not None
                 else "bars " + ", ".join(map(str, changed)))
        keep = {k: parent.meta[k] for k in ("style", "key", "tempo", "bars", "progression", "chords", "settings")
                if k in parent.meta}
        meta = {**keep, "kind": request.mode, "parent": parent.id, "track": request.track,
                "bars_changed": changed, "gap": request.gap is not None,
                "title": f"{label} {where} ({request.track}) of {parent.meta.get('title', parent.id)}"}
        return [self.history.add(new_score, meta).id]


def midiforge_score(path: Path):
    from midiforge.generation.infill import load_song

    return load_song(path)


def _plain(meta: dict) -> dict:
    """JSON-safe piece metadata."""
    return {k: v if isinstance(v, str | int | float | bool | list | type(None)) else str(v) for k, v in meta.items()}


def _title(style: str, meta: dict) -> str:
    return " ".join(str(x) for x in (style, meta.get("key", ""), f"{meta.get('tempo', 0):.0f} bpm") if x)


def _settings(request: GenerateRequest) -> dict:
    o = request.options
    return {"style": request.style, "key": o.key, "chords": o.chords, "tempo": o.tempo, "meter": o.meter,
            "bars": o.bars, "seconds": o.seconds, "drums": o.drums, "temperature": o.sampling.temperature,
            "velocity_temperature": o.sampling.velocity_temperature, "dynamics": o.dynamics,
            "seed": o.sampling.seed, "n": o.n}
