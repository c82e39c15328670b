"""The report every exporter returns: what it wrote and how closely each file reproduces PyTorch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ArtifactCheck:
    """One written model file and how closely it reproduces the PyTorch logits."""

    path: Path
    size_bytes: int
    max_abs_err_full: float
    max_abs_err_step: float
    tolerance: float
    top1_agreement: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.max_abs_err_full <= self.tolerance and self.max_abs_err_step <= self.tolerance


@dataclass
class ExportReport:
    """What an exporter wrote and whether it validated (logits within ``tolerance`` of PyTorch)."""

    format: str
    checkpoint: Path
    artifacts: list[ArtifactCheck] = field(default_factory=list)
    extra_paths: list[Path] = field(default_factory=list)  # sidecars, not validated on their own
    method: str = ""  # how the exported model was run for validation
    written: bool = True  # False: validation failed, so nothing was moved to the output path

    @property
    def paths(self) -> list[Path]:
        return [a.path for a in self.artifacts] + list(self.extra_paths)

    @property
    def max_abs_err_full(self) -> float:
        return max((a.max_abs_err_full for a in self.artifacts), default=float("nan"))

    @property
    def max_abs_err_step(self) -> float:
        return max((a.max_abs_err_step for a in self.artifacts), default=float("nan"))

    @property
    def tolerance(self) -> float:
        return min((a.tolerance for a in self.artifacts), default=float("nan"))

    @property
    def passed(self) -> bool:
        return bool(self.artifacts) and all(a.passed for a in self.artifacts)


def path_size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory (an .mlpackage is a directory)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
