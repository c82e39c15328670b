"""benchmarks/learning_curve.py on hand-made metrics: the table's rows and the falling/flat verdict."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.scripts import load_script

HEADER = "step,epoch,train_loss,val_loss,val_acc,lr,tokens_per_s,tokens_seen,elapsed_s\n"


def _curve():
    return load_script("benchmarks/learning_curve.py")


def _run(tmp_path: Path, losses: list[float]) -> Path:
    """A run whose rate rises all along (one schedule) with these validation losses."""
    return _schedules(tmp_path, [(1e-4 * i, loss) for i, loss in enumerate(losses, start=1)])


def test_a_loss_that_keeps_falling_is_still_falling(tmp_path, capsys):
    curve = _curve()
    run = _run(tmp_path, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    evals = curve.read_evaluations(run)
    assert [(e.step, e.tokens_seen, e.val_loss) for e in evals][:2] == [(50, 1000, 1.0), (100, 2000, 0.9)]
    falling, gain = curve.still_falling(evals, window=2, min_delta=0.01)
    assert falling and abs(gain - 0.2) < 1e-9
    assert curve.main([str(run), "--window", "2"]) == 0
    out = capsys.readouterr().out
    assert "| 300 | 0.01 M | 6.00e-04 | **0.5000** | 70.0 % |" in out and "still falling" in out


def test_a_flat_tail_has_stopped_falling(tmp_path, capsys):
    curve = _curve()
    run = _run(tmp_path, [1.0, 0.8, 0.7, 0.7005, 0.6995, 0.7001])
    falling, gain = curve.still_falling(curve.read_evaluations(run), window=3, min_delta=0.002)
    assert not falling and abs(gain - 0.0005) < 1e-9
    assert curve.main([str(run), "--window", "3"]) == 0
    assert "stopped falling" in capsys.readouterr().out


def test_a_folder_without_metrics_is_a_one_line_error(tmp_path, capsys):
    assert _curve().main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_final_evaluation_between_logging_steps_carries_the_last_tokens_and_rate(tmp_path):
    run = _run(tmp_path, [1.0, 0.9])
    with (run / "metrics.csv").open("a") as f:
        f.write("113,0.1,,0.85,0.7,,,,1\n")  # a run stopped on --max-minutes evaluates once more
    last = _curve().read_evaluations(run)[-1]
    assert (last.step, last.tokens_seen, last.lr) == (113, 2000, 2e-4)


def _schedules(tmp_path: Path, rows: list[tuple[float, float]]) -> Path:
    """metrics.csv with (learning rate, validation loss) at every 50 steps."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for i, (lr, loss) in enumerate(rows, start=1):
        lines.append(f"{i * 50},0.1,0.6,,,{lr},1000,{i * 1000},1\n")
        lines.append(f"{i * 50},0.1,,{loss},0.7,,,,1\n")
    (tmp_path / "metrics.csv").write_text("".join(lines))
    return tmp_path


FIRST = [(1e-4, 0.9), (3e-4, 0.85), (2e-4, 0.8), (1e-4, 0.75), (6e-5, 0.74)]  # warm-up, then a cosine


def test_a_warm_restart_is_judged_by_what_its_schedule_bought(tmp_path):
    """A restart raises the rate and, for a while, the loss: its first evaluations are no verdict."""
    curve = _curve()
    rising = _schedules(tmp_path, FIRST + [(2e-4, 0.76), (1.8e-4, 0.75)])  # restarted, above the best so far
    evals = curve.read_evaluations(rising)
    assert [len(p) for p in curve.schedules(evals)] == [5, 2]
    verdict = curve.judge(evals, window=2, min_delta=0.002)
    assert verdict.falling and "running" in verdict.basis  # no finished restart yet: not judged flat

    gained = _schedules(tmp_path, FIRST + [(2e-4, 0.76), (1e-4, 0.72), (6e-5, 0.70)])
    verdict = curve.judge(curve.read_evaluations(gained), window=2, min_delta=0.002)
    assert verdict.falling and abs(verdict.gain - 0.04) < 1e-9

    flat = _schedules(tmp_path, FIRST + [(2e-4, 0.76), (1e-4, 0.745), (6.5e-5, 0.7395)])
    verdict = curve.judge(curve.read_evaluations(flat), window=2, min_delta=0.002)
    assert not verdict.falling and abs(verdict.gain - 0.0005) < 1e-9 and "finished" in verdict.basis


def test_a_running_restart_leans_on_the_last_finished_one(tmp_path, capsys):
    curve = _curve()
    second = [(2e-4, 0.76), (1e-4, 0.72), (6e-5, 0.70)]  # gained 0.04
    run = _schedules(tmp_path, FIRST + second + [(1.5e-4, 0.71), (1.4e-4, 0.705)])
    verdict = curve.judge(curve.read_evaluations(run), window=2, min_delta=0.002)
    assert verdict.falling and abs(verdict.gain - 0.04) < 1e-9 and "from step 300" in verdict.basis
    assert curve.main([str(run)]) == 0
    out = capsys.readouterr().out
    assert "warm restart from step 450: best 0.7050" in out and "still falling" in out


def test_runs_started_from_each_other_read_as_one_curve(tmp_path, capsys):
    """``learning_curve.py A B``: B (``train --init-from`` A's weights) is a schedule of its own, counted
    on from A's end, even where its rate never jumps above A's."""
    curve = _curve()
    first = _schedules(tmp_path / "a", FIRST)
    gentle = [(5e-5, 0.745), (3e-5, 0.7395), (2e-5, 0.7391)]  # lower than where A ended: no jump to split at
    second = _schedules(tmp_path / "b", gentle)
    parts = curve.chain([curve.read_evaluations(first), curve.read_evaluations(second)])
    assert [len(p) for p in parts] == [5, 3]
    assert [e.step for e in parts[1]] == [300, 350, 400] and parts[1][0].tokens_seen == 6000
    verdict = curve.judge([e for p in parts for e in p], window=2, min_delta=0.002, parts=parts)
    assert not verdict.falling and abs(verdict.gain - 0.0009) < 1e-9 and "from step 300, finished" in verdict.basis
    assert curve.main([str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "| 400 | 0.01 M | 2.00e-05 | **0.7391** | 70.0 % |" in out and "stopped falling" in out
    assert curve.main([str(first), str(tmp_path / "missing")]) == 2


def test_a_wsd_branch_is_judged_against_the_run_it_branched_from(tmp_path, capsys):
    """``learning_curve.py A B`` where B branched (``--branch-from``) from A's stable phase: B's
    metrics carry A's first rows; its own rows keep their steps and are judged against A's best."""
    curve = _curve()
    stable = [(1e-4, 0.9), (3e-4, 0.85), (3e-4, 0.82), (3e-4, 0.81)]  # warm-up, then the peak
    first = _schedules(tmp_path / "a", stable + [(1e-4, 0.78), (3e-5, 0.77)])  # A decays over its last two
    longer = _schedules(tmp_path / "b", stable + [(3e-4, 0.80), (3e-4, 0.79), (1e-4, 0.76), (3e-5, 0.75)])
    parts = curve.chain([curve.read_evaluations(first), curve.read_evaluations(longer)])
    assert [len(p) for p in parts] == [6, 4]
    assert [e.step for e in parts[1]] == [250, 300, 350, 400]  # B's own steps, not shifted after A's end
    verdict = curve.judge([e for p in parts for e in p], window=2, min_delta=0.002, parts=parts)
    assert verdict.falling and abs(verdict.gain - 0.02) < 1e-9  # 0.77 -> 0.75
    assert curve.main([str(first), str(longer)]) == 0
    out = capsys.readouterr().out
    assert "branch from step 250: best 0.7500 at step 400" in out and "still falling" in out


def test_a_branch_in_a_longer_chain_keeps_its_source_s_offset(tmp_path):
    """OLD, NEW (--init-from OLD), LONG (branched from NEW): LONG's rows sit where NEW's do, and a branch
    with no evaluation of its own yet adds nothing."""
    curve = _curve()
    old = _schedules(tmp_path / "old", FIRST)  # ends at step 250
    stable = [(1e-4, 0.74), (3e-4, 0.73)]
    new = _schedules(tmp_path / "new", stable + [(3e-5, 0.72)])
    long = _schedules(tmp_path / "long", stable + [(3e-4, 0.725), (3e-5, 0.70)])
    fresh = _schedules(tmp_path / "fresh", stable)
    runs = [curve.read_evaluations(p) for p in (old, new, long)]
    parts = curve.chain(runs)
    assert [[e.step for e in p] for p in parts] == [[50, 100, 150, 200, 250], [300, 350, 400], [400, 450]]
    assert len(curve.chain(runs[:2] + [curve.read_evaluations(fresh)])) == 2
