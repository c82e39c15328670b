"""Model interface: incremental ``step`` with a cache matches ``forward``; checkpoints round-trip."""

from __future__ import annotations

import pytest
import torch

from midiforge.contracts import build_model
from midiforge.contracts import model as model_plugin
from midiforge.errors import MidiforgeError
from midiforge.models import load_checkpoint, read_metadata, save_checkpoint

TINY = {
    "music-transformer": {"d_model": 32, "n_layers": 2, "n_heads": 4},
    "music-transformer-relative": {"d_model": 32, "n_layers": 2, "n_heads": 4, "positional": "relative"},
    "lstm": {"hidden_size": 48, "n_layers": 2},
    "hf-gpt2": {"d_model": 32, "n_layers": 2, "n_heads": 4},
    "hf-llama": {"d_model": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2},
    "hf-mistral": {"d_model": 32, "n_layers": 2, "n_heads": 4},
}


def tiny_model(key: str, vocab: int = 61, max_len: int = 40):
    name = key.removesuffix("-relative")
    torch.manual_seed(0)
    return name, build_model(model_plugin(name), {"vocab_size": vocab, "max_seq_len": max_len, **TINY[key]})


@pytest.mark.parametrize("key", list(TINY))
def test_step_with_cache_matches_forward(key):
    """Prefill 9 tokens, then one token at a time: logits equal the full-sequence forward."""
    _, model = tiny_model(key)
    model.eval()
    ids = torch.randint(0, 61, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids)
        cache = model.init_cache(3)
        logits, cache = model.step(ids[:, :9], cache)
        parts = [logits]
        for t in range(9, 40):
            logits, cache = model.step(ids[:, t : t + 1], cache)
            parts.append(logits)
    assert full.shape == (3, 40, 61)
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("key", ["music-transformer", "music-transformer-relative"])
def test_transformer_is_causal(key):
    """Changing a later token never changes earlier logits (the mask and skewing are right)."""
    _, model = tiny_model(key)
    model.eval()
    ids = torch.randint(0, 61, (1, 30), generator=torch.Generator().manual_seed(2))
    changed = ids.clone()
    changed[0, 20:] = (changed[0, 20:] + 7) % 61
    with torch.no_grad():
        a, b = model(ids), model(changed)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


@pytest.mark.parametrize("t,s", [(7, 7), (1, 9), (4, 11)])
def test_skewing_equals_naive_relative_logits(t, s):
    """The skew trick gives q_i . E[distance(i, j)] for every visible key (cached or not)."""
    from midiforge.models.transformer import skew

    gen = torch.Generator().manual_seed(4)
    q, emb = torch.randn(2, 3, t, 8, generator=gen), torch.randn(s, 8, generator=gen)
    fast = skew(q @ emb.T)
    past = s - t
    for i in range(t):
        for j in range(past + i + 1):  # visible keys; distance j - (past + i) <= 0
            naive = q[:, :, i] @ emb[j - (past + i) + s - 1]
            torch.testing.assert_close(fast[:, :, i, j], naive)


def test_parameter_count_counts_tied_weights_once():
    _, model = tiny_model("music-transformer")
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    assert model.head is None  # tied to the embedding


def test_bad_model_options_are_one_line_errors():
    plugin = model_plugin("music-transformer")
    with pytest.raises(MidiforgeError, match="unknown model option"):
        build_model(plugin, {"vocab_size": 10, "d_modle": 3})
    with pytest.raises(MidiforgeError, match="divisible"):
        build_model(plugin, {"vocab_size": 10, "d_model": 30, "n_heads": 4})
    with pytest.raises(MidiforgeError, match="positional"):
        build_model(plugin, {"vocab_size": 10, "positional": "absolute"})


@pytest.fixture(scope="module")
def codec():
    from midiforge.data.codec import Codec

    return Codec()


@pytest.mark.parametrize("key", ["music-transformer-relative", "lstm", "hf-gpt2"])
def test_checkpoint_round_trip(tmp_path, key, codec):
    """Weights, model config, codec and training metadata come back; tied weights stay tied."""
    name, model = tiny_model(key, vocab=codec.vocab_size)
    model.eval()
    path = save_checkpoint(tmp_path / "m.safetensors", model, name, codec, {"step": 5, "val_loss": 1.5})
    loaded = load_checkpoint(path)
    ids = torch.randint(0, codec.vocab_size, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids), model(ids))
    assert loaded.meta["model"] == name
    assert loaded.meta["training"]["step"] == 5
    assert loaded.meta["model_config"]["vocab_size"] == codec.vocab_size
    assert loaded.codec.to_dict() == codec.to_dict()


def test_fp16_checkpoint_is_smaller_and_loads_as_fp32(tmp_path):
    name, model = tiny_model("music-transformer")
    full = save_checkpoint(tmp_path / "a.safetensors", model, name, {})
    half = save_checkpoint(tmp_path / "b.safetensors", model, name, {}, dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_checkpoint(half)
    assert loaded.model.dtype == torch.float32
    assert read_metadata(half)["dtype"] == "float16"


def test_truncated_checkpoint_is_refused_clearly(tmp_path):
    name, model = tiny_model("music-transformer")
    path = save_checkpoint(tmp_path / "m.safetensors", model, name, {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MidiforgeError, match="corrupt or truncated"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(MidiforgeError, match="corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(MidiforgeError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_a_deeper_wider_transformer_grows_from_a_small_one_with_the_same_predictions():
    from midiforge.models.base import config_to_dict

    _, small = tiny_model("music-transformer")
    cfg = config_to_dict(small.config)
    big = build_model(model_plugin("music-transformer"), {**cfg, "n_layers": 5, "d_ff": 6 * cfg["d_model"]})
    big.start_from(small.state_dict(), small.config)
    small.eval(), big.eval()
    ids = torch.randint(0, 61, (2, 24))
    with torch.no_grad():
        assert torch.allclose(big(ids), small(ids), atol=1e-5)
    assert big.num_parameters() > 2 * small.num_parameters()
    trained = dict(small.named_parameters())
    assert torch.equal(big.blocks[2].attn.qkv.weight, trained["blocks.1.attn.qkv.weight"])  # 2 blocks over 5
    assert not big.blocks[1].attn.proj.weight.any()  # a new block adds nothing until trained

    wider = build_model(model_plugin("music-transformer"), {**cfg, "d_model": 64})
    with pytest.raises(MidiforgeError, match="cannot grow from this checkpoint \\(d_model differ"):
        wider.start_from(small.state_dict(), small.config)
    _, lstm = tiny_model("lstm")
    with pytest.raises(MidiforgeError, match="cannot start from a checkpoint of another shape"):
        lstm.start_from(small.state_dict(), small.config)
