"""``prepare``: tokenize a corpus into a training dataset (see ``midiforge.data.dataset``).

Each file is processed by a worker process into ``DATASET/.work/<config>/<file key>.npz`` (its
examples, or the reason it was skipped). That per-file result is the done-marker: a re-run skips
files already done and only re-assembles the split arrays, so an interrupted run resumes where
it stopped and a repeated run is idempotent. Train/validation are split by file, never by
segment, so no piece leaks into validation through a transposed or neighbouring segment.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midiforge import atomic
from midiforge.data.codec import Codec, params_to_json
from midiforge.data.dataset import SplitWriter
from midiforge.data.encoding import encode_piece
from midiforge.data.examples import ExampleOptions, piece_examples
from midiforge.data.midi_io import DEFAULT_MAX_MB, DEFAULT_MAX_NOTES, BadMidi, LoadLimits, load_score
from midiforge.data.roles import find_roles, views_for
from midiforge.data.sources import Source, resolve_source
from midiforge.data.vocab import ROLES
from midiforge.data.workers import WorkerDied, run_jobs
from midiforge.errors import MidiforgeError
from midiforge.settings import setting

#: progress(stage, done, total); stages: "convert", "tokenize"
ProgressFn = Callable[[str, int, int], None]


@dataclass
class PrepareOptions:
    """Everything that changes the produced examples (part of the resume fingerprint); the help of each
    field is also its ``midiforge prepare`` option's."""

    tokenizer: str = setting("remi", "Tokenizer plugin (see `midiforge plugins`; it must produce REMI-style "
                                     "Bar/Position tokens).")
    tokenizer_params: dict[str, Any] = field(default_factory=dict)
    max_seq_len: int = setting(512, "Maximum tokens per training example.")
    transpose_low: int = -5  # the CLI's --transpose LOW:HIGH, in semitones
    transpose_high: int = 6
    infill_prob: float = setting(0.25, "Share of segments that also yield an infilling example.")
    val_fraction: float = setting(0.05, "Share of files (not segments) held out for validation.")
    seed: int = setting(0, "Seed for the split and infilling choices.")
    max_file_mb: float = setting(DEFAULT_MAX_MB, "Skip files larger than this.")
    max_notes: int = DEFAULT_MAX_NOTES

    def validate(self) -> None:
        if not 32 <= self.max_seq_len <= 65535:
            raise MidiforgeError(f"--max-seq-len must be within 32..65535, got {self.max_seq_len}")
        if not -11 <= self.transpose_low <= 0 <= self.transpose_high <= 11:
            raise MidiforgeError("transposition range must include 0 and stay within -11..11")
        if not 0.0 <= self.infill_prob <= 1.0:
            raise MidiforgeError(f"--infill-prob must be within 0..1, got {self.infill_prob}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise MidiforgeError(f"--val-fraction must be within 0..1, got {self.val_fraction}")

    def example_options(self) -> ExampleOptions:
        return ExampleOptions(
            self.max_seq_len, tuple(range(self.transpose_low, self.transpose_high + 1)), self.infill_prob
        )


@dataclass
class PrepareSummary:
    out: Path
    corpus: str
    files: int
    prepared: int
    skipped: int
    resumed: int
    skip_reasons: dict[str, int]
    sequences: dict[str, int]
    tokens: dict[str, int]
    split_files: dict[str, int]
    vocab_size: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


# ---------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _init_worker(codec_dict: dict[str, Any], options: dict[str, Any], roles: dict[str, str]) -> None:
    _WORKER["codec"] = Codec.from_dict(codec_dict)
    _WORKER["options"] = PrepareOptions(**options)
    _WORKER["roles"] = roles


def _file_seed(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha1(f"{seed}:{key}".encode()).digest()[:8], "little")


def process_file(
    codec: Codec, path: Path, options: PrepareOptions, roles_map: dict[str, str]
) -> tuple[dict, dict[str, np.ndarray]]:
    """One file -> (info, arrays). Bad input gives status ``skipped`` with a reason; never raises."""
    info: dict[str, Any] = {"file": str(path), "status": "skipped"}
    try:
        score = load_score(path, LoadLimits(options.max_file_mb, options.max_notes))
        roles = find_roles(score, roles_map)
        views = views_for(roles)
        if not views:
            raise BadMidi("no usable tracks")
        piece = encode_piece(codec, score, roles, views)
        if not piece.views:
            raise BadMidi("no notes in the tokenizer's pitch range")
        rng = np.random.default_rng(_file_seed(options.seed, path.name))
        examples = list(piece_examples(codec, piece.views, options.example_options(), rng))
        if not examples:
            raise BadMidi("no notes in the tokenizer's pitch range")
    except BadMidi as exc:
        info["reason"] = str(exc)
        return info, {}
    except Exception as exc:  # an unexpected failure on one file must not stop the run
        info["reason"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        return info, {}
    arrays = {
        "tokens": np.concatenate([e.ids for e in examples]).astype(np.uint16),
        "lengths": np.array([len(e.ids) for e in examples], dtype=np.int64),
        "roles": np.array([ROLES.index(e.role) for e in examples], dtype=np.int8),
        "infill": np.array([e.infill for e in examples], dtype=bool),
    }
    info.update(
        status="ok",
        roles={r: len(v) for r, v in roles.items()},
        views=list(piece.views),
        key=piece.key.name if piece.key else None,
        tempo_bpm=round(piece.tempo_bpm, 2),
        meter=piece.meter,
        notes=piece.notes,
        sequences=len(examples),
        tokens=int(arrays["lengths"].sum()),
    )
    return info, arrays


def _work_one(job: tuple[str, str]) -> dict:
    path, result_path = job
    info, arrays = process_file(_WORKER["codec"], Path(path), _WORKER["options"], _WORKER["roles"])
    save_result(Path(result_path), info, arrays)
    return info


def save_result(target: Path, info: dict, arrays: dict[str, np.ndarray]) -> None:
    with atomic.atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, info=np.array(json.dumps(info)), **arrays)


def load_result(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path) as data:
        info = json.loads(str(data["info"]))
        arrays = {k: data[k] for k in data.files if k != "info"}
    return info, arrays


# ---------------------------------------------------------------- main side


def _file_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]


def _config_key(codec: Codec, options: PrepareOptions) -> str:
    relevant = {k: v for k, v in asdict(options).items() if k not in ("val_fraction",)}
    blob = json.dumps({"codec": codec.fingerprint(), "options": relevant}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def split_files(names: list[str], val_fraction: float, seed: int) -> set[str]:
    """Names going to validation: a seeded, order-independent choice of whole files."""
    if len(names) < 2 or val_fraction <= 0:
        return set()
    n_val = min(len(names) - 1, max(1, round(len(names) * val_fraction)))
    ranked = sorted(names, key=lambda n: hashlib.sha1(f"{seed}:{n}".encode()).hexdigest())
    return set(ranked[:n_val])


def _run_workers(
    jobs: list[tuple[str, str]],
    codec: Codec,
    options: PrepareOptions,
    roles: dict[str, str],
    workers: int,
    progress: ProgressFn | None,
) -> dict[str, dict]:
    """Process ``jobs``; returns the skip info of files whose worker process died on them (their
    result is not saved, so the next run tries them again)."""
    init_args = (codec.to_dict(), asdict(options), roles)
    lost: dict[str, dict] = {}
    if progress:
        progress("tokenize", 0, len(jobs))
    if workers <= 1 or len(jobs) <= 1:
        _init_worker(*init_args)
        results = enumerate(map(_work_one, jobs))
    else:
        results = run_jobs(_work_one, jobs, workers, initializer=_init_worker, initargs=init_args)
    for done, (index, result) in enumerate(results, 1):
        if isinstance(result, WorkerDied):
            path = jobs[index][0]
            lost[path] = {"file": path, "status": "skipped", "reason": result.reason}
        if progress:
            progress("tokenize", done, len(jobs))
    return lost


def prepare_dataset(
    out: str | Path,
    path: str | Path | None = None,
    corpus: str | None = None,
    options: PrepareOptions | None = None,
    limit: int | None = None,
    workers: int = 2,
    progress: ProgressFn | None = None,
) -> PrepareSummary:
    """Tokenize ``path`` (a folder of MIDI files) or ``corpus`` into a dataset at ``out``.

    Resumable and idempotent: per-file results are kept under ``out/.work`` and reused.
    """
    started = time.perf_counter()
    options = options or PrepareOptions()
    options.validate()
    if workers < 1:
        raise MidiforgeError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    created = not out.exists()
    codec = Codec(options.tokenizer, options.tokenizer_params)
    source = resolve_source(
        path, corpus, limit, workers, (lambda d, t: progress("convert", d, t)) if progress else None
    )
    atomic.sweep_stale(out)  # temporary files of a run killed mid-write
    work = out / ".work" / _config_key(codec, options)
    work.mkdir(parents=True, exist_ok=True)
    for stale in (out / ".work").iterdir():
        if stale != work and stale.is_dir():
            shutil.rmtree(stale)  # results of another configuration can never be reused
    results = {f: work / f"{_file_key(f)}.npz" for f in source.files}
    jobs = [(str(f), str(r)) for f, r in results.items() if not r.exists()]
    lost = _run_workers(jobs, codec, options, source.roles, workers, progress)
    try:
        summary = assemble(out, codec, source, results, options, lost)
    except NothingUsable:
        if created:  # a run that made nothing leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    summary.resumed = len(source.files) - len(jobs)
    summary.seconds = round(time.perf_counter() - started, 2)
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["summary"] = summary.to_dict()
    atomic.write_text(meta_path, json.dumps(meta, indent=2))
    return summary


class NothingUsable(MidiforgeError):
    """Every file was skipped: there is no dataset to write."""


def assemble(
    out: Path,
    codec: Codec,
    source: Source,
    results: dict[Path, Path],
    options: PrepareOptions,
    lost: dict[str, dict] | None = None,
) -> PrepareSummary:
    """Write the split arrays, codec.json, meta.json and report.json from per-file results
    (``lost``: files without a result, by path, with the reason). Refuses to write a dataset
    with no file in it: that is an error with the reasons, never an empty success."""
    lost = lost or {}
    infos = {f: lost.get(str(f)) or load_result(r)[0] for f, r in results.items()}
    ok = [f for f, info in infos.items() if info["status"] == "ok"]
    if not ok:
        reasons = Counter(info["reason"] for info in infos.values())
        raise NothingUsable(
            f"no file could be prepared ({', '.join(f'{n} x {why}' for why, n in reasons.most_common())}); "
            "no dataset written"
        )
    val_names = split_files([source.relative(f) for f in ok], options.val_fraction, options.seed)
    writers = {s: SplitWriter(out, s) for s in ("train", "val")}
    split_counts: Counter[str] = Counter()
    try:
        for f in ok:
            split = "val" if source.relative(f) in val_names else "train"
            infos[f]["split"] = split
            split_counts[split] += 1
            _, arrays = load_result(results[f])
            writers[split].add(arrays["tokens"], arrays["lengths"])
        for w in writers.values():
            w.close()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    codec.save(out / "codec.json")
    reasons = Counter(info["reason"] for info in infos.values() if info["status"] != "ok")
    summary = PrepareSummary(
        out=out,
        corpus=source.corpus,
        files=len(infos),
        prepared=len(ok),
        skipped=len(infos) - len(ok),
        resumed=0,
        skip_reasons=dict(reasons.most_common()),
        sequences={s: w.sequences for s, w in writers.items()},
        tokens={s: w.tokens for s, w in writers.items()},
        split_files={s: split_counts[s] for s in ("train", "val")},
        vocab_size=codec.vocab_size,
        seconds=0.0,
    )
    meta = {
        "corpus": source.corpus,
        "codec_fingerprint": codec.fingerprint(),
        "vocab_size": codec.vocab_size,
        "pad_id": codec.pad_id,
        "bos_id": codec.bos_id,
        "eos_id": codec.eos_id,
        "options": dict(asdict(options), tokenizer_params=params_to_json(options.tokenizer_params)),
        "val_files": sorted(val_names),
        "skipped": {source.relative(f): i["reason"] for f, i in infos.items() if i["status"] != "ok"},
        "summary": summary.to_dict(),
    }
    report = {"files": [dict(info, name=source.relative(f)) for f, info in infos.items()]}
    atomic.write_text(out / "report.json", json.dumps(report, indent=1))
    atomic.write_text(out / "meta.json", json.dumps(meta, indent=2))
    return summary
