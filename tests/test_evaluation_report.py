"""evaluate() end to end, its JSON/PNG report, and the `midiforge evaluate` command."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from midiforge.cli import cli
from midiforge.errors import MidiforgeError
from midiforge.evaluation import EvaluationSettings, evaluate, save_report
from tests.helpers.evaluation_midi import C_MAJOR_SCALE, note_list, write_midi


def make_sets(root, n_ref=6, n_gen=4):
    """Reference: diatonic melodies over triads; generated: chromatic random single lines."""
    rng = random.Random(1)
    for i in range(n_ref):
        melody = note_list([rng.choice(C_MAJOR_SCALE) + 12 for _ in range(16)])
        chords = [(48 + r + x, b * 4, b * 4 + 4) for b, r in enumerate([0, 5, 7, 0]) for x in (0, 4, 7)]
        write_midi(root / "ref" / f"r{i}.mid", {"Melody": melody, "Chords": chords})
    for i in range(n_gen):
        write_midi(
            root / "gen" / f"g{i}.mid",
            {"Melody": note_list([rng.randint(50, 90) for _ in range(24)], step=0.5)},
        )
    return root / "gen", root / "ref"


def test_evaluate_tells_sets_apart_and_a_set_from_itself(tmp_path):
    gen, ref = make_sets(tmp_path)
    report = evaluate(gen, ref)
    assert report.generated.files == 4 and report.reference.files == 6
    polyphony = report.feature("polyphony")
    assert polyphony.generated.mean == pytest.approx(1.0) and polyphony.reference.mean == pytest.approx(4.0)
    assert report.feature("scale_consistency").reference.mean == 1.0
    assert report.feature("scale_consistency").overlap.overlap_area < 0.2
    assert (
        report.harmony["reference"].multitrack_files == 6
        and report.harmony["generated"].multitrack_files == 0
    )
    assert report.harmony["reference"].in_key_ratio == 1.0
    assert len(report.per_file) == 4 and "pitch_class_entropy" in report.per_file[0]

    itself = evaluate(ref, ref)
    for feature in itself.features:
        if feature.overlap.intra_reference.std > 0:
            assert feature.overlap.overlap_area == pytest.approx(1.0, abs=1e-6), feature.name
    # a "model" that outputs its training data is caught: every 16-note melody is a full copy
    assert len(itself.originality.copied_files) == 6
    assert all(f.ngram_overlap == 1.0 and f.longest_copied_notes == 16 for f in itself.originality.files)


def test_report_json_and_png_are_written(tmp_path):
    gen, ref = make_sets(tmp_path)
    report = evaluate(gen, ref, settings=EvaluationSettings(ngram_notes=4, seed=3))
    written = save_report(report, tmp_path / "out")
    assert [p.name for p in written] == ["report.json", "distributions.png"]
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["settings"]["ngram_notes"] == 4
    assert {f["name"] for f in data["features"]} >= {
        "pitch_class_entropy",
        "groove_consistency",
        "pitch_class_transitions",
    }
    assert data["harmony"]["generated"]["chord_tone_ratio"] is None  # NaN becomes null: valid JSON
    assert len(data["features"][-1]["generated"]) == 144  # mean 12x12 transition matrix
    assert (tmp_path / "out" / "distributions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unreadable_files_are_skipped_and_reported(tmp_path):
    gen, ref = make_sets(tmp_path)
    (gen / "broken.mid").write_bytes(b"not midi")
    report = evaluate(gen, ref)
    assert report.generated.files == 4
    assert list(report.generated.skipped) == [str(gen / "broken.mid")]


def test_cli_writes_report_and_prints_tables(tmp_path, monkeypatch):
    from midiforge import terminal

    # The console took its width from COLUMNS when it was first imported, which in a shared test
    # process may have been inside another test's 80-column run: give it this test's width.
    monkeypatch.setattr(terminal.console, "_width", 200)
    gen, ref = make_sets(tmp_path)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli, ["evaluate", str(gen), "--reference", str(ref), "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Pitch-class entropy" in result.output and "Harmonic coherence" in result.output
    assert json.loads((out / "report.json").read_text())["generated"]["files"] == 4
    as_json = CliRunner().invoke(
        cli, ["evaluate", str(gen), "-r", str(ref), "-o", str(tmp_path / "e2"), "--json", "--no-plot"]
    )
    assert json.loads(as_json.output)["reference"]["files"] == 6
    assert sorted(p.name for p in (tmp_path / "e2").iterdir()) == ["report.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate"], "give GENERATED"),
        (["evaluate", "GEN"], "--reference CORPUS|DIR is required"),
        (["evaluate", "nowhere", "-r", "REF"], "neither a MIDI file, a folder nor a corpus"),
        (["evaluate", "--perplexity", "x.safetensors"], "go together"),
    ],
)
def test_cli_bad_input_is_one_clear_error(tmp_path, args, message):
    args = [a.replace("REF", str(tmp_path)) for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, MidiforgeError) and message in str(result.exception)


def test_reference_can_be_a_corpus_name(tmp_path, monkeypatch, use_plugins):
    import midiforge
    from midiforge.evaluation.pieces import resolve_midi_files

    gen, ref = make_sets(tmp_path)

    class TinyCorpus:
        name = "tiny-test-corpus"
        description = "two files"

        def files(self, cache_dir):
            return sorted(ref.glob("*.mid"))[:2]

    class Plugin:
        @staticmethod
        @midiforge.hookimpl
        def register_corpora(register):
            register(TinyCorpus())

    use_plugins({"tiny": Plugin})
    monkeypatch.setenv("MIDIFORGE_CACHE", str(tmp_path / "cache"))
    assert [p.name for p in resolve_midi_files("tiny-test-corpus")] == ["r0.mid", "r1.mid"]
    assert evaluate(gen, "tiny-test-corpus").reference.files == 2


def test_prepared_dataset_as_reference_means_its_held_out_files(tmp_path):
    gen, ref = make_sets(tmp_path)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "codec.json").write_text("{}")
    files = sorted(ref.glob("*.mid"))
    entries = [
        {"file": str(f), "status": "ok", "split": "val" if i < 2 else "train"} for i, f in enumerate(files)
    ]
    entries.append({"file": str(tmp_path / "gone.mid"), "status": "skipped", "reason": "no notes"})
    (dataset / "report.json").write_text(json.dumps({"files": entries}))
    report = evaluate(gen, dataset, training=dataset)
    assert report.reference.files == 2  # the held-out (val) files
    assert report.originality_against == str(dataset)
    real_vs_real = evaluate(f"{dataset}:val", f"{dataset}:train")
    assert (real_vs_real.generated.files, real_vs_real.reference.files) == (2, 4)
    train_copy = evaluate(files[3], dataset, training=dataset)  # a training file "generated" again
    assert train_copy.originality.files[0].longest_copied_notes == 16
