"""The client in examples/onnx-client, written from docs/export.md alone, decodes as the model does."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from midiforge.exporting.api import export_model
from tests.helpers.scripts import load_script

CLIENT = Path(__file__).parents[1] / "examples" / "onnx-client"


def load_client():
    """examples/onnx-client/client.py as a module (it is a script, not part of the package)."""
    return load_script("examples/onnx-client/client.py", "onnx_client")


@pytest.fixture(scope="module", params=["fused", "plain"])
def exported(request, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "model.onnx"
    assert export_model("onnx", tiny_checkpoint, out, attention=request.param).passed
    return out


def check_greedy(tokens: list[str], model: Path, checkpoint: Path) -> None:
    """Every client token is the grammar-allowed argmax (EOS left out: the random model would end
    at once) of the PyTorch model's logits, read over the whole sequence at once (no cache): the
    client's cache handling is what is checked."""
    from midiforge.generation.grammar import Grammar
    from midiforge.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    grammar = Grammar.from_codec(loaded.codec)  # midiforge's own masks, not the client's reading of the contract
    meta = json.loads(model.with_suffix(".json").read_text())
    ids = {t: i for i, t in enumerate(meta["vocab"])}
    prompt = ["BOS_None", "Role_full", "Key_C_major", "Tempo_mid", "Meter_4_4", "Groove_none", "Density_medium"]
    seq = [ids[t] for t in prompt + tokens]
    with torch.no_grad():
        logits = loaded.model.eval()(torch.tensor([seq])).numpy()[0]
    assert len(tokens) >= 30
    for i, token in enumerate(tokens):
        at = len(prompt) + i - 1
        allowed = grammar.next_ok[grammar.type_idx[seq[at]]].copy()
        allowed[grammar.eos_id] = False
        assert allowed[ids[token]], (i, token)
        assert logits[at, ids[token]] >= logits[at][allowed].max() - 1e-4, (i, token)


def test_python_client_decodes_like_pytorch(exported, tiny_checkpoint):
    run = subprocess.run([sys.executable, str(CLIENT / "client.py"), str(exported), "--greedy", "--ignore-eos",
                          "--max-tokens", "40", "--tokens"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    check_greedy(run.stdout.split(), exported, tiny_checkpoint)


def test_python_client_needs_only_onnxruntime_and_numpy():
    tree = ast.parse((CLIENT / "client.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "argparse", "json", "pathlib", "numpy", "onnxruntime"}


def test_python_client_reads_notes_as_docs_say():
    client = load_client()
    tokens = ("Bar_None Chord_C_maj TimeSig_4/4 Position_0 Program_73 Pitch_72 Velocity_95 Duration_1.0.4 "
              "Program_32 Pitch_36 Velocity_103 Duration_2.2.4 Position_14 Program_-1 PitchDrum_42 Velocity_63 "
              "Duration_0.1.4 Bar_None Chord_G_maj TimeSig_3/4 Position_4 Program_0 Pitch_67 Velocity_79 Duration_3.0.4 "
              "Bar_None Chord_C_maj TimeSig_4/4 Position_2 Program_73 Pitch_76 Velocity_87 Duration_0.1.2").split()
    assert client.notes(tokens, 4) == [(0.0, 73, 72, 95, 1.0), (0.0, 32, 36, 103, 2.5), (3.5, -1, 42, 63, 0.25),
                                       (5.0, 0, 67, 79, 3.0), (7.5, 73, 76, 87, 0.5)]


def test_python_client_prints_a_note_per_duration_token(exported):
    args = [sys.executable, str(CLIENT / "client.py"), str(exported), "--seed", "3", "--bars", "2", "--ignore-eos"]
    tokens = subprocess.run([*args, "--tokens"], capture_output=True, text=True, timeout=120).stdout.split()
    lines = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert tokens.count("Bar_None") == 2
    assert len(lines) == sum(t.startswith("Duration_") for t in tokens) > 0


def test_the_contract_lets_a_client_end_a_song_where_midiforge_would(exported, tiny_checkpoint):
    """The exported types and grammar give each token exactly midiforge's own masks: EOS after a
    note or a bar header, never after BOS (PAD and BOS share a type; EOS has its own)."""
    from midiforge.generation.grammar import Grammar
    from midiforge.models.checkpoint import load_checkpoint

    client = load_client()
    meta = json.loads(exported.with_suffix(".json").read_text())
    grammar = Grammar.from_codec(load_checkpoint(tiny_checkpoint).codec)
    allowed = client.masks(meta)
    nothing = np.zeros(meta["vocab_size"], bool)  # the grammar has no entry for what may follow EOS
    for token_id, kind in enumerate(meta["types"]):
        np.testing.assert_array_equal(allowed.get(kind, nothing), grammar.next_ok[grammar.type_idx[token_id]])
    eos = meta["special_ids"]["eos"]
    assert allowed["Duration"][eos] and not allowed["Special"][eos]


def test_metadata_prompt_names_every_control_of_the_codec(exported):
    meta = json.loads(exported.with_suffix(".json").read_text())
    assert "Groove_<groove> Density_<density>" in meta["prompt"] and "Pitch Velocity Duration" in meta["prompt"]
    assert {f"Groove_{g}" for g in meta["grooves"]} | {f"Density_{d}" for d in meta["densities"]} <= set(meta["vocab"])


def node_with_onnxruntime() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    found = subprocess.run([node, "-e", "import('onnxruntime-node').then(() => 0)"], capture_output=True,
                           cwd=CLIENT, timeout=60)
    return found.returncode == 0


@pytest.mark.skipif(not node_with_onnxruntime(), reason="needs node and onnxruntime-node (npm install)")
def test_node_client_decodes_like_pytorch(exported, tiny_checkpoint):
    run = subprocess.run(["node", str(CLIENT / "client.mjs"), str(exported), "40", "--ignore-eos"], capture_output=True,
                         text=True,
                         timeout=120, cwd=CLIENT)
    assert run.returncode == 0, run.stderr
    check_greedy(run.stdout.split(), exported, tiny_checkpoint)
