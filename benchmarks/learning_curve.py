"""Print a run's validation curve from its metrics.csv and say whether the loss is still falling.

    python benchmarks/learning_curve.py runs/default          # markdown table, each schedule's best, the verdict
    python benchmarks/learning_curve.py RUN --window 4 --min-delta 0.002
    python benchmarks/learning_curve.py runs/default-r2 runs/default-r3   # a run, then one started from its weights

A run resumed with a longer ``--max-steps`` stretches its cosine, so its learning rate jumps up (a
warm restart) and the loss rises for a while before it falls below its old best. The verdict is
therefore judged per schedule (the evaluations between two such jumps):

* "still falling": the newest schedule already beat the best before it by more than
  ``--min-delta`` nats/token, or, while it is still running (its learning rate not yet back down to
  where the schedule before it ended), the last finished schedule did;
* "stopped falling": a finished schedule (the newest one, once its learning rate is back down)
  gained no more than ``--min-delta`` on the best before it.

A run without restarts is judged on its last ``--window`` evaluations against the best before them.

Several run folders, each started from the one before's weights (``train --init-from``) on the same
validation set, read as one curve: each folder is a schedule of its own, its steps and tokens counted
on from where the folder before ended. A folder branched from the one before (``train --lr-schedule
wsd --branch-from OLD/stable.state.pt``) carries OLD's stable-phase rows; its own rows are one more
schedule at their own steps, judged against OLD's best (its decay included).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, replace
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


def chain(runs: list[list[Evaluation]]) -> list[list[Evaluation]]:
    """The schedules of runs that follow each other: every run's own schedules, its steps and tokens
    shifted to start where the run before it ended."""
    out: list[list[Evaluation]] = []
    step = tokens = 0  # where the last folder ended, on the chain's count
    previous: list[Evaluation] = []
    shift = (0, 0)  # the previous folder's offset
    for evals in runs:
        carried = _carried(previous, evals)
        if not carried:  # a run of its own: counted on from where the one before ended
            shift = (step, tokens)
        # else a wsd branch (``--branch-from``): the folder's steps, shifted as the one it branched from
        own = [replace(e, step=e.step + shift[0], tokens_seen=e.tokens_seen + shift[1]) for e in evals[carried:]]
        if own:
            out.extend([own] if carried else schedules(own))
            step, tokens = max(step, own[-1].step), max(tokens, own[-1].tokens_seen)
        previous = evals
    return out


def _carried(before: list[Evaluation], evals: list[Evaluation]) -> int:
    """How many leading evaluations ``evals`` shares with the run before it (a branch carries the
    stable phase's rows); 0 for a run of its own."""
    n = 0
    for a, b in zip(before, evals, strict=False):
        if (a.step, a.val_loss) != (b.step, b.val_loss):
            break
        n += 1
    return n


def still_falling(evals: list[Evaluation], window: int, min_delta: float) -> tuple[bool, float]:
    """Whether the last ``window`` evaluations improved the best loss by more than ``min_delta``, and by how much."""
    if len(evals) <= window:
        return True, float("nan")
    before = min(e.val_loss for e in evals[:-window])
    recent = min(e.val_loss for e in evals[-window:])
    return before - recent > min_delta, before - recent


RESTART_JUMP = 1.2  # a learning rate this many times the last evaluation's starts a new schedule
SETTLED = 1.25  # a schedule has ended once its rate is within this factor of where the one before ended


def schedules(evals: list[Evaluation]) -> list[list[Evaluation]]:
    """The evaluations split at every warm restart (a learning-rate jump after it had been falling;
    a schedule's warm-up, whose rate rises evaluation after evaluation, stays one schedule)."""
    out: list[list[Evaluation]] = []
    for e in evals:
        current = out[-1] if out else []
        warming_up = all(a.lr <= b.lr for a, b in zip(current, current[1:], strict=False))
        if not current or (not warming_up and current[-1].lr > 0 and e.lr > RESTART_JUMP * current[-1].lr):
            out.append([])
        out[-1].append(e)
    return out


@dataclass(frozen=True)
class Verdict:
    falling: bool
    gain: float  # nats/token the judged stretch beat the best before it by
    basis: str  # which evaluations were judged, in words


def judge(evals: list[Evaluation], window: int, min_delta: float,
          parts: list[list[Evaluation]] | None = None) -> Verdict:
    """Still falling or not, judged per schedule (see the module's docstring); ``parts``: the
    schedules when they are known otherwise (:func:`chain`), else split at the jumps of the rate."""
    parts = parts or schedules(evals)
    if len(parts) == 1:
        falling, gain = still_falling(evals, window, min_delta)
        return Verdict(falling, gain, f"the last {window} evaluations")
    gains = [min(e.val_loss for p in parts[:k] for e in p) - min(e.val_loss for e in parts[k])
             for k in range(1, len(parts))]
    newest, last_gain = parts[-1], gains[-1]
    start = newest[0].step
    if last_gain > min_delta:
        return Verdict(True, last_gain, f"the warm restart from step {start}")
    running = newest[-1].lr > SETTLED * parts[-2][-1].lr
    if running and len(gains) > 1:
        return Verdict(gains[-2] > min_delta, gains[-2],
                       f"the last finished restart, from step {parts[-2][0].step} (the one from step {start} "
                       f"is running, {-last_gain:.4f} above the best so far)")
    if running:
        return Verdict(True, last_gain, f"the warm restart from step {start}, still running")
    return Verdict(False, last_gain, f"the warm restart from step {start}, finished")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN",
                        help="a run folder (holds metrics.csv); more folders: each started from the one before")
    parser.add_argument("--window", type=int, default=4, help="evaluations judged as 'recent'")
    parser.add_argument("--min-delta", type=float, default=0.002, help="nats/token that count as falling")
    args = parser.parse_args(argv)
    runs = []
    for run in args.runs:
        if not (run / "metrics.csv").is_file():
            print(f"error: no metrics.csv in {run}", file=sys.stderr)
            return 2
        runs.append(read_evaluations(run))
        if not runs[-1]:
            print(f"error: {run}/metrics.csv has no validation rows yet", file=sys.stderr)
            return 2
    parts = chain(runs)
    evals = [e for part in parts for e in part]
    print("| step | tokens seen | learning rate | val loss | val accuracy |")
    print("| --- | --- | --- | --- | --- |")
    best = min(evals, key=lambda e: e.val_loss)
    for e in evals:
        loss = f"**{e.val_loss:.4f}**" if e is best else f"{e.val_loss:.4f}"
        print(f"| {e.step} | {e.tokens_seen / 1e6:.2f} M | {e.lr:.2e} | {loss} | {100 * e.val_acc:.1f} % |")
    for k, part in enumerate(parts):
        top = min(part, key=lambda e: e.val_loss)
        kind = "schedule" if k == 0 else "branch" if part[0].step <= parts[k - 1][-1].step else "warm restart"
        print(f"{kind} from step {part[0].step}: best {top.val_loss:.4f} "
              f"at step {top.step}, learning rate {part[0].lr:.2e} -> {part[-1].lr:.2e}")
    verdict = judge(evals, args.window, args.min_delta, parts)
    words = "still falling" if verdict.falling else "stopped falling"
    print(f"\nbest {best.val_loss:.4f} at step {best.step}; {verdict.basis} gained {verdict.gain:.4f} "
          f"nats/token on the best before it: {words} (threshold {args.min_delta})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
