"""``analyze``: per-file and summary statistics of a folder of MIDI files or a corpus.

Per file: tempo, time signature, duration, tracks and GM programs, note count, pitch range,
onset polyphony (notes sounding at each onset; ``evaluate``'s polyphony is a mean over time),
estimated key and the roles midiforge would assign. Summary: distributions of the same, written as
a JSON report and PNG histograms. Bad files are listed with their reason.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midiforge import atomic
from midiforge.data.midi_io import BadMidi, LoadLimits, load_score
from midiforge.data.roles import find_roles
from midiforge.data.sources import resolve_source
from midiforge.data.workers import WorkerDied, run_jobs
from midiforge.errors import MidiforgeError
from midiforge.music.keys import estimate_key

ProgressFn = Callable[[str, int, int], None]


@dataclass
class AnalysisReport:
    """What :func:`analyze` found; ``files`` holds one dict per file (``status`` ok/skipped)."""

    corpus: str
    files: list[dict[str, Any]]
    summary: dict[str, Any]
    pitch_histogram: list[int] = field(default_factory=lambda: [0] * 128)
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "summary": self.summary,
            "pitch_histogram": self.pitch_histogram,
            "files": self.files,
        }


def onset_polyphony(starts: np.ndarray, ends: np.ndarray) -> tuple[float, int]:
    """(mean, max) number of notes sounding at each note onset."""
    if len(starts) == 0:
        return 0.0, 0
    s, e = np.sort(starts), np.sort(ends)
    onsets = np.unique(starts)
    sounding = np.searchsorted(s, onsets, side="right") - np.searchsorted(e, onsets, side="right")
    return float(sounding.mean()), int(sounding.max())


def file_stats(
    path: Path, roles_map: dict[str, str], limits: LoadLimits
) -> tuple[dict[str, Any], np.ndarray]:
    """Statistics of one file and its pitch histogram; never raises (bad files get a reason)."""
    info: dict[str, Any] = {"file": str(path), "status": "skipped"}
    histogram = np.zeros(128, dtype=np.int64)
    try:
        score = load_score(path, limits)
        pitched = [t for t in score.tracks if len(t.notes) and not t.is_drum]
        arrays = [t.notes.numpy() for t in pitched]
        pitches = np.concatenate([a["pitch"] for a in arrays]) if arrays else np.zeros(0, dtype=np.int64)
        starts = (
            np.concatenate([a["time"] for a in arrays]).astype(np.int64)
            if arrays
            else np.zeros(0, dtype=np.int64)
        )
        ends = starts + (np.concatenate([a["duration"] for a in arrays]) if arrays else 0)
        durations = (ends - starts) / score.ticks_per_quarter
        mean_poly, max_poly = onset_polyphony(starts, ends)
        ts = score.time_signatures[0] if len(score.time_signatures) else None
        histogram += np.bincount(pitches, minlength=128)[:128]
        info.update(
            status="ok",
            tempo_bpm=round(float(score.tempos[0].qpm), 2) if len(score.tempos) else 120.0,
            tempo_changes=max(0, len(score.tempos) - 1),
            time_signature=f"{ts.numerator}/{ts.denominator}" if ts else "4/4 (default)",
            duration_s=round(float(score.to("second").end()), 2),
            tracks=sum(1 for t in score.tracks if len(t.notes)),
            programs=sorted(
                {"drums" if t.is_drum else int(t.program) for t in score.tracks if len(t.notes)}, key=str
            ),
            notes=int(score.note_num()),
            pitch_min=int(pitches.min()) if len(pitches) else None,
            pitch_max=int(pitches.max()) if len(pitches) else None,
            onset_polyphony_mean=round(mean_poly, 2),
            onset_polyphony_max=max_poly,
            key=estimate_key(pitches, durations).name if len(pitches) else None,
            roles={r: len(v) for r, v in find_roles(score, roles_map).items()},
        )
    except BadMidi as exc:
        info["reason"] = str(exc)
    except Exception as exc:  # one strange file never stops an analysis
        info["reason"] = f"failed: {type(exc).__name__}: {exc}"
    return info, histogram


_WORKER: dict[str, Any] = {}


def _init(roles_map: dict[str, str], limits: LoadLimits) -> None:
    _WORKER.update(roles=roles_map, limits=limits)


def _stats_one(path: str) -> tuple[dict[str, Any], np.ndarray]:
    return file_stats(Path(path), _WORKER["roles"], _WORKER["limits"])


def _numbers(files: list[dict[str, Any]], key: str) -> list[float]:
    return [float(f[key]) for f in files if f.get(key) is not None]


def _describe(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {
        k: round(float(v), 2)
        for k, v in (("min", arr.min()), ("median", np.median(arr)), ("mean", arr.mean()), ("max", arr.max()))
    }


def summarize(files: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [f for f in files if f["status"] == "ok"]
    programs: Counter[str] = Counter(str(p) for f in ok for p in f["programs"])
    return {
        "files": len(files),
        "ok": len(ok),
        "skipped": len(files) - len(ok),
        "skip_reasons": dict(Counter(f["reason"] for f in files if f["status"] != "ok").most_common()),
        "total_notes": int(sum(f["notes"] for f in ok)),
        "total_hours": round(sum(f["duration_s"] for f in ok) / 3600, 3),
        "tempo_bpm": _describe(_numbers(ok, "tempo_bpm")),
        "duration_s": _describe(_numbers(ok, "duration_s")),
        "notes": _describe(_numbers(ok, "notes")),
        "onset_polyphony_mean": _describe(_numbers(ok, "onset_polyphony_mean")),
        "pitch_range": [
            min((f["pitch_min"] for f in ok if f["pitch_min"] is not None), default=None),
            max((f["pitch_max"] for f in ok if f["pitch_max"] is not None), default=None),
        ],
        "time_signatures": dict(Counter(f["time_signature"] for f in ok).most_common()),
        "keys": dict(Counter(f["key"] for f in ok if f["key"]).most_common()),
        "tracks": dict(sorted(Counter(str(f["tracks"]) for f in ok).items(), key=lambda kv: int(kv[0]))),
        "programs": dict(programs.most_common(20)),
        "roles": dict(Counter(r for f in ok for r in f["roles"]).most_common()),
    }


def write_histograms(report: AnalysisReport, out: Path) -> dict[str, str]:
    """PNG histograms of tempo, duration, notes, polyphony, pitch and key (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [f for f in report.files if f["status"] == "ok"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    panels = [
        ("tempo (bpm)", _numbers(ok, "tempo_bpm")),
        ("duration (s)", _numbers(ok, "duration_s")),
        ("notes per file", _numbers(ok, "notes")),
        ("mean polyphony at onsets", _numbers(ok, "onset_polyphony_mean")),
    ]
    for ax, (title, values) in zip(axes.flat[:4], panels, strict=True):
        ax.hist(values, bins=30, color="#4c72b0")
        ax.set_title(title)
    axes.flat[4].bar(range(128), report.pitch_histogram, color="#55a868", width=1.0)
    axes.flat[4].set_title("pitch (MIDI number)")
    keys = report.summary["keys"]
    axes.flat[5].barh(list(keys)[:24][::-1], list(keys.values())[:24][::-1], color="#c44e52")
    axes.flat[5].set_title("estimated key")
    axes.flat[5].tick_params(axis="y", labelsize=7)
    fig.suptitle(f"{report.corpus}: {report.summary['ok']} files")
    fig.tight_layout()
    target = out / "histograms.png"
    with atomic.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return {"histograms": str(target)}


def analyze(
    path: str | Path | None = None,
    corpus: str | None = None,
    out: str | Path | None = None,
    limit: int | None = None,
    workers: int = 2,
    progress: ProgressFn | None = None,
    limits: LoadLimits | None = None,
    overwrite: bool = False,
) -> AnalysisReport:
    """Analyze ``path`` (folder/file) or ``corpus``; with ``out``, write ``analysis.json`` and
    ``histograms.png`` there, or in ``out-2``, ``out-3``, ... when ``out`` already holds an
    analysis (unless ``overwrite``): an earlier analysis is never replaced by accident."""
    started = time.perf_counter()
    limits = limits or LoadLimits()
    source = resolve_source(
        path, corpus, limit, workers, (lambda d, t: progress("convert", d, t)) if progress else None
    )
    jobs = [str(f) for f in source.files]
    histogram = np.zeros(128, dtype=np.int64)

    if progress:
        progress("analyze", 0, len(jobs))
    if workers <= 1 or len(jobs) <= 1:
        _init(source.roles, limits)
        results = enumerate(map(_stats_one, jobs))
    else:
        results = run_jobs(_stats_one, jobs, workers, initializer=_init, initargs=(source.roles, limits))
    by_index: dict[int, dict[str, Any]] = {}
    for index, result in results:
        if isinstance(result, WorkerDied):  # reported like any other file that could not be read
            info, hist = {"file": jobs[index], "status": "skipped", "reason": result.reason}, 0
        else:
            info, hist = result
        info["name"] = source.relative(Path(info["file"]))
        by_index[index] = info
        histogram += hist
        if progress:
            progress("analyze", len(by_index), len(jobs))
    infos = [by_index[i] for i in sorted(by_index)]
    report = AnalysisReport(
        corpus=source.corpus, files=infos, summary=summarize(infos), pitch_histogram=histogram.tolist()
    )
    report.summary["seconds"] = round(time.perf_counter() - started, 2)
    if not report.summary["ok"]:  # an analysis of nothing is a failure, not an empty report
        reasons = ", ".join(f"{n} x {why}" for why, n in report.summary["skip_reasons"].items())
        raise MidiforgeError(f"no file could be analyzed ({reasons}); nothing written")
    if out is not None:
        out = claim_folder(Path(out), overwrite)
        try:
            if report.summary["ok"]:
                report.outputs.update(write_histograms(report, out))
            report.outputs["json"] = str(out / "analysis.json")
            atomic.write_text(
                out / "analysis.json", json.dumps(dict(report.to_dict(), outputs=report.outputs), indent=1)
            )
        except BaseException:
            if (out / "analysis.json").stat().st_size == 0:  # our own claim, still empty
                (out / "analysis.json").unlink()
            raise
    return report


def claim_folder(out: Path, overwrite: bool = False) -> Path:
    """``out``, or the first of ``out-2``, ``out-3``, ... without an ``analysis.json``; the claim
    (an empty ``analysis.json`` created exclusively) keeps two concurrent analyses apart."""
    for k in itertools.count(1):
        folder = out if k == 1 else out.with_name(f"{out.name}-{k}")
        folder.mkdir(parents=True, exist_ok=True)
        if overwrite:
            return folder
        try:
            os.close(os.open(folder / "analysis.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return folder
        except FileExistsError:
            continue
    raise AssertionError("unreachable")
