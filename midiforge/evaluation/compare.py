"""``evaluate()``: load both sets, compute every feature, compare them, check originality."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from midiforge.evaluation.harmony import harmony_scores
from midiforge.evaluation.metrics import FEATURES, piece_features
from midiforge.evaluation.originality import originality
from midiforge.evaluation.overlap import Stat, compare_feature
from midiforge.evaluation.pieces import PieceNotes, PieceSet, load_pieces, resolve_midi_files
from midiforge.evaluation.report import (
    EvaluationReport,
    EvaluationSettings,
    FeatureResult,
    HarmonySummary,
    SetSummary,
)

Source = str | Path | Sequence[str | Path]


def _files(source: Source, what: str, limit: int | None, seed: int) -> tuple[str, list[Path]]:
    if isinstance(source, str | Path):
        # a prepared dataset as reference means its held-out files; as training data, its train files
        label, files = (
            str(source),
            resolve_midi_files(source, what, split="train" if what == "training" else "val"),
        )
    else:
        label, files = f"{len(source)} files", [Path(p) for p in source]
    if limit is not None and len(files) > limit:  # a seeded sample keeps large corpora fast
        chosen = np.random.default_rng(seed).choice(len(files), size=limit, replace=False)
        files = [files[i] for i in sorted(chosen)]
    return label, files


def _load(source: Source, what: str, limit: int | None, seed: int, progress) -> PieceSet:
    label, files = _files(source, what, limit, seed)
    task = progress.add_task(f"reading {what}", total=len(files), info="") if progress is not None else None
    tick = (lambda _path: progress.advance(task)) if task is not None else None
    return load_pieces(files, label, on_file=tick)


def _usable(values: list) -> np.ndarray:
    """Indices of values without NaN (undefined features are left out of the statistics)."""
    return np.array(
        [i for i, v in enumerate(values) if not np.isnan(np.asarray(v, dtype=float)).any()], dtype=int
    )


def _summary(values: list, scalar: bool) -> Stat | list[float]:
    if scalar:
        return Stat.of(np.asarray(values, dtype=float))
    if not values:
        return []
    return np.mean(np.stack([np.asarray(v, dtype=float) for v in values]), axis=0).ravel().tolist()


def _same_pieces(generated: list[PieceNotes], reference: list[PieceNotes]) -> set[tuple[int, int]]:
    where = {p.path.resolve(): j for j, p in enumerate(reference)}
    return {(i, where[p.path.resolve()]) for i, p in enumerate(generated) if p.path.resolve() in where}


def compare_sets(
    generated: list[PieceNotes], reference: list[PieceNotes], settings: EvaluationSettings
) -> tuple[list[FeatureResult], dict[str, dict[str, list[float]]], list[dict]]:
    """Per-feature statistics and Yang & Lerch comparison; also the per-file scalar values."""
    gen_features = [piece_features(p) for p in generated]
    ref_features = [piece_features(p) for p in reference]
    same = _same_pieces(generated, reference)
    results, distributions = [], {}
    for feature in FEATURES:
        gen_values = [f[feature.name] for f in gen_features]
        ref_values = [f[feature.name] for f in ref_features]
        gen_keep, ref_keep = _usable(gen_values), _usable(ref_values)
        gen_pos = {int(i): k for k, i in enumerate(gen_keep)}
        ref_pos = {int(j): k for k, j in enumerate(ref_keep)}
        skip = [(gen_pos[i], ref_pos[j]) for i, j in same if i in gen_pos and j in ref_pos]
        gen_ok, ref_ok = [gen_values[i] for i in gen_keep], [ref_values[j] for j in ref_keep]
        overlap = compare_feature(
            feature.name, gen_ok, ref_ok, same_pieces=skip, max_pairs=settings.max_pairs, seed=settings.seed
        )
        scalar = feature.is_scalar
        results.append(
            FeatureResult(
                feature.name,
                feature.label,
                feature.unit,
                scalar,
                _summary(gen_ok, scalar),
                _summary(ref_ok, scalar),
                overlap,
            )
        )
        if scalar:
            distributions[feature.name] = {
                "generated": [float(v) for v in gen_values],
                "reference": [float(v) for v in ref_values],
            }
    per_file = [
        {"path": str(p.path), **{k: float(v) for k, v in f.items() if np.ndim(v) == 0}}
        for p, f in zip(generated, gen_features, strict=True)
    ]
    return results, distributions, per_file


def summarize_harmony(pieces: list[PieceNotes]) -> tuple[HarmonySummary, list]:
    scores = [harmony_scores(p) for p in pieces]
    chord = [s.chord_tone_ratio for s in scores if s.multitrack and not np.isnan(s.chord_tone_ratio)]
    key = [s.in_key_ratio for s in scores if not np.isnan(s.in_key_ratio)]
    summary = HarmonySummary(
        files=len(pieces),
        multitrack_files=sum(s.multitrack for s in scores),
        chord_tone_ratio=float(np.mean(chord)) if chord else float("nan"),
        in_key_ratio=float(np.mean(key)) if key else float("nan"),
    )
    return summary, scores


def evaluate(
    generated: Source,
    reference: Source,
    *,
    training: Source | None = None,
    settings: EvaluationSettings | None = None,
    progress=None,
) -> EvaluationReport:
    """Compare generated MIDI with reference music (folder, file list or corpus name).

    ``training`` is what originality is checked against (default: the reference). ``progress`` is
    an optional ``rich.progress.Progress`` to report on.
    """
    settings = settings or EvaluationSettings()
    gen = _load(generated, "generated", None, settings.seed, progress)
    ref = _load(reference, "reference", settings.max_reference_files, settings.seed, progress)
    train = ref if training is None else _load(training, "training", None, settings.seed, progress)

    features, distributions, per_file = compare_sets(gen.pieces, ref.pieces, settings)
    gen_harmony, gen_scores = summarize_harmony(gen.pieces)
    ref_harmony, _ = summarize_harmony(ref.pieces)
    for row, scores in zip(per_file, gen_scores, strict=True):
        row.update(chord_tone_ratio=scores.chord_tone_ratio, in_key_ratio=scores.in_key_ratio)

    task = progress.add_task("originality", total=len(gen), info="") if progress is not None else None
    copies = originality(
        gen.pieces,
        train.pieces,
        ngram_notes=settings.ngram_notes,
        copy_threshold_notes=settings.copy_threshold_notes,
        on_file=(lambda _p: progress.advance(task)) if task is not None else None,
    )
    for row, result in zip(per_file, copies.files, strict=True):
        row.update(longest_copied_notes=result.longest_copied_notes, ngram_overlap=result.ngram_overlap)
    return EvaluationReport(
        settings=settings,
        generated=SetSummary(gen.source, len(gen), gen.skipped),
        reference=SetSummary(ref.source, len(ref), ref.skipped),
        features=features,
        harmony={"generated": gen_harmony, "reference": ref_harmony},
        originality=copies,
        originality_against=train.source,
        per_file=per_file,
        distributions=distributions,
    )
