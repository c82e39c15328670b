"""ONNX export: validation against PyTorch, metadata, LSTM, and generation without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from midiforge.cli import cli
from midiforge.cli.common import run_cli
from midiforge.exporting.api import export_model
from midiforge.generation.onnx_backend import OnnxBackend


@pytest.fixture(scope="module")
def tiny_onnx(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert run_cli(cli, ["export", "onnx", str(tiny_checkpoint), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def tiny_lstm_checkpoint(tmp_path_factory):
    from midiforge.data.codec import Codec
    from midiforge.models.checkpoint import save_checkpoint
    from midiforge.models.lstm import LSTMConfig
    from midiforge.registry import get

    torch.manual_seed(1)
    codec = Codec()
    model = get("model", "lstm").build(LSTMConfig(vocab_size=codec.vocab_size, hidden_size=48, n_layers=2))
    return save_checkpoint(tmp_path_factory.mktemp("lstm") / "lstm.safetensors", model, "lstm", codec)


def test_onnx_runs_the_transformer_like_pytorch(tiny_onnx, tiny_checkpoint):
    from midiforge.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(tiny_checkpoint)
    backend = OnnxBackend(tiny_onnx)
    assert backend.vocab_size == loaded.codec.vocab_size
    assert backend.meta["vocab"][loaded.codec.bos_id] == loaded.codec.token(loaded.codec.bos_id)
    assert json.loads(tiny_onnx.with_suffix(".json").read_text())["codec"] == backend.codec_dict
    # batch 3 (the graph was traced with batch 2), a prompt of 7 then two single-token steps
    ids = np.random.default_rng(0).integers(0, backend.vocab_size, size=(3, 9))
    with torch.no_grad():
        ref = loaded.model.eval()(torch.from_numpy(ids)).numpy()
    full, state = backend.run(ids[:, :7], backend.start(3))
    step1, state = backend.step(ids[:, 7:8], state)
    step2, state = backend.step(ids[:, 8:9], state)
    assert full.shape == (3, 7, backend.vocab_size)
    np.testing.assert_allclose(full, ref[:, :7], atol=1e-4)
    np.testing.assert_allclose(step1, ref[:, 7], atol=1e-4)
    np.testing.assert_allclose(step2, ref[:, 8], atol=1e-4)
    assert state["past_key_0"].shape[2] == 9  # the cache grew by every fed token


def test_lstm_exports_with_fixed_size_state(tiny_lstm_checkpoint, tmp_path):
    report = export_model("onnx", tiny_lstm_checkpoint, tmp_path / "lstm.onnx")
    assert report.passed and report.max_abs_err_step <= report.tolerance
    backend = OnnxBackend(tmp_path / "lstm.onnx")
    assert [c["name"] for c in backend.cache_layout] == ["h", "c"]
    assert all("length" not in c["shape"] for c in backend.cache_layout)
    logits, state = backend.step(np.array([[1, 2, 3]]), backend.start(1))
    assert logits.shape == (1, backend.vocab_size) and state["past_h"].shape == (2, 1, 48)


def test_export_errors_are_one_line(tiny_checkpoint, tmp_path, capsys):
    assert run_cli(cli, ["export", "onnx", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert run_cli(cli, ["export", "onnx", str(tiny_checkpoint), "-o", str(tmp_path / "m.onnx"), "-O", "opsett=18"]) == 1
    assert "unknown onnx export option(s) opsett" in capsys.readouterr().err
    assert run_cli(cli, ["export", "onnx", str(tiny_checkpoint), "-o", str(tmp_path / "m.txt")]) == 1
    assert run_cli(cli, ["export", "tflite", str(tiny_checkpoint)]) == 1
    assert not (tmp_path / "m.onnx").exists()


NO_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed here")
sys.meta_path.insert(0, NoTorch())
"""


def test_generation_with_onnx_backend_needs_no_torch(tiny_onnx, tmp_path):
    script = NO_TORCH + textwrap.dedent(f"""
        from midiforge.generation import SamplingConfig, StyleOptions, generate
        result = generate("melody", StyleOptions(n=2, bars=2, sampling=SamplingConfig(seed=3)),
                          out={str(tmp_path)!r}, model={str(tiny_onnx)!r}, backend="onnx")
        assert result.backend == "onnx", result.backend
        assert "torch" not in sys.modules
        print("\\n".join(str(f) for f in result.files))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    files = done.stdout.split()
    assert len(files) == 2
    import pretty_midi

    for f in files:
        midi = pretty_midi.PrettyMIDI(f)  # parses: a valid standard MIDI file
        assert midi.instruments and midi.get_end_time() >= 0


def test_cli_generate_with_onnx_model_needs_no_torch(tiny_onnx, tmp_path):
    script = NO_TORCH + textwrap.dedent(f"""
        from midiforge.cli import run_cli, cli
        code = run_cli(cli, ["generate", "harmonic", "--model", {str(tiny_onnx)!r}, "--backend", "onnx",
                             "--n-songs", "2", "--section-bars", "1", "--sections", "AB", "--seed", "1",
                             "-o", {str(tmp_path)!r}])
        assert "torch" not in sys.modules
        sys.exit(code)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((tmp_path / "songs").glob("*.mid"))) == 2


def test_failed_validation_exits_1_and_writes_nothing(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert run_cli(cli, ["export", "onnx", str(tiny_checkpoint), "-o", str(out), "-O", "tolerance=1e-12"]) == 1
    err = capsys.readouterr().err
    assert "validation failed" in err and "nothing was written" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no model, no sidecar, no staging folder
    out.write_bytes(b"an earlier export")
    out.with_suffix(".json").write_text("{}")
    assert run_cli(cli, ["export", "onnx", str(tiny_checkpoint), "-o", str(out), "-O", "tolerance=1e-12"]) == 1
    assert out.read_bytes() == b"an earlier export" and out.with_suffix(".json").read_text() == "{}"
    report = export_model("onnx", tiny_checkpoint, out)  # the Python API publishes only what passed
    assert report.passed and report.written and report.artifacts[0].path == out
    assert out.stat().st_size > 1000 and json.loads(out.with_suffix(".json").read_text())["vocab_size"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.onnx"]


def test_metadata_has_the_client_contract_and_no_machine_paths(tiny_checkpoint):
    """What an onnxruntime-only client needs (docs/export.md), the trained window, no absolute paths."""
    from types import SimpleNamespace

    from midiforge.exporters.common import export_metadata

    from midiforge.exporting.checkpoint import load_for_export

    loaded = load_for_export(tiny_checkpoint)
    training = {"data": ["/home/someone/data/chorales"], "config": {"seq_len": 256, "out": "/home/someone/runs/x"}}
    meta = export_metadata(SimpleNamespace(codec=loaded.codec, model=loaded.model,
                                           meta={**loaded.meta, "training": training}), [])
    assert meta["context_length"] == 256 and meta["max_positions"] == 1024
    assert meta["training"]["data"] == ["chorales"] and meta["training"]["config"]["out"] == "x"
    assert "/home/someone" not in json.dumps(meta)
    assert meta["role_programs"]["bass"] == 32 and [b["name"] for b in meta["tempo_bands"]] == ["slow", "mid", "fast"]
    assert meta["grammar"]["Bar"] == ["Chord"] and meta["grammar"]["Position"] == ["Program"]
    assert meta["prompt"].startswith("BOS Role_")
@pytest.mark.parametrize("attention", ["fused", "plain"])
def test_both_graphs_match_pytorch_beyond_the_first_cache_capacity(tiny_checkpoint, tmp_path, attention):
    from midiforge.generation.onnx_backend import INITIAL_CAPACITY
    from midiforge.models.checkpoint import load_checkpoint

    report = export_model("onnx", tiny_checkpoint, tmp_path / "m.onnx", attention=attention)
    assert report.passed
    backend = OnnxBackend(tmp_path / "m.onnx")
    assert backend.decoder == ("gqa" if attention == "fused" else "concat")
    n = INITIAL_CAPACITY + 6  # the fused graph's buffers must grow (and keep their contents) once
    ids = np.random.default_rng(1).integers(0, backend.vocab_size, size=(2, n))
    with torch.no_grad():
        ref = load_checkpoint(tiny_checkpoint).model.eval()(torch.from_numpy(ids)).numpy()
    full, state = backend.run(ids[:, : n - 10], backend.start(2))
    np.testing.assert_allclose(full, ref[:, : n - 10], atol=1e-4)
    for t in range(n - 10, n):
        step, state = backend.step(ids[:, t : t + 1], state)
        np.testing.assert_allclose(step, ref[:, t], atol=1e-4)
    assert state.length == n and state["past_value_1"].shape[2] == n


def test_fused_graph_refuses_a_sequence_longer_than_the_context(tmp_path):
    from midiforge.data.codec import Codec
    from midiforge.errors import MidiforgeError
    from midiforge.models.checkpoint import save_checkpoint
    from midiforge.models.transformer import TransformerConfig
    from midiforge.registry import get

    codec = Codec()
    model = get("model", "music-transformer").build(
        TransformerConfig(vocab_size=codec.vocab_size, max_seq_len=32, d_model=32, n_layers=1, n_heads=2))
    ckpt = save_checkpoint(tmp_path / "short.safetensors", model, "music-transformer", codec)
    assert export_model("onnx", ckpt, tmp_path / "short.onnx").passed
    backend = OnnxBackend(tmp_path / "short.onnx")
    logits, state = backend.step(np.zeros((1, 32), np.int64), backend.start(1))
    with pytest.raises(MidiforgeError, match="longer than the model's context"):
        backend.step(np.zeros((1, 1), np.int64), state)


def test_export_option_errors_are_one_line(tiny_lstm_checkpoint, tiny_checkpoint, tmp_path, capsys):
    assert run_cli(cli, ["export", "onnx", str(tiny_checkpoint), "-o", str(tmp_path / "m.onnx"), "-O", "quantize=int4"]) == 1
    assert "quantize must be one of none, int8" in capsys.readouterr().err
    assert run_cli(cli, ["export", "onnx", str(tiny_lstm_checkpoint), "-o", str(tmp_path / "m.onnx"),
                         "-O", "attention=fused"]) == 1
    assert "attention=fused needs a rotary music-transformer" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_int8_weights_agree_with_fp32_on_the_default_models_tokens(tmp_path):
    """Parity of the quantized export: on the fp32 model's own greedy continuation of a song prefix,
    the int8 model picks the same next token at >= 95% of positions (99.4% of 8,672 teacher-forced
    positions of held-out band arrangements with the shipped weights, docs/default-model.md)."""
    from midiforge.data.codec import Codec
    from midiforge.exporting.validation import _prefix

    fp32 = export_model("onnx", None, tmp_path / "fp32.onnx")
    int8 = export_model("onnx", None, tmp_path / "int8.onnx", quantize="int8")
    assert fp32.passed and int8.passed and int8.artifacts[0].top1_agreement >= 0.9
    assert int8.artifacts[0].size_bytes < fp32.artifacts[0].size_bytes / 2.5

    reference = OnnxBackend(tmp_path / "fp32.onnx")
    ids = _prefix(Codec.from_dict(reference.codec_dict))
    logits, state = reference.step(np.asarray([ids], np.int64), reference.start(1))
    for _ in range(96):
        ids.append(int(logits.argmax()))
        logits, state = reference.step(np.asarray([[ids[-1]]]), state)
    sequence = np.asarray([ids], np.int64)
    want = reference.run(sequence, reference.start(1))[0][0].argmax(-1)
    quantized = OnnxBackend(tmp_path / "int8.onnx")
    got = quantized.run(sequence, quantized.start(1))[0][0].argmax(-1)
    assert (got == want).mean() >= 0.95


def test_ragged_prompts_prefill_at_once_and_finished_rows_hold_still(tiny_checkpoint, tmp_path):
    """The fused decoder feeds prompts of different lengths in one call, each row attending to
    its own tokens only, and a held row stops growing and leaves the computed batch: every row
    decodes as if it ran alone."""
    assert export_model("onnx", tiny_checkpoint, tmp_path / "m.onnx", attention="fused").passed
    backend = OnnxBackend(tmp_path / "m.onnx")
    assert backend.ragged_prefill
    rng = np.random.default_rng(3)
    prompts = [rng.integers(4, backend.vocab_size, n).tolist() for n in (5, 23, 12)]
    follow = rng.integers(4, backend.vocab_size, (3, 4))

    def alone(row: int, steps: int) -> list[np.ndarray]:
        logits, state = backend.step(np.asarray([prompts[row]]), backend.start(1))
        out = [logits[0]]
        for t in range(steps):
            logits, state = backend.step(follow[row : row + 1, t : t + 1], state)
            out.append(logits[0])
        return out

    logits, state = backend.prefill(prompts, backend.start(3))
    want = [alone(row, 4) for row in range(3)]
    np.testing.assert_allclose(logits, np.stack([w[0] for w in want]), atol=1e-5)
    live = {0: [0, 1, 2], 1: [0, 1, 2], 2: [0, 2], 3: [2]}
    for t in range(4):
        if t == 2:
            backend.hold(state, np.array([False, True, False]))  # row 1 is done after 2 steps
            assert state.rows.tolist() == [0, 2]
            assert all(buffer.shape[0] == 2 for buffer in state.buffers.values())
        if t == 3:
            backend.hold(state, np.array([True, False, False]))  # row 0 after 3; row 1 stays held
            assert state.rows.tolist() == [2]
        logits, state = backend.step(follow[:, t : t + 1], state)
        for row in range(3):
            if row in live[t]:
                np.testing.assert_allclose(logits[row], want[row][t + 1], atol=1e-5)
            else:
                assert not logits[row].any()  # no longer computed
    assert state.lengths.tolist() == [5 + 3, 23 + 2, 12 + 4]


def test_threads_spin_only_while_other_programs_leave_a_core_free(monkeypatch):
    """The decision reads the CPU now (``/proc/stat``), not the 1-minute load average, which still
    counts this program's previous run; without ``/proc/stat`` the load average decides."""
    from midiforge.generation import onnx_backend

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 1.9, 1.9))  # the last run's own threads
    monkeypatch.setattr(onnx_backend, "busy_cores", lambda window_s: 0.2)
    assert onnx_backend.spare_cpu()
    monkeypatch.setattr(onnx_backend, "busy_cores", lambda window_s: 1.0)  # a training run on one core
    assert not onnx_backend.spare_cpu()
    monkeypatch.setattr(onnx_backend, "busy_cores", lambda window_s: None)
    assert not onnx_backend.spare_cpu()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.3, 0.3))
    assert onnx_backend.spare_cpu()


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux's /proc/stat")
def test_busy_cores_reads_the_cpu_now():
    from midiforge.generation.onnx_backend import busy_cores

    busy = busy_cores(0.05)
    assert busy is not None and 0.0 <= busy <= (os.cpu_count() or 1)
