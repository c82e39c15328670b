"""The report's figure: per-feature distributions of generated vs reference music.

Uses matplotlib's object API (``Figure``) rather than pyplot, so it neither needs a display nor
changes the backend of a notebook that calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midiforge.evaluation.metrics import NOTE_LENGTH_CLASSES

if TYPE_CHECKING:
    from midiforge.evaluation.report import EvaluationReport

GENERATED_COLOR = "#d9480f"
REFERENCE_COLOR = "#1864ab"
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _scalar_panel(ax, label: str, unit: str, generated: list[float], reference: list[float]) -> None:
    values = np.array([v for v in generated + reference if v is not None and np.isfinite(v)])
    if not len(values):
        ax.set_axis_off()
        return
    lo, hi = float(values.min()), float(values.max())
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
    for data, color, name in (
        (reference, REFERENCE_COLOR, "reference"),
        (generated, GENERATED_COLOR, "generated"),
    ):
        finite = [v for v in data if v is not None and np.isfinite(v)]
        if finite:
            ax.hist(
                finite, bins=bins, density=True, alpha=0.5, color=color, label=f"{name} (n={len(finite)})"
            )
    ax.set_title(label, fontsize=9)
    ax.set_xlabel(unit, fontsize=8)
    ax.tick_params(labelsize=7)


def _bars_panel(ax, title: str, labels, generated, reference) -> None:
    x = np.arange(len(labels))
    ax.bar(x - 0.2, np.nan_to_num(np.asarray(reference, float)), 0.4, color=REFERENCE_COLOR, alpha=0.8)
    ax.bar(x + 0.2, np.nan_to_num(np.asarray(generated, float)), 0.4, color=GENERATED_COLOR, alpha=0.8)
    ax.set_xticks(x, labels, rotation=60, fontsize=6)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def _overlap_panel(ax, report: EvaluationReport) -> None:
    names = [f.name for f in report.features]
    oa = [f.overlap.overlap_area for f in report.features]
    ax.barh(np.arange(len(names)), np.nan_to_num(np.asarray(oa, float)), color="#2b8a3e")
    ax.set_yticks(np.arange(len(names)), [n.replace("_", " ") for n in names], fontsize=6)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title("Overlapping area (intra-ref vs inter)", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)


def plot_distributions(report: EvaluationReport, path: str | Path) -> None:
    """Write a PNG grid: one histogram per scalar feature, mean histograms, and the OA per feature."""
    from matplotlib.figure import Figure

    scalars = [f for f in report.features if f.scalar]
    panels = len(scalars) + 3
    cols = 4
    rows = int(np.ceil(panels / cols))
    fig = Figure(figsize=(cols * 3.6, rows * 2.9))
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.1, top=0.9, hspace=0.75, wspace=0.3)  # fixed: fast
    axes = fig.subplots(rows, cols).ravel()
    for ax, feature in zip(axes, scalars, strict=False):
        dist = report.distributions.get(feature.name, {})
        _scalar_panel(ax, feature.label, feature.unit, dist.get("generated", []), dist.get("reference", []))
    rest = iter(axes[len(scalars) :])
    by_name = {f.name: f for f in report.features}
    if "pitch_class_histogram" in by_name:
        f = by_name["pitch_class_histogram"]
        _bars_panel(next(rest), "Mean pitch-class histogram", PITCH_CLASSES, f.generated, f.reference)
    if "note_length_histogram" in by_name:
        f = by_name["note_length_histogram"]
        labels = [name for name, _ in NOTE_LENGTH_CLASSES]
        _bars_panel(next(rest), "Mean note-length histogram", labels, f.generated, f.reference)
    _overlap_panel(next(rest), report)
    for ax in rest:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles[:2], ["reference", "generated"], loc="upper center", ncols=2, fontsize=9)
    fig.savefig(str(path), format="png", dpi=100)
