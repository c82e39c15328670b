"""``midiforge inspect attention``: recomputed attention is what the model used, PNGs and JSON are written."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from midiforge.cli import cli
from midiforge.errors import MidiforgeError
from midiforge.inspect_attention import capture_attention, inspect_attention
from midiforge.models.checkpoint import load_checkpoint, save_checkpoint
from midiforge.registry import get


def _check_layers(model, ids: torch.Tensor) -> None:
    layers = capture_attention(model, ids)
    assert len(layers) == model.config.n_layers
    t = ids.shape[1]
    for layer in layers:
        assert layer.probs.shape == (ids.shape[0], model.config.n_heads, t, t)
        torch.testing.assert_close(layer.probs.sum(-1), torch.ones(layer.probs.shape[:-1]), atol=1e-5, rtol=0)
        assert torch.all(layer.probs.triu(diagonal=1) == 0)  # causal: no weight on later tokens
        torch.testing.assert_close(layer.output, layer.model_output, atol=1e-5, rtol=0)


def test_recomputed_attention_reproduces_the_rope_model(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint).model
    ids = torch.randint(0, model.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    _check_layers(model, ids)


def test_recomputed_attention_reproduces_the_relative_model():
    from midiforge.models.transformer import TransformerConfig

    torch.manual_seed(3)
    config = TransformerConfig(
        vocab_size=50, max_seq_len=64, d_model=32, n_layers=2, n_heads=2, positional="relative"
    )
    model = get("model", "music-transformer").build(config).eval()
    with torch.no_grad():  # random (not tiny) relative embeddings so the relative logits matter
        for block in model.blocks:
            block.attn.rel_emb.normal_(std=1.0)
    _check_layers(model, torch.randint(0, 50, (1, 30)))


@pytest.mark.slow
def test_cli_writes_pngs_and_tokens(tiny_checkpoint, tmp_path):
    out = tmp_path / "attention"
    result = CliRunner().invoke(
        cli,
        [
            "inspect",
            "attention",
            str(tiny_checkpoint),
            "--out",
            str(out),
            "--bars",
            "2",
            "--max-tokens",
            "40",
        ],
    )
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob("layer_*.png"))
    assert [p.name for p in pngs] == ["layer_0.png", "layer_1.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    info = json.loads((out / "tokens.json").read_text())
    codec = load_checkpoint(tiny_checkpoint).codec
    assert info["ids"][0] == codec.bos_id and info["tokens"][1] == "Role_melody"
    assert info["tokens"] == codec.tokens(info["ids"])
    assert 2 < len(info["tokens"]) == len(info["ids"]) <= 40
    assert info["bar_positions"] and all(info["tokens"][i].startswith("Bar") for i in info["bar_positions"])


@pytest.mark.slow
def test_midi_input_is_tokenized_with_the_checkpoint_codec(tiny_checkpoint, tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")
    pm = pretty_midi.PrettyMIDI()
    flute = pretty_midi.Instrument(program=73)
    for i, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72]):
        flute.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=i * 0.5, end=i * 0.5 + 0.45))
    pm.instruments.append(flute)
    midi = tmp_path / "scale.mid"
    pm.write(str(midi))
    result = inspect_attention(tiny_checkpoint, tmp_path / "out", midi=midi, max_tokens=500)
    assert result.source == str(midi)
    codec = load_checkpoint(tiny_checkpoint).codec
    assert result.ids[0] == codec.bos_id and result.ids[-1] == codec.eos_id
    assert sum(t.startswith("Pitch_") for t in result.tokens) == 8
    assert len(result.images) == 2


def test_lstm_checkpoint_gives_one_clear_error(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    lstm = get("model", "lstm").build(
        {"vocab_size": loaded.codec.vocab_size, "hidden_size": 16, "n_layers": 1}
    )
    path = save_checkpoint(tmp_path / "lstm.safetensors", lstm, "lstm", loaded.codec)
    with pytest.raises(MidiforgeError, match="need a music-transformer checkpoint"):
        inspect_attention(path, tmp_path / "out")
    from midiforge.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["inspect", "attention", str(path), "--out", str(tmp_path / "o")])
    assert exc.value.code == 1


def test_generated_sample_stays_inside_a_short_context(tiny_checkpoint, tmp_path):
    from midiforge.models.transformer import TransformerConfig

    codec = load_checkpoint(tiny_checkpoint).codec
    config = TransformerConfig(vocab_size=codec.vocab_size, max_seq_len=40, d_model=32, n_layers=1, n_heads=2)
    path = save_checkpoint(
        tmp_path / "short.safetensors",
        get("model", "music-transformer").build(config),
        "music-transformer",
        codec,
    )
    result = inspect_attention(path, tmp_path / "out", bars=8, max_tokens=500)
    assert 5 < len(result.ids) <= 40
    assert [p.name for p in result.images] == ["layer_0.png"]
