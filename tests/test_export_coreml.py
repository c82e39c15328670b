"""CoreML export, checked on Linux by evaluating the saved MIL programs op by op."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest
import torch
from midiforge.exporters.mil_eval import MilEvaluator, load_program

from midiforge.exporting.api import export_model

ct = pytest.importorskip("coremltools")
logging.getLogger("coremltools").setLevel(logging.ERROR)


class PlainOps(torch.nn.Module):
    """A small block of the ops a transformer uses, to test the evaluator on its own."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(20, 16)
        self.lin = torch.nn.Linear(16, 32)
        self.norm = torch.nn.LayerNorm(16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.emb(ids))
        a, b = self.lin(x).split(16, dim=-1)
        att = torch.softmax(a @ b.transpose(1, 2) / 4.0, dim=-1)
        return torch.cat([torch.nn.functional.gelu(att @ x), x.flip(1)], dim=-1).transpose(1, 2)


def _convert(module, example, precision):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module.eval(), example)
        return ct.convert(
            traced,
            inputs=[ct.TensorType("ids", shape=(1, ct.RangeDim(1, 32)), dtype=np.int32)],
            outputs=[ct.TensorType(name="out")],
            minimum_deployment_target=ct.target.macOS14,
            compute_precision=precision,
            convert_to="mlprogram",
        )


@pytest.mark.parametrize("precision,atol", [("FLOAT32", 1e-5), ("FLOAT16", 1e-2)])
def test_mil_evaluator_matches_torch_on_plain_ops(tmp_path, precision, atol):
    torch.manual_seed(0)
    module = PlainOps()
    mlmodel = _convert(module, (torch.zeros(1, 4, dtype=torch.long),), getattr(ct.precision, precision))
    mlmodel.save(str(tmp_path / "plain.mlpackage"))
    ids = np.array([[3, 1, 4, 1, 5, 9, 2]])  # another length than traced: flexible shapes work
    ref = module(torch.from_numpy(ids)).detach().numpy()
    for program in (mlmodel._mil_program, load_program(tmp_path / "plain.mlpackage")):
        out = MilEvaluator(program)({"ids": ids})["out"]
        assert out.shape == ref.shape
        np.testing.assert_allclose(out.astype(np.float32), ref, atol=atol)


def _states(path):
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    return {s.name: list(s.type.stateType.arrayType.shape) for s in spec.description.state}


def _metadata(path):
    return ct.models.MLModel(str(path), skip_model_load=True).user_defined_metadata


@pytest.fixture(scope="module")
def transformer_export(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("coreml") / "tiny.mlpackage"
    return out, export_model("coreml", tiny_checkpoint, out, max_len=64)


@pytest.mark.slow
def test_transformer_exports_stateful_and_stateless(transformer_export):
    out, report = transformer_export
    assert report.passed, report.artifacts
    stateless = out.with_name("tiny-stateless.mlpackage")
    assert [a.path for a in report.artifacts] == [out, stateless]
    assert all(a.max_abs_err_step <= 0.1 and a.top1_agreement == 1.0 for a in report.artifacts)
    # the stateful package really declares its cache (without states= it would convert silently
    # into a model whose cache is always zero)
    assert _states(out) == {"key_cache": [2, 1, 4, 64, 16], "value_cache": [2, 1, 4, 64, 16]}
    assert _states(stateless) == {}
    meta = _metadata(out)
    vocab = json.loads(meta["midiforge.vocab"])
    assert len(vocab) == json.loads(meta["midiforge"])["vocab_size"] and vocab[0].startswith("PAD")
    assert meta["midiforge.variant"] == "stateful" and "temperature" in json.loads(meta["midiforge.generation"])
    spec = ct.models.MLModel(str(out), skip_model_load=True).get_spec()
    assert {i.name for i in spec.description.input} == {"input_ids", "cache_positions"}
    assert all(i.shortDescription for i in spec.description.input)


@pytest.mark.slow
def test_stateful_cache_is_used_between_calls(transformer_export, tiny_checkpoint):
    """Two calls (prompt, then one token) must equal PyTorch on the whole sequence, which is only
    possible if the first call's keys/values were kept in the state."""
    from midiforge.models.checkpoint import load_checkpoint

    run = MilEvaluator(load_program(transformer_export[0]))
    ids = np.array([[1, 5, 9, 14, 20, 7]])
    run({"input_ids": ids[:, :5], "cache_positions": np.arange(5)[None]})
    assert np.abs(run.states["key_cache"][:, :, :, :5]).max() > 0 and not run.states["key_cache"][:, :, :, 5:].any()
    step = run({"input_ids": ids[:, 5:], "cache_positions": np.arange(6)[None]})["logits"][0, -1]
    with torch.no_grad():
        ref = load_checkpoint(tiny_checkpoint).model.eval()(torch.from_numpy(ids))[0, -1].numpy()
    np.testing.assert_allclose(step.astype(np.float32), ref, atol=0.05)
    run.reset_states()
    cold = run({"input_ids": ids[:, 5:], "cache_positions": np.arange(6)[None]})["logits"][0, -1]
    assert np.abs(cold.astype(np.float32) - ref).max() > 0.05  # zero cache gives other logits


@pytest.mark.slow
def test_lstm_exports_both_variants(tmp_path):
    from midiforge.data.codec import Codec
    from midiforge.models.checkpoint import save_checkpoint
    from midiforge.models.lstm import LSTMConfig
    from midiforge.registry import get

    torch.manual_seed(2)
    codec = Codec()
    model = get("model", "lstm").build(LSTMConfig(vocab_size=codec.vocab_size, hidden_size=32, n_layers=2))
    with torch.no_grad():  # larger embeddings than the init, so logits (and errors) are not tiny
        model.tok_emb.weight.mul_(50)
    checkpoint = save_checkpoint(tmp_path / "lstm.safetensors", model, "lstm", codec)
    report = export_model("coreml", checkpoint, tmp_path / "lstm.mlpackage")
    assert report.passed, report.artifacts
    assert _states(tmp_path / "lstm.mlpackage") == {"h": [2, 1, 32], "c": [2, 1, 32]}
    ops = {op.op_type for op in load_program(tmp_path / "lstm-stateless.mlpackage").functions["main"].operations}
    assert "lstm" in ops  # evaluated by the evaluator's numpy lstm
    assert report.max_abs_err_full > 0  # fp16 really differs a little: the check is not vacuous


@pytest.mark.slow
def test_int8_weights_shrink_the_package(tiny_checkpoint, tmp_path):
    plain = export_model("coreml", tiny_checkpoint, tmp_path / "a.mlpackage", variants="stateless", max_len=32)
    small = export_model("coreml", tiny_checkpoint, tmp_path / "b.mlpackage", variants="stateless", max_len=32, compress="int8")
    assert small.passed and small.artifacts[0].size_bytes < 0.7 * plain.artifacts[0].size_bytes
    assert "uncompressed" in small.artifacts[0].note


def test_bad_coreml_options_fail_before_loading(tmp_path):
    from midiforge.errors import MidiforgeError

    with pytest.raises(MidiforgeError, match="unknown CoreML variant"):
        export_model("coreml", tmp_path / "missing.safetensors", tmp_path / "x.mlpackage", variants="fast")
    with pytest.raises(MidiforgeError, match="compress must be one of"):
        export_model("coreml", tmp_path / "missing.safetensors", tmp_path / "x.mlpackage", compress="int3")


@pytest.mark.slow
def test_fp32_stateful_passes_with_the_fp16_state_tolerance(tiny_checkpoint, tmp_path):
    """Core ML states are fp16 only, so fp32 stateful exports are held to a tolerance that says so."""
    from midiforge.exporters.coreml import FP32_FP16_STATE_TOLERANCE

    report = export_model("coreml", tiny_checkpoint, tmp_path / "M.mlpackage", variants="stateful",
                          precision="fp32", max_len=32)
    [check] = report.artifacts
    assert check.tolerance == FP32_FP16_STATE_TOLERANCE and "state fp16" in check.note
    assert report.passed and (tmp_path / "M.mlpackage").is_dir()


def test_unconvertible_model_is_one_line_naming_the_needs(tmp_path):
    from midiforge.exporters.coreml import Variant, convert_variant

    from midiforge.errors import MidiforgeError

    class Diff(torch.nn.Module):  # torch.diff has no coremltools converter
        def forward(self, ids):
            return torch.diff(ids.float(), dim=1)

    ids_type = ct.TensorType("input_ids", shape=(1, ct.RangeDim(2, 8, default=2)), dtype=np.int32)
    variant = Variant("stateless", Diff(), (torch.zeros(1, 3, dtype=torch.long),), [ids_type], ["logits"], [],
                      ct.target.macOS14, {})
    with pytest.raises(MidiforgeError) as info:
        convert_variant(variant, "fp32")
    message = str(info.value)
    assert "Core ML cannot convert Diff (stateless)" in message and "torch.jit.trace" in message
    assert "\n" not in message
