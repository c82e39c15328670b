"""Print a run's validation curve from its metrics.csv and say whether the loss is still falling.

    python benchmarks/learning_curve.py ~/.cache/midiforge/runs/default          # markdown table
    python benchmarks/learning_curve.py RUN --window 4 --min-delta 0.002

"Still falling" means the best validation loss of the last ``--window`` evaluations beat the best
before them by more than ``--min-delta`` nats/token (the test ``--patience`` applies, over a window).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Evaluation:
    step: int
    tokens_seen: int
    val_loss: float
    val_acc: float
    lr: float


def read_evaluations(run: Path) -> list[Evaluation]:
    """Validation rows of ``run/metrics.csv``, with the tokens seen and learning rate of the last
    training row logged by then (a run that stops between logging steps evaluates once more)."""
    out = []
    train: dict = {}
    for row in csv.DictReader((run / "metrics.csv").open()):
        if row["train_loss"]:
            train = row
        if row["val_loss"]:
            out.append(Evaluation(int(row["step"]), int(float(train.get("tokens_seen") or 0)), float(row["val_loss"]),
                                  float(row["val_acc"] or 0), float(train.get("lr") or 0)))
    return out


def still_falling(evals: list[Evaluation], window: int, min_delta: float) -> tuple[bool, float]:
    """Whether the last ``window`` evaluations improved the best loss by more than ``min_delta``, and by how much."""
    if len(evals) <= window:
        return True, float("nan")
    before = min(e.val_loss for e in evals[:-window])
    recent = min(e.val_loss for e in evals[-window:])
    return before - recent > min_delta, before - recent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (holds metrics.csv)")
    parser.add_argument("--window", type=int, default=4, help="evaluations judged as 'recent'")
    parser.add_argument("--min-delta", type=float, default=0.002, help="nats/token that count as falling")
    args = parser.parse_args(argv)
    if not (args.run / "metrics.csv").is_file():
        print(f"error: no metrics.csv in {args.run}", file=sys.stderr)
        return 2
    evals = read_evaluations(args.run)
    if not evals:
        print(f"error: {args.run}/metrics.csv has no validation rows yet", file=sys.stderr)
        return 2
    print("| step | tokens seen | learning rate | val loss | val accuracy |")
    print("| --- | --- | --- | --- | --- |")
    best = min(evals, key=lambda e: e.val_loss)
    for e in evals:
        loss = f"**{e.val_loss:.4f}**" if e is best else f"{e.val_loss:.4f}"
        print(f"| {e.step} | {e.tokens_seen / 1e6:.2f} M | {e.lr:.2e} | {loss} | {100 * e.val_acc:.1f} % |")
    falling, gain = still_falling(evals, args.window, args.min_delta)
    verdict = "still falling" if falling else "stopped falling"
    print(f"\nbest {best.val_loss:.4f} at step {best.step}; the last {args.window} evaluations gained "
          f"{gain:.4f} nats/token on the best before them: {verdict} (threshold {args.min_delta})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
