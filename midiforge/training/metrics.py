"""Training monitoring: metrics.csv, train.log, TensorBoard events (when installed) and training.png."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from midiforge import atomic

COLUMNS = [
    "step",
    "epoch",
    "train_loss",
    "val_loss",
    "val_acc",
    "lr",
    "tokens_per_s",
    "tokens_seen",
    "elapsed_s",
]


class MetricsLog:
    """Keeps every row in memory (it is small) so files can be rewritten atomically and a resumed
    run continues the same history. ``train.log`` gets a line per row and per event as it happens,
    so a run watched from another terminal (or killed) shows how far it got."""

    def __init__(
        self, out: Path, rows: list[dict[str, Any]] | None = None, tensorboard: bool = True, files: bool = True
    ) -> None:
        self.out = out
        self.rows: list[dict[str, Any]] = list(rows or [])
        self.log_path: Path | None = out / "train.log" if files else None
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=str(out / "tensorboard"))
            except ImportError:  # tensorboard is optional (pip install 'midiforge[tensorboard]')
                self.writer = None

    def note(self, text: str) -> None:
        """Append one timestamped line to ``train.log`` (appended, never rewritten: it is the
        history of every run in this folder)."""
        if self.log_path is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {text}\n")

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.note(" ".join(f"{k} {_fmt(v)}" for k, v in row.items() if v is not None))
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and value is not None:
                    self.writer.add_scalar(key, value, row["step"])

    def write_csv(self) -> Path:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
        return atomic.write_text(self.out / "metrics.csv", buf.getvalue())

    def write_plot(self) -> Path | None:
        """Loss (train and validation) and validation accuracy against the step."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        train = [(r["step"], r["train_loss"]) for r in self.rows if r.get("train_loss") is not None]
        val = [(r["step"], r["val_loss"], r["val_acc"]) for r in self.rows if r.get("val_loss") is not None]
        if not train and not val:
            return None
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        if train:
            ax_loss.plot(*zip(*train, strict=True), label="train", lw=1)
        if val:
            ax_loss.plot([v[0] for v in val], [v[1] for v in val], "o-", label="validation")
            ax_acc.plot([v[0] for v in val], [v[2] for v in val], "o-", color="tab:green")
        ax_loss.set(xlabel="step", ylabel="cross-entropy loss", title="loss")
        ax_loss.legend()
        ax_acc.set(xlabel="step", ylabel="token accuracy", title="validation accuracy")
        fig.tight_layout()
        with atomic.atomic_path(self.out / "training.png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        return self.out / "training.png"

    def flush(self) -> None:
        self.write_csv()
        self.write_plot()
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)
