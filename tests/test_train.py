"""The shared trainer on a small real dataset (Bach chorales from music21's corpus, REMI tokens)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from midiforge.errors import MidiforgeError
from midiforge.models import load_checkpoint, save_checkpoint
from midiforge.training import TrainConfig, train
from midiforge.training.config import build_config, read_config_file, read_recipe

CHUNK = 65  # tokens per stored sequence (x/y windows of 64)
TINY_TRANSFORMER = {"d_model": 32, "n_layers": 2, "n_heads": 4, "dropout": 0.1}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the CI box is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_dataset(folder: Path, codec, splits: dict[str, list[list[int]]]) -> Path:
    """Write the on-disk dataset format with the data package's own writer."""
    from midiforge.data.dataset import SplitWriter

    folder.mkdir(parents=True, exist_ok=True)
    codec.save(folder / "codec.json")
    for split, seqs in splits.items():
        writer = SplitWriter(folder, split)
        writer.add(np.concatenate(seqs), [len(s) for s in seqs])
        writer.close()
    meta = {
        "pad_id": codec.pad_id,
        "corpus": "music21 bach (test)",
        "sequences": {k: len(v) for k, v in splits.items()},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="session")
def chorales(tmp_path_factory) -> Path:
    """10 Bach chorales -> REMI tokens (BOS ... EOS) cut in 65-token sequences; 8 train, 2 val."""
    music21 = pytest.importorskip("music21")
    import symusic

    from midiforge.data.codec import Codec

    codec = Codec()
    tmp = tmp_path_factory.mktemp("chorales")
    paths = [p for p in music21.corpus.getComposer("bach") if str(p).endswith(".mxl")][:10]
    pieces = []
    for i, p in enumerate(paths):
        midi = tmp / f"{i}.mid"
        music21.corpus.parse(p).write("midi", fp=str(midi))
        ids = [codec.bos_id, *codec.tokenizer.encode(symusic.Score(str(midi))).ids, codec.eos_id]
        pieces.append([ids[s : s + CHUNK] for s in range(0, len(ids) - 1, CHUNK - 1)])
    splits = {"train": [s for p in pieces[:8] for s in p], "val": [s for p in pieces[8:] for s in p]}
    return write_dataset(tmp / "dataset", codec, {k: [np.array(s) for s in v] for k, v in splits.items()})


def tiny_config(data: Path, out: Path, **changes) -> TrainConfig:
    base = dict(
        model="music-transformer", model_config=dict(TINY_TRANSFORMER), data=[str(data)], out=str(out),
        batch_size=8, seq_len=64, lr=3e-3, warmup_steps=5, epochs=2, log_interval=1, progress=False, seed=7,
    )
    base.update(changes)
    return TrainConfig(**base)


def train_losses(history) -> list[tuple[int, float]]:
    return [(r["step"], r["train_loss"]) for r in history if r.get("train_loss") is not None]


def test_loss_falls_and_outputs_are_written(chorales, tmp_path):
    result = train(tiny_config(chorales, tmp_path / "run", epochs=3, sample_interval=20, sample_tokens=48))
    vals = [r["val_loss"] for r in result.history if r.get("val_loss") is not None]
    assert len(vals) == 3  # one validation per epoch
    assert vals[-1] < vals[0] < math.log(415)  # below chance (415 tokens), and still falling
    assert result.best_val_loss == min(vals)
    assert result.stopped == "completed"
    for name in ("best.safetensors", "last.safetensors", "last.state.pt", "metrics.csv", "training.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert list((tmp_path / "run" / "samples").glob("step_*.mid"))
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("step,epoch,train_loss,val_loss,val_acc")
    loaded = load_checkpoint(result.best)
    assert loaded.meta["training"]["val_loss"] == pytest.approx(result.best_val_loss)
    assert loaded.codec.vocab_size == loaded.model.config.vocab_size == 415
    assert loaded.meta["training"]["tokens_seen"] == result.tokens_seen > 0


@pytest.mark.slow
def test_resume_after_a_crash_reproduces_the_uninterrupted_run(chorales, tmp_path):
    """Crash at step 11 (last checkpoint at step 8, mid-epoch), resume: same losses as one run."""
    full = train(tiny_config(chorales, tmp_path / "a", checkpoint_interval=4))

    def crash(step, info):
        if step == 11:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_config(chorales, tmp_path / "b", checkpoint_interval=4), on_step=crash)
    state = torch.load(tmp_path / "b" / "last.state.pt", weights_only=True)
    assert state["position"]["step"] == 8
    resumed = train(tiny_config(chorales, tmp_path / "b", checkpoint_interval=4, resume=True))
    assert resumed.steps == full.steps > 11
    steps, losses = zip(*train_losses(resumed.history), strict=True)
    full_steps, full_losses = zip(*train_losses(full.history), strict=True)
    assert steps == full_steps == tuple(range(1, full.steps + 1))
    assert losses == pytest.approx(full_losses, abs=1e-6)
    assert resumed.best_val_loss == pytest.approx(full.best_val_loss, abs=1e-6)


def test_crash_while_writing_keeps_the_previous_best(chorales, tmp_path, monkeypatch):
    result = train(tiny_config(chorales, tmp_path / "run", epochs=1))
    before = load_checkpoint(result.best)
    size = result.best.stat().st_size

    import safetensors.torch

    def dies_half_way(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 1000)  # a partial file, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(result.best, before.model, "music-transformer", before.meta["codec"])
    monkeypatch.undo()
    assert result.best.stat().st_size == size
    after = load_checkpoint(result.best)
    ids = torch.randint(0, 382, (1, 20))
    torch.testing.assert_close(after.model(ids), before.model(ids))
    assert not [p for p in result.best.parent.iterdir() if p.name.endswith(".tmp")]

    # a file truncated by something else is refused with a clear message
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(result.best.read_bytes()[: size // 3])
    with pytest.raises(MidiforgeError, match="corrupt or truncated"):
        load_checkpoint(truncated)
    state = tmp_path / "run" / "last.state.pt"
    state.write_bytes(state.read_bytes()[:500])
    with pytest.raises(MidiforgeError, match="corrupt or truncated"):
        train(tiny_config(chorales, tmp_path / "run", epochs=1, resume=True))


def test_early_stopping_and_max_steps(chorales, tmp_path):
    limited = train(tiny_config(chorales, tmp_path / "a", max_steps=3))
    assert (limited.stopped, limited.steps) == ("max_steps", 3)
    assert limited.best is not None  # a final validation still picks a best checkpoint
    early = train(tiny_config(chorales, tmp_path / "b", lr=1.0, epochs=6, eval_interval=2, patience=2))
    assert early.stopped == "early_stopping"
    again = train(tiny_config(chorales, tmp_path / "b", lr=1.0, epochs=6, eval_interval=2, patience=2))
    assert (again.stopped, again.steps, again.history) == ("already_complete", early.steps, early.history)


def test_hf_model_trains_and_generates(chorales, tmp_path):
    pytest.importorskip("transformers")
    cfg = tiny_config(chorales, tmp_path / "hf", model="hf-gpt2", model_config={"d_model": 32, "n_layers": 2, "n_heads": 4},
                      max_steps=6, epochs=1)
    result = train(cfg)
    losses = [loss for _, loss in train_losses(result.history)]
    assert result.steps == 6 and losses[-1] < losses[0]
    loaded = load_checkpoint(result.last)
    assert loaded.meta["model"] == "hf-gpt2"
    from midiforge.training.sampling import sample_ids

    ids = sample_ids(loaded.model, [loaded.codec.bos_id], 10, generator=torch.Generator().manual_seed(0))
    assert len(ids) >= 2


def test_accumulation_bf16_and_the_cosine_schedule(chorales, tmp_path):
    from midiforge.training.schedule import warmup_cosine

    result = train(tiny_config(chorales, tmp_path / "acc", accumulate=2, precision="bf16", max_steps=12,
                               warmup_steps=3, min_lr_ratio=0.1))
    rows = [r for r in result.history if r.get("train_loss") is not None]
    assert result.steps == 12 and all(math.isfinite(r["train_loss"]) for r in rows)
    micro_batch = 8 * 64  # batch_size x seq_len targets, padding not counted
    assert 12 * micro_batch < result.tokens_seen <= 12 * 2 * micro_batch  # two micro-batches an optimizer step
    for r in rows:  # the logged rate is the schedule's: linear warm-up, then cosine to 0.1 x lr
        assert r["lr"] == pytest.approx(3e-3 * warmup_cosine(r["step"], 3, 12, 0.1), rel=1e-3), r
    assert rows[-1]["lr"] == pytest.approx(3e-4, rel=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm", "hf-mistral"])
def test_other_model_plugins_train_and_generate(chorales, tmp_path, model):
    if model.startswith("hf-"):
        pytest.importorskip("transformers")
    opts = {"lstm": {"hidden_size": 32, "n_layers": 1}, "hf-mistral": {"d_model": 32, "n_layers": 1, "n_heads": 4}}
    result = train(tiny_config(chorales, tmp_path / model, model=model, model_config=opts[model], max_steps=6,
                               epochs=1, lr=1e-2))
    losses = [loss for _, loss in train_losses(result.history)]
    assert result.steps == 6 and losses[-1] < losses[0]
    from midiforge.generation import SamplingConfig, StyleOptions, generate

    files = generate("melody", StyleOptions(n=1, bars=1, sampling=SamplingConfig(seed=1)), model=result.last,
                     backend="torch", out=tmp_path / "out").files
    assert len(files) == 1 and files[0].stat().st_size > 0


def test_config_layers_recipe_and_bad_options(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("epochs = 3\nlr = 0.001\n[model_config]\nd_model = 64\n")
    yaml = tmp_path / "c.yaml"
    yaml.write_text("epochs: 5\nmodel_config:\n  n_layers: 2\n")
    cfg = build_config(read_config_file(toml), read_config_file(yaml), {"lr": 0.002})
    assert (cfg.epochs, cfg.lr, cfg.model_config) == (5, 0.002, {"d_model": 64, "n_layers": 2})
    recipe = build_config(read_recipe("default"))
    assert recipe.model == "music-transformer" and recipe.data == ["datasets/band"]
    assert len(build_config(read_recipe("chorales-folk")).data) == 2  # the first default model's recipe
    with pytest.raises(MidiforgeError, match="unknown training option"):
        build_config({"learning_rate": 1})
    with pytest.raises(MidiforgeError, match="unknown recipe"):
        read_recipe("nope")
    with pytest.raises(MidiforgeError, match="not found"):
        read_config_file(tmp_path / "missing.toml")
    with pytest.raises(MidiforgeError, match="not found"):
        train(TrainConfig(data=[str(tmp_path / "no-such-dataset")], progress=False))


def test_cli_trains_with_flags_and_model_options(chorales, tmp_path):
    from midiforge.cli import cli
    from midiforge.cli.common import run_cli

    out = tmp_path / "cli"
    code = run_cli(cli, ["train", "--data", str(chorales), "--data", str(chorales), "--out", str(out),
                         "--max-steps", "2", "--batch-size", "4", "--seq-len", "64", "--no-progress",
                         "--model-opt", "d_model=32", "--model-opt", "n_layers=1", "--model-opt", "positional=relative"])
    assert code == 0
    meta = load_checkpoint(out / "last.safetensors").meta
    assert meta["model_config"]["positional"] == "relative" and meta["training"]["step"] == 2
    assert run_cli(cli, ["train", "--data", str(chorales), "--model-opt", "nonsense"]) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(chorales, tmp_path):
    out = tmp_path / "ddp"
    midiforge = Path(sys.executable).parent / "midiforge"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           str(midiforge), "train", "--data", str(chorales), "--out", str(out), "--device", "cpu",
           "--max-steps", "4", "--batch-size", "4", "--seq-len", "64", "--no-progress", "--log-interval", "1",
           "--model-opt", "d_model=32", "--model-opt", "n_layers=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = load_checkpoint(out / "last.safetensors").meta["training"]
    assert meta["processes"] == 2 and meta["step"] == 4
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) > 4


def test_rerun_into_a_run_folder_continues_it_and_overwrites_nothing(chorales, tmp_path):
    out = tmp_path / "run"
    first = train(tiny_config(chorales, out, max_steps=4))
    saved = {name: (out / name).read_bytes() for name in ("best.safetensors", "last.safetensors", "last.state.pt")}
    again = train(tiny_config(chorales, out, max_steps=4))  # the same command once more
    assert (again.stopped, again.steps) == ("already_complete", 4)
    assert {name: (out / name).read_bytes() for name in saved} == saved
    assert again.history == first.history
    longer = train(tiny_config(chorales, out, max_steps=6))  # asked for more: it continues
    assert longer.steps == 6 and [s for s, _ in train_losses(longer.history)] == list(range(1, 7))
    log = (out / "train.log").read_text()
    assert "continuing the run" in log and "at step 4" in log and "finished (max_steps) at step 6" in log

    (out / "last.state.pt").unlink()  # checkpoints without a state: refused, nothing replaced
    best = (out / "best.safetensors").read_bytes()
    with pytest.raises(MidiforgeError, match="already holds best.safetensors, last.safetensors .* new --out"):
        train(tiny_config(chorales, out, max_steps=2))
    assert (out / "best.safetensors").read_bytes() == best


def test_a_resumable_checkpoint_is_saved_on_a_time_interval(chorales, tmp_path):
    def crash(step, info):
        if step == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):  # long before the first epoch ends
        train(tiny_config(chorales, tmp_path / "run", checkpoint_minutes=1e-9), on_step=crash)
    state = torch.load(tmp_path / "run" / "last.state.pt", weights_only=True)
    assert state["position"]["step"] == 3
    assert "stopped by an error at step 3" in (tmp_path / "run" / "train.log").read_text()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_config(chorales, tmp_path / "off", checkpoint_minutes=0), on_step=crash)
    assert not (tmp_path / "off" / "last.state.pt").exists()


@pytest.mark.slow
def test_kill_after_the_first_save_and_rerun_resumes_without_temporary_files(chorales, tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    midiforge = Path(sys.executable).parent / "midiforge"
    cmd = [str(midiforge), "train", "--data", str(chorales), "--out", str(out), "--epochs", "100",
           "--max-steps", "150", "--batch-size", "8", "--seq-len", "64", "--log-interval", "1", "--no-progress",
           "--checkpoint-minutes", "0.002", "--model-opt", "d_model=32", "--model-opt", "n_layers=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "last.state.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    killed_at = torch.load(out / "last.state.pt", weights_only=True)["position"]["step"]
    assert 0 < killed_at < 150
    (out / ".training.png.k1ll3d.tmp").write_bytes(b"")  # what a kill during a write leaves

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"continuing the run in {out} at step {killed_at}" in " ".join(rerun.stderr.split())
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    train_steps = [int(r[0]) for r in rows if r[2]]
    assert train_steps == list(range(1, 151))  # every step once: nothing lost, nothing repeated
    assert not [p for p in out.rglob("*.tmp")]
    assert load_checkpoint(out / "last.safetensors").meta["training"]["step"] == 150


def test_a_foreign_state_file_is_refused_with_midiforge_s_own_message(chorales, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"x": _Evil(str(marker))}, out / "last.state.pt")
    with pytest.raises(MidiforgeError) as info:
        train(tiny_config(chorales, out, max_steps=2))
    message = str(info.value)
    assert "is not a midiforge training state" in message and "was not loaded" in message
    assert "weights_only" not in message and "\n" not in message
    assert not marker.exists()
    torch.save({"format": 99}, out / "last.state.pt")  # plain data, but not ours
    with pytest.raises(MidiforgeError, match="not a midiforge training state"):
        train(tiny_config(chorales, out, max_steps=2))


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_validation_rows_carry_the_epoch_and_checkpoints_are_0644(chorales, tmp_path):
    umask = os.umask(0o022)
    try:
        result = train(tiny_config(chorales, tmp_path / "run", max_steps=4, eval_interval=2))
    finally:
        os.umask(umask)
    val_rows = [r for r in result.history if r.get("val_loss") is not None]
    train_epoch = {r["step"]: r["epoch"] for r in result.history if r.get("train_loss") is not None}
    assert [r["step"] for r in val_rows] == [2, 4]
    assert all(0 < r["epoch"] == train_epoch[r["step"]] < 1 for r in val_rows)
    csv_rows = [line.split(",") for line in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    assert [float(r[1]) for r in csv_rows if r[3]] == [r["epoch"] for r in val_rows]
    for name in ("best.safetensors", "last.safetensors", "last.state.pt", "metrics.csv"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_init_from_grows_the_trained_model_into_a_bigger_one(chorales, tmp_path):
    from midiforge.training.trainer import Trainer

    small = train(tiny_config(chorales, tmp_path / "small", epochs=1))
    bigger = dict(TINY_TRANSFORMER, n_layers=4, d_ff=256, dropout=0.0)
    trainer = Trainer(tiny_config(chorales, tmp_path / "big", model_config=bigger, init_from=str(small.best)))
    loaded = load_checkpoint(small.best)
    ids = torch.randint(0, 415, (2, 32))
    with torch.no_grad():
        assert torch.allclose(trainer.model.eval()(ids), loaded.model(ids), atol=1e-5)
    with pytest.raises(MidiforgeError, match="checkpoint .* not found"):
        Trainer(tiny_config(chorales, tmp_path / "none", init_from=str(tmp_path / "missing.safetensors")))


def test_the_wsd_schedule_stays_at_its_peak_then_decays():
    from midiforge.training.schedule import decay_steps, warmup_stable_decay

    assert decay_steps(100, 0) == 20 and decay_steps(100, 30) == 30 and decay_steps(10, 30) == 10
    m = [warmup_stable_decay(s, 5, 100, 20, 0.1) for s in range(100)]
    assert m[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert m[5:80] == [1.0] * 75  # stable until the last 20 steps
    assert all(a > b for a, b in zip(m[79:], m[80:], strict=False))  # then falls every step
    assert m[-1] == pytest.approx(0.1)


@pytest.mark.slow
def test_a_wsd_run_lengthened_from_its_stable_state_is_the_longer_run(chorales, tmp_path):
    """A 20-step wsd run saves stable.state.pt where its decay begins (step 16); branching from it
    to 30 steps trains exactly as one 30-step run, in a folder of its own."""
    short = train(tiny_config(chorales, tmp_path / "short", lr_schedule="wsd", decay_steps=4, max_steps=20,
                              epochs=100, eval_interval=8))
    stable = tmp_path / "short" / "stable.state.pt"
    assert short.steps == 20 and torch.load(stable, weights_only=True)["position"]["step"] == 16
    rows = [r for r in short.history if r.get("train_loss") is not None]
    assert [r["lr"] for r in rows if 5 <= r["step"] <= 15] == pytest.approx([3e-3] * 11)  # the peak
    assert rows[-1]["lr"] == pytest.approx(3e-4)

    long = train(tiny_config(chorales, tmp_path / "long", lr_schedule="wsd", decay_steps=4, max_steps=30,
                             epochs=100, eval_interval=8))
    branch = train(tiny_config(chorales, tmp_path / "branch", lr_schedule="wsd", decay_steps=4, max_steps=30,
                               epochs=100, eval_interval=8, branch_from=str(stable),
                               init_from=str(tmp_path / "short" / "best.safetensors")))  # as a recipe may say: ignored
    assert branch.steps == long.steps == 30
    steps, losses = zip(*train_losses(branch.history), strict=True)
    long_steps, long_losses = zip(*train_losses(long.history), strict=True)
    assert steps == long_steps == tuple(range(1, 31))  # the stable run's rows carried on
    assert losses == pytest.approx(long_losses, abs=1e-6)
    assert branch.best_val_loss == pytest.approx(long.best_val_loss, abs=1e-6)
    assert load_checkpoint(branch.best).meta["training"]["step"] > 16  # this folder's best is its own
    assert (tmp_path / "branch" / "stable.state.pt").is_file()  # at step 26, to lengthen it again

    wsd = dict(lr_schedule="wsd", epochs=100)
    with pytest.raises(MidiforgeError, match="give --seed 7 to continue it"):
        train(tiny_config(chorales, tmp_path / "reseeded", **wsd, max_steps=30, seed=8, branch_from=str(stable)))
    with pytest.raises(MidiforgeError, match="not before this run's decay begins"):
        train(tiny_config(chorales, tmp_path / "too-short", **wsd, decay_steps=4, max_steps=20, branch_from=str(stable)))
    with pytest.raises(MidiforgeError, match="while its learning rate was decaying"):  # the end of the decay
        train(tiny_config(chorales, tmp_path / "late", **wsd, max_steps=60,
                          branch_from=str(tmp_path / "short" / "last.state.pt")))
    for into in ("short", "short2"):  # the run it comes from, finished or not
        with pytest.raises(MidiforgeError, match="branch into a new --out"):
            train(tiny_config(chorales, tmp_path / into, **wsd, max_steps=30,
                              branch_from=str(tmp_path / into / "stable.state.pt")))
    again = train(tiny_config(chorales, tmp_path / "branch2", **wsd, decay_steps=4, max_steps=30, lr=1e-3,
                              branch_from=str(tmp_path / "short")))  # a run folder: its stable.state.pt
    rates = [r["lr"] for r in again.history if r.get("train_loss") and 17 <= r["step"] <= 25]
    assert rates == pytest.approx([1e-3] * 9)  # a new --lr is this run's peak
    with pytest.raises(MidiforgeError, match="lengthens a wsd run"):
        tiny_config(chorales, tmp_path / "x", branch_from=str(stable))
