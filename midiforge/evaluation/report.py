"""The evaluation report: a dataclass with JSON output, rich tables, and atomic saving with its PNG."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midiforge import atomic
from midiforge.evaluation.originality import OriginalityReport
from midiforge.evaluation.overlap import FeatureOverlap, Stat
from midiforge.evaluation.perplexity import PerplexityResult
from midiforge.settings import setting

REPORT_NAME = "report.json"
FIGURE_NAME = "distributions.png"


@dataclass(frozen=True)
class EvaluationSettings:
    """Knobs of one evaluation (all saved in the report; each help is also its ``evaluate`` option's)."""

    ngram_notes: int = setting(8, "Notes per n-gram for the overlap share.", flags="--ngram", minimum=2, maximum=64)
    copy_threshold_notes: int = setting(16, "A generated file that shares a passage of this many notes with the "
                                            "training data is flagged as copied.", flags="--copy-threshold", minimum=2)
    max_pairs: int = setting(5000, "Distances per KDE (seeded subsample above).", minimum=10)
    seed: int = setting(0, "Seed for every subsample (results are deterministic).")
    max_reference_files: int | None = setting(None, "Use a seeded sample of the reference set.", minimum=2)


@dataclass(frozen=True)
class SetSummary:
    source: str
    files: int
    skipped: dict[str, str]


@dataclass(frozen=True)
class FeatureResult:
    """One feature: the value distribution in each set and Yang & Lerch's comparison."""

    name: str
    label: str
    unit: str
    scalar: bool
    generated: Stat | list[float]  # mean/std for scalars, the mean vector for histograms
    reference: Stat | list[float]
    overlap: FeatureOverlap


@dataclass(frozen=True)
class HarmonySummary:
    files: int
    multitrack_files: int
    chord_tone_ratio: float  # mean over multi-track files
    in_key_ratio: float


@dataclass
class EvaluationReport:
    """Everything ``midiforge evaluate`` measured; ``to_json()`` is what it saves."""

    settings: EvaluationSettings
    generated: SetSummary | None = None
    reference: SetSummary | None = None
    features: list[FeatureResult] = field(default_factory=list)
    harmony: dict[str, HarmonySummary] = field(default_factory=dict)
    originality: OriginalityReport | None = None
    originality_against: str = ""
    per_file: list[dict[str, Any]] = field(default_factory=list)
    #: scalar feature -> {"generated": [...], "reference": [...]} per-file values (for plots)
    distributions: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    perplexity: PerplexityResult | None = None

    def feature(self, name: str) -> FeatureResult:
        for result in self.features:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        data = _plain(asdict(self))
        if self.originality is not None:
            data["originality"].update(
                against=self.originality_against,
                max_copied_notes=self.originality.max_copied_notes,
                mean_ngram_overlap=_plain(self.originality.mean_ngram_overlap),
                copied_files=[f.path for f in self.originality.copied_files],
            )
        data.pop("originality_against")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def perplexity_only(cls, result: PerplexityResult) -> EvaluationReport:
        return cls(settings=EvaluationSettings(), perplexity=result)


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy to Python, NaN/inf to None."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def save_report(report: EvaluationReport, out_dir: str | Path, plot: bool = True) -> list[Path]:
    """Write ``report.json`` (and ``distributions.png`` when there are feature distributions) atomically."""
    out_dir = Path(out_dir)
    written = [atomic.write_text(out_dir / REPORT_NAME, report.to_json() + "\n")]
    if plot and report.features:
        from midiforge.evaluation.plots import plot_distributions

        with atomic.atomic_path(out_dir / FIGURE_NAME) as tmp:
            plot_distributions(report, tmp)
        written.append(out_dir / FIGURE_NAME)
    return written


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _fmt_stat(stat: Stat | list[float]) -> str:
    if isinstance(stat, Stat):
        return f"{_fmt(stat.mean)} ± {_fmt(stat.std)}"
    return "(histogram)"


def feature_table(report: EvaluationReport):
    """Rich table: each feature's values in both sets and Yang & Lerch's OA/KLD."""
    from rich.table import Table

    table = Table(title="Features: generated vs reference (OA near 1 and KLD near 0 = alike)")
    for column in ("feature", "generated", "reference", "intra gen", "intra ref", "inter", "OA", "KLD"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for f in report.features:
        o = f.overlap
        table.add_row(
            f.label,
            _fmt_stat(f.generated),
            _fmt_stat(f.reference),
            _fmt(o.intra_generated.mean),
            _fmt(o.intra_reference.mean),
            _fmt(o.inter.mean),
            _fmt(o.overlap_area),
            _fmt(o.kl_divergence),
        )
    return table


def harmony_table(report: EvaluationReport):
    from rich.table import Table

    table = Table(title="Harmonic coherence")
    for column in ("set", "files", "multi-track", "chord tones on strong beats", "melody in key"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for name, h in report.harmony.items():
        table.add_row(
            name, str(h.files), str(h.multitrack_files), _fmt(h.chord_tone_ratio), _fmt(h.in_key_ratio)
        )
    return table


def originality_table(report: EvaluationReport, rows: int = 5):
    """The files with the longest passages found in the training/reference data."""
    from rich.table import Table

    o = report.originality
    table = Table(
        title=f"Originality against {report.originality_against}: longest copied passage "
        f"(flag at {o.copy_threshold_notes} notes), {o.ngram_notes}-note overlap"
    )
    for column in ("generated file", "longest copy (notes)", "copied from", f"{o.ngram_notes}-gram overlap"):
        table.add_column(column, justify="left" if "file" in column or "from" in column else "right")
    for f in sorted(o.files, key=lambda f: -f.longest_copied_notes)[:rows]:
        flag = " [red](copied)[/red]" if f.longest_copied_notes >= o.copy_threshold_notes else ""
        table.add_row(
            Path(f.path).name,
            f"{f.longest_copied_notes}{flag}",
            f.longest_copied_from or "-",
            _fmt(f.ngram_overlap),
        )
    return table


def render(report: EvaluationReport, console) -> None:
    """Print the report as rich tables on ``console``."""
    if report.generated is not None and report.reference is not None:
        console.print(
            f"[bold]{report.generated.files}[/bold] generated files ({report.generated.source}) vs "
            f"[bold]{report.reference.files}[/bold] reference files ({report.reference.source})"
        )
        for summary in (report.generated, report.reference):
            if summary.skipped:
                console.print(
                    f"[yellow]skipped {len(summary.skipped)} unreadable/empty files in {summary.source}[/yellow]"
                )
    if report.features:
        console.print(feature_table(report))
    if report.harmony:
        console.print(harmony_table(report))
    if report.originality is not None:
        console.print(originality_table(report))
        copied = report.originality.copied_files
        style = "red" if copied else "green"
        console.print(
            f"[{style}]{len(copied)} of {len(report.originality.files)} generated files copy a passage of "
            f"{report.originality.copy_threshold_notes}+ notes[/{style}]; mean "
            f"{report.originality.ngram_notes}-gram overlap {_fmt(report.originality.mean_ngram_overlap)}"
        )
    if report.perplexity is not None:
        p = report.perplexity
        console.print(
            f"Perplexity of {p.checkpoint} on {p.data} ({p.split}): [bold]{p.perplexity:.3f}[/bold] "
            f"(mean NLL {p.mean_nll:.4f} nats over {p.tokens} tokens, {p.sequences} windows of ≤{p.seq_len})"
        )
