"""The one trainer every model plugin uses (single process, or DDP under ``torchrun``).

Output folder: ``best.safetensors`` (lowest validation loss), ``last.safetensors`` +
``last.state.pt`` (exact resume: optimizer, scheduler, RNG, data position), ``metrics.csv``,
``train.log``, ``tensorboard/``, ``training.png`` and ``samples/step_N.mid``.

Nothing a run made is replaced by another run: a folder that holds ``last.state.pt`` is
continued (as with ``--resume``), one with checkpoints but no state is refused. ``last.*`` is
written every ``checkpoint_minutes`` as well, so a killed run loses minutes, not an epoch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import pickle
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from midiforge import contracts
from midiforge.atomic import atomic_path, sweep_stale
from midiforge.errors import MidiforgeError
from midiforge.models.base import config_to_dict
from midiforge.models.checkpoint import codec_from_dict, read_weights, save_checkpoint
from midiforge.training import data as datalib
from midiforge.training.config import TrainConfig
from midiforge.training.metrics import MetricsLog
from midiforge.training.runtime import (
    Dist,
    all_reduce_sum,
    autocast,
    autocast_dtype,
    close_distributed,
    init_distributed,
    pick_device,
    wait_for_all_ranks,
)
from midiforge.training.sampling import sample_ids, write_sample
from midiforge.training.schedule import decay_start, decay_steps, make_optimizer, make_scheduler

STATE_FORMAT = 1
#: wsd runs: the resume state where the decay begins, the point a longer run branches from
STABLE_STATE = "stable.state.pt"
#: Files of a finished or interrupted run; a new run never writes over them.
RUN_FILES = ("last.state.pt", "best.safetensors", "last.safetensors")


@dataclass
class Position:
    """Where training is: saved in ``last.state.pt`` so ``--resume`` continues exactly."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    batch: int = 0  # next optimizer step inside the epoch
    best_val: float = math.inf
    bad_evals: int = 0  # validations since the last improvement
    tokens_seen: int = 0
    elapsed_s: float = 0.0  # training wall time over all runs


@dataclass
class TrainResult:
    out: Path
    best: Path | None
    last: Path
    steps: int
    best_val_loss: float | None
    stopped: str  # completed | max_steps | max_minutes | early_stopping | already_complete
    tokens_seen: int
    wall_s: float
    history: list[dict[str, Any]] = field(default_factory=list)


StepCallback = Callable[[int, dict[str, Any]], None]


def train(config: TrainConfig, on_step: StepCallback | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.data``; see :class:`TrainConfig` for every option.

    ``on_step(step, info)`` is called after every optimizer step (info: loss, lr, epoch).
    Under ``torchrun`` every process calls this and they train one model with DDP.
    """
    info = init_distributed(config.device)
    try:
        result = Trainer(config, info).run(on_step)
        wait_for_all_ranks(info)
        return result
    finally:
        close_distributed(info)


class Trainer:
    def __init__(self, config: TrainConfig, info: Dist = Dist()) -> None:
        self.cfg, self.dist = config, info
        self.out = Path(config.out).expanduser()
        self.device = pick_device(config.device, info)
        self.amp = autocast_dtype(config.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.train_set, self.codec_dict = datalib.open_split(config.data, "train", config.seq_len)
        self.val_set, _ = datalib.open_split(config.data, "val", config.seq_len)
        self.role_tokens = datalib.role_token_counts(config.data, self.codec_dict)
        self.codec = self._codec_or_none()
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.model_name = config.model
        self.model = self._build_model().to(self.device)
        self.optimizer = make_optimizer(self.model, config.lr, config.weight_decay)
        per_rank = len(self.train_set) // info.world
        self.steps_per_epoch = per_rank // (config.batch_size * config.accumulate)
        if self.steps_per_epoch == 0:
            raise MidiforgeError(
                f"the training split has {len(self.train_set)} windows: too few for batch_size "
                f"{config.batch_size} x accumulate {config.accumulate} x {info.world} process(es)"
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps:
            self.total_steps = min(self.total_steps, config.max_steps)
        decay = decay_steps(self.total_steps, config.decay_steps)
        self.scheduler = make_scheduler(
            self.optimizer, config.warmup_steps, self.total_steps, config.min_lr_ratio, config.lr_schedule, decay
        )
        #: wsd: optimizer steps done when the decay begins (stable.state.pt is saved there)
        self.stable_until = decay_start(self.total_steps, decay) if config.lr_schedule == "wsd" else None
        self.pos = Position()
        history: list[dict[str, Any]] = []
        self.resumed = self._must_resume()
        if self.resumed:
            history = self._load_state()
        elif config.branch_from:
            history = self._branch()
        else:
            torch.manual_seed(config.seed + info.rank)  # per-rank dropout noise
        if info.main:
            sweep_stale(self.out)  # temporary files of a run that was killed mid-write
        self.log = MetricsLog(self.out, history, tensorboard=info.main, files=info.main)
        self.ddp = self._wrap_ddp()

    # ------------------------------------------------------------------ setup

    def _codec_or_none(self):
        try:
            codec = codec_from_dict(self.codec_dict)
        except Exception:  # sampling is optional; training only needs the vocabulary size
            return None
        return None if isinstance(codec, dict) else codec

    def _build_model(self):
        plugin = contracts.model(self.cfg.model)
        if "vocab_size" not in self.codec_dict:
            raise MidiforgeError(f"the codec of {self.cfg.data[0]} has no vocab_size")
        values = {"vocab_size": int(self.codec_dict["vocab_size"]), "max_seq_len": self.cfg.seq_len}
        values.update(self.cfg.model_config)
        if values["max_seq_len"] < self.cfg.seq_len:
            raise MidiforgeError(
                f"model max_seq_len {values['max_seq_len']} < training seq_len {self.cfg.seq_len}"
            )
        model = contracts.build_model(plugin, values)
        if self.cfg.init_from and not self.cfg.branch_from and not self._must_resume():  # else their weights
            self._start_from(model, plugin)
        return model

    def _start_from(self, model, plugin) -> None:
        """``init_from``: a fine-tune, or a bigger model grown from a smaller trained one."""
        from midiforge.generation.engine import default_model_path
        from midiforge.models.base import make_config

        path = default_model_path() if self.cfg.init_from == "default" else Path(self.cfg.init_from)
        state, meta = read_weights(path.expanduser())
        if meta["model"] != self.cfg.model:
            raise MidiforgeError(f"{path} holds a '{meta['model']}' model, not '{self.cfg.model}'")
        if meta["codec"].get("vocab_size") != self.codec_dict.get("vocab_size"):
            raise MidiforgeError(f"{path} was trained with another codec than {self.cfg.data[0]}")
        model.start_from(state, make_config(plugin.config_class, meta["model_config"]))

    def _wrap_ddp(self):
        if not self.dist.enabled:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    # ------------------------------------------------------------------ state

    @property
    def state_path(self) -> Path:
        return self.out / "last.state.pt"

    def _must_resume(self) -> bool:
        """Continue the run in ``out`` when there is one; never start over on top of it."""
        if self.cfg.branch_from and self._branch_source().resolve().parent == self.out.resolve():
            raise MidiforgeError(f"branch into a new --out: {self.out} is the run {self.cfg.branch_from} comes from")
        if self.cfg.resume or self.state_path.is_file():
            return True
        taken = [name for name in RUN_FILES if (self.out / name).exists()]
        if taken:
            raise MidiforgeError(
                f"{self.out} already holds {', '.join(taken)} of another run but no last.state.pt to "
                "continue from; choose a new --out (nothing was overwritten)"
            )
        return False

    def _branch(self) -> list[dict[str, Any]]:
        """``branch_from``: a wsd run lengthened from its stable phase. Its weights, optimizer, data
        position and metrics carry on; ``best`` starts afresh, so this folder's best is its own."""
        path = self._branch_source()
        history = self._load_state(path)
        # a row's rate is its next step's: those logged before the state's step were all trained with
        rates = [row["lr"] for row in history if row.get("lr") and row["step"] < self.pos.step]
        if rates and rates[-1] < 0.999 * max(rates):
            raise MidiforgeError(
                f"{path} was saved while its learning rate was decaying: branching from it would restart the "
                "rate; branch from a --lr-schedule wsd run's stable.state.pt, or start anew with --init-from"
            )
        if self.pos.step >= self.stable_until:
            raise MidiforgeError(
                f"{path} is at step {self.pos.step}, not before this run's decay begins ({self.stable_until}): "
                "raise --max-steps (or --epochs)"
            )
        self.pos.best_val, self.pos.bad_evals = math.inf, 0
        # the state holds its own run's rates (its peak, and the decay's first step next); use this run's
        self.scheduler.base_lrs = [self.cfg.lr] * len(self.optimizer.param_groups)
        for group, rate in zip(self.optimizer.param_groups, self.scheduler.lr_lambdas, strict=True):
            group["initial_lr"], group["lr"] = self.cfg.lr, self.cfg.lr * rate(self.pos.step)
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        return history

    def _branch_source(self) -> Path:
        """The state ``branch_from`` names: a file, or a run folder's ``stable.state.pt``."""
        path = Path(self.cfg.branch_from).expanduser()
        return path / STABLE_STATE if path.is_dir() else path

    def _load_state(self, path: Path | None = None) -> list[dict[str, Any]]:
        path = path or self.state_path
        if not path.is_file():
            raise MidiforgeError(f"nothing to resume in {self.out} (no last.state.pt)" if path == self.state_path
                                 else f"{path} not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "weights only" in str(exc).lower():  # objects beyond tensors and plain data
                raise MidiforgeError(
                    f"{path} is not a midiforge training state (it holds other Python objects) and was "
                    "not loaded; choose a new --out"
                ) from None
            raise MidiforgeError(f"resume state {path} is corrupt or truncated") from None
        except Exception:
            raise MidiforgeError(f"resume state {path} is corrupt or truncated") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise MidiforgeError(f"{path} is not a midiforge training state and was not loaded; choose a new --out")
        if state.get("model_name") != self.model_name or state.get("model_config") != config_to_dict(
            self.model.config
        ):
            raise MidiforgeError(
                f"{path} was written for model {state.get('model_name')} {state.get('model_config')}; "
                "resume with the same model and model options, or choose a new --out"
            )
        if state.get("seed", self.cfg.seed) != self.cfg.seed:  # (states before 2026-12 did not record it)
            raise MidiforgeError(
                f"{path} was trained with seed {state['seed']}: give --seed {state['seed']} to continue it "
                "(the order of the training data follows the seed)"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.pos = Position(**state["position"])
        torch.set_rng_state(state["rng_torch"])
        if torch.cuda.is_available() and state.get("rng_cuda"):
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        return list(state["history"])

    def _epoch_now(self) -> float:
        """Epochs done, with the fraction of the current one (the ``epoch`` column of every row)."""
        return round(self.pos.epoch + self.pos.batch / self.steps_per_epoch, 4)

    def _training_meta(self, val: dict[str, float] | None) -> dict[str, Any]:
        return {
            "step": self.pos.step,
            "epoch": self._epoch_now(),
            "val_loss": None if val is None else val["loss"],
            "val_acc": None if val is None else val["acc"],
            "best_val_loss": None if math.isinf(self.pos.best_val) else self.pos.best_val,
            "tokens_seen": self.pos.tokens_seen,
            "wall_time_s": round(self.pos.elapsed_s, 1),
            "device": str(self.device),
            "processes": self.dist.world,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "data": self.cfg.data,
            "role_tokens": self.role_tokens,  # notes per role seen in training (drums: 0 = none)
            "config": self.cfg.to_dict(),
        }

    def save_last(self, val: dict[str, float] | None = None) -> None:
        if not self.dist.main:
            return
        save_checkpoint(
            self.out / "last.safetensors",
            self.model,
            self.model_name,
            self.codec_dict,
            self._training_meta(val),
        )
        state = {
            "format": STATE_FORMAT,
            "model_name": self.model_name,
            "model_config": config_to_dict(self.model.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "position": asdict(self.pos),
            "seed": self.cfg.seed,  # the data order follows it
            "history": self.log.rows,
        }
        with atomic_path(self.state_path) as tmp:
            torch.save(state, tmp)
        self.saved_step = self.pos.step
        self.saved_at = time.monotonic()
        self.log.note(f"saved last.safetensors and last.state.pt at step {self.pos.step}")
        self.log.flush()

    def _save_stable(self, val: dict[str, float] | None) -> None:
        """wsd: keep the state where the decay begins, the point a longer run branches from."""
        if self.saved_step != self.pos.step:
            self.save_last(val)
        if self.dist.main:
            with atomic_path(self.out / STABLE_STATE) as tmp:
                shutil.copyfile(self.state_path, tmp)
            self.log.note(f"saved stable.state.pt at step {self.pos.step}: the decay begins; "
                          f"--branch-from it to train longer")

    # ------------------------------------------------------------------ steps

    def _loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            y.reshape(-1),
            ignore_index=-100,
            reduction=reduction,
        )

    def _train_step(self, batches) -> tuple[float, int]:
        loss_sum, tokens = 0.0, 0
        for micro in range(self.cfg.accumulate):
            x, y = (t.to(self.device, non_blocking=True) for t in next(batches))
            sync = micro == self.cfg.accumulate - 1 or not self.dist.enabled
            with contextlib.nullcontext() if sync else self.ddp.no_sync():  # backward inside no_sync
                with autocast(self.device, self.amp):
                    loss = self._loss(self.ddp(x), y)
                (loss / self.cfg.accumulate).backward()
            loss_sum += loss.item()
            tokens += int((y != -100).sum())
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum / self.cfg.accumulate, tokens

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation loss (mean per token) and next-token accuracy, summed over all ranks."""
        self.model.eval()
        indices = torch.arange(len(self.val_set))[self.dist.rank :: self.dist.world]
        size = self.cfg.batch_size
        n_batches = math.ceil(len(indices) / size)
        if self.cfg.max_val_batches:
            n_batches = min(n_batches, self.cfg.max_val_batches)
        loss_sum = correct = count = 0.0
        for b in range(n_batches):
            x, y = (
                t.to(self.device) for t in datalib.collate(self.val_set, indices[b * size : (b + 1) * size])
            )
            with autocast(self.device, self.amp):
                logits = self.model(x)
            mask = y != -100
            loss_sum += float(self._loss(logits, y, reduction="sum"))
            correct += float(((logits.argmax(-1) == y) & mask).sum())
            count += float(mask.sum())
        loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], self.dist, self.device)
        self.model.train()
        return {"loss": loss_sum / max(count, 1.0), "acc": correct / max(count, 1.0)}

    def _sample(self) -> None:
        if not (self.dist.main and self.codec is not None):
            return
        x, y = self.val_set[0]
        prefix = [int(t) for t in x[: min(8, int((y != -100).sum()) or 1)]]
        gen = torch.Generator().manual_seed(self.cfg.seed + self.pos.step)
        ids = sample_ids(self.model, prefix, self.cfg.sample_tokens, temperature=1.0, top_k=0,
                         eos_id=getattr(self.codec, "eos_id", None), generator=gen)
        try:
            write_sample(self.codec, ids, self.out / "samples" / f"step_{self.pos.step:07d}.mid")
        except Exception as exc:  # an undecodable early sample must not stop training
            from midiforge.terminal import err_console

            err_console.print(f"[yellow]sample at step {self.pos.step} not written:[/yellow] {exc}")

    # ------------------------------------------------------------------ loop

    def _validate(self) -> tuple[dict[str, float], bool]:
        """Validate, write best.safetensors on improvement; True when early stopping triggers."""
        val = self.evaluate()
        self.log.add({"step": self.pos.step, "epoch": self._epoch_now(), "val_loss": val["loss"], "val_acc": val["acc"],
                      "elapsed_s": round(self.pos.elapsed_s, 2)})
        if val["loss"] < self.pos.best_val:
            self.pos.best_val, self.pos.bad_evals = val["loss"], 0
            if self.dist.main:
                save_checkpoint(self.out / "best.safetensors", self.model, self.model_name, self.codec_dict,
                                self._training_meta(val), dtype=self.cfg.save_dtype)
        else:
            self.pos.bad_evals += 1
        return val, bool(self.cfg.patience and self.pos.bad_evals >= self.cfg.patience)

    def _out_of_time(self, started: float) -> bool:
        if not self.cfg.max_minutes:
            return False
        over = float(time.monotonic() - started > self.cfg.max_minutes * 60)
        return all_reduce_sum([over], self.dist, self.device)[0] > 0  # every rank stops together

    def _announce(self) -> None:
        """Say in ``train.log`` (and, when resuming, on the terminal) what this run does."""
        if self.resumed:
            text = (f"continuing the run in {self.out} at step {self.pos.step} of {self.total_steps} "
                    "(choose a new --out to start afresh)")
            if self.dist.main:
                from midiforge.terminal import err_console

                err_console.print(text, soft_wrap=True)
        elif self.cfg.branch_from:
            text = (f"training {self.model_name} in {self.out}: steps {self.pos.step} to {self.total_steps}, "
                    f"branched from {self.cfg.branch_from}")
        else:
            text = f"training {self.model_name} in {self.out}: {self.total_steps} steps"
        self.log.note(text)

    def _time_to_save(self) -> bool:
        minutes = self.cfg.checkpoint_minutes
        return bool(minutes) and time.monotonic() - self.saved_at >= minutes * 60

    def run(self, on_step: StepCallback | None = None) -> TrainResult:
        with _sigterm_interrupts():
            return self._run(on_step)

    def _run(self, on_step: StepCallback | None = None) -> TrainResult:
        cfg, pos = self.cfg, self.pos
        self.out.mkdir(parents=True, exist_ok=True)
        self.model.train()
        started = time.monotonic()
        clock = self._last_log = self.saved_at = started
        self.saved_step = pos.step if self.resumed else -1
        val: dict[str, float] | None = None
        validated_step = -1
        stopped = "completed"
        window_loss, window_steps, window_tokens = 0.0, 0, 0
        self._announce()
        early_stopped = bool(cfg.patience and pos.bad_evals >= cfg.patience)
        if self.resumed and (pos.step >= self.total_steps or early_stopped):  # nothing to do: write nothing
            self.log.note("already complete: nothing to do (raise --epochs, --max-steps or --patience to train on)")
            self.log.close()
            return self._result("already_complete", started)
        with self._progress() as bar:
            try:
                while pos.epoch < cfg.epochs and stopped == "completed":
                    order = datalib.epoch_order(
                        len(self.train_set), cfg.seed, pos.epoch, self.dist.rank, self.dist.world
                    )
                    batches = datalib.batches(
                        self.train_set, order, cfg.batch_size, start=pos.batch * cfg.accumulate
                    )
                    while pos.batch < self.steps_per_epoch:
                        loss, tokens = self._train_step(batches)
                        now = time.monotonic()
                        pos.elapsed_s += now - clock
                        clock = now
                        pos.step, pos.batch = pos.step + 1, pos.batch + 1
                        window_loss, window_steps = window_loss + loss, window_steps + 1
                        window_tokens += tokens
                        pos.tokens_seen += tokens * self.dist.world
                        lr = self.scheduler.get_last_lr()[0]
                        if pos.step % cfg.log_interval == 0:
                            self._log_train(window_loss / window_steps, window_tokens, lr)
                            window_loss, window_steps, window_tokens = 0.0, 0, 0
                        if cfg.sample_interval and pos.step % cfg.sample_interval == 0:
                            self._sample()
                        if cfg.eval_interval and pos.step % cfg.eval_interval == 0:
                            val, early = self._validate()
                            validated_step = pos.step
                            if early:
                                stopped = "early_stopping"
                        if (
                            (cfg.checkpoint_interval and pos.step % cfg.checkpoint_interval == 0)
                            or validated_step == pos.step
                            or self._time_to_save()
                        ):
                            self.save_last(val)
                        if pos.step == self.stable_until:
                            self._save_stable(val)
                        bar.update(pos.step, loss, val, self.log.rows)
                        if on_step is not None:
                            on_step(pos.step, {"loss": loss, "lr": lr, "epoch": pos.epoch})
                        if stopped == "completed" and cfg.max_steps and pos.step >= cfg.max_steps:
                            stopped = "max_steps"
                        if stopped == "completed" and self._out_of_time(started):
                            stopped = "max_minutes"
                        if stopped != "completed":
                            break
                    if stopped == "completed":
                        pos.epoch, pos.batch = pos.epoch + 1, 0
                        if validated_step != pos.step:
                            val, early = self._validate()
                            validated_step = pos.step
                            stopped = "early_stopping" if early else stopped
                        self.save_last(val)
                if validated_step != pos.step:
                    val, _ = self._validate()
                    self.save_last(val)
                elif self.saved_step != pos.step:
                    self.save_last(val)
            except KeyboardInterrupt:
                if self.saved_step != pos.step:  # keep the last completed step; a re-run continues there
                    self.save_last(val)
                self.log.note(f"interrupted at step {pos.step}; re-run the same command to continue")
                raise
            except BaseException as exc:
                self.log.note(f"stopped by an error at step {pos.step}: {type(exc).__name__}: {exc}")
                raise
            finally:
                self.log.close()
        self.log.note(f"finished ({stopped}) at step {pos.step}")
        return self._result(stopped, started)

    def _result(self, stopped: str, started: float) -> TrainResult:
        pos = self.pos
        best = self.out / "best.safetensors"
        return TrainResult(
            out=self.out,
            best=best if best.exists() else None,
            last=self.out / "last.safetensors",
            steps=pos.step,
            best_val_loss=None if math.isinf(pos.best_val) else pos.best_val,
            stopped=stopped,
            tokens_seen=pos.tokens_seen,
            wall_s=time.monotonic() - started,
            history=self.log.rows,
        )

    def _log_train(self, loss: float, tokens: int, lr: float) -> None:
        now = time.monotonic()
        since = max(now - self._last_log, 1e-9)
        self._last_log = now
        loss, tokens = all_reduce_sum([loss, float(tokens)], self.dist, self.device)
        self.log.add({
            "step": self.pos.step,
            "epoch": self._epoch_now(),
            "train_loss": loss / self.dist.world,
            "lr": lr,
            "tokens_per_s": round(tokens / since, 1),
            "tokens_seen": self.pos.tokens_seen,
            "elapsed_s": round(self.pos.elapsed_s, 2),
        })
        if self.dist.main and self.pos.step % (self.cfg.log_interval * 10) == 0:
            self.log.write_csv()

    @contextlib.contextmanager
    def _progress(self):
        view = ProgressView(self.total_steps, self.pos.step, enabled=self.cfg.progress and self.dist.main)
        try:
            yield view
        finally:
            view.close()


@contextlib.contextmanager
def _sigterm_interrupts():
    """``kill PID`` (SIGTERM) stops training like Ctrl-C: the last step is saved, temporary files
    are removed. Only the main thread can install signal handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ProgressView:
    """Rich progress bar with loss and tokens/s (a no-op on other ranks or when disabled)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from midiforge.terminal import progress

            self.bar = progress()
            self.bar.start()
            self.task = self.bar.add_task("training", total=total, completed=done, info="")

    def update(
        self, step: int, loss: float, val: dict[str, float] | None, rows: list[dict[str, Any]]
    ) -> None:
        if self.bar is None:
            return
        speed = next((r["tokens_per_s"] for r in reversed(rows) if r.get("tokens_per_s")), None)
        info = f"loss {loss:.3f}"
        if speed:
            info += f" · {speed / 1000:.1f}k tok/s"
        if val is not None:
            info += f" · val {val['loss']:.3f} ({val['acc']:.1%})"
        self.bar.update(self.task, completed=step, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
