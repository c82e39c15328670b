"""``midiforge studio``'s server: safety (no traversal, body limit), one-line errors, queued model runs,
edits that change only the chosen bars, downloads, and a history that survives a restart."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from midiforge.studio.app import MAX_BODY, create_app  # noqa: E402
from midiforge.studio.service import Studio  # noqa: E402
from midiforge.studio.view import note_keys  # noqa: E402


@pytest.fixture
def client(tmp_path, engine):
    studio = Studio(tmp_path / "studio", engine=engine)
    (tmp_path / "secret.txt").write_text("not for the page")
    with TestClient(create_app(studio), raise_server_exceptions=False) as c:
        c.studio = studio
        yield c
    studio.jobs.close()


def wait(client, job: dict, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job['id']}").json()
        if job["status"] in ("done", "error"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job['id']} did not finish")


SMALL = {"style": "harmonic", "chords": "Am F C G", "bars": 4, "seed": 1, "key": "A minor"}


def test_page_and_vendored_player_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "midiforge studio" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text  # works offline
    for name in ("Tone.js", "Midi.js", "Tone.LICENSE.md", "Midi.LICENSE.md"):
        assert client.get(f"/static/vendor/{name}").status_code == 200, name


@pytest.mark.parametrize("path", [
    "/files/%2e%2e/secret.txt",
    "/files/..%2Fsecret.txt",
    "/files/results/%2e%2e/%2e%2e/secret.txt",
    "/files/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e/%2e%2e/studio/app.py",
])
def test_path_traversal_is_refused(client, path):
    response = client.get(path)
    assert response.status_code in (403, 404), path
    assert "not for the page" not in response.text and "root:" not in response.text
    assert "Starlette" not in response.text  # no source code either


def test_result_ids_are_checked(client):
    assert client.get("/api/results/..").status_code in (400, 404)
    bad = client.get("/api/results/20260101-000000-000%2F..%2F..")
    assert bad.status_code in (400, 404)
    assert client.get("/api/results/nonsense").json()["error"].startswith("bad result id")


def test_oversized_body_is_refused(client):
    big = {"chords": "Am " * MAX_BODY}
    response = client.post("/api/generate", json=big)
    assert response.status_code == 413 and "too large" in response.json()["error"]

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    response = client.post("/api/generate", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get("/api/results").status_code == 200  # and the server goes on


@pytest.mark.parametrize(("params", "message"), [
    ({"chords": "Am F H7 G"}, "bad chord symbol 'H7'"),
    ({"chords": "Am F Cxyz"}, "bad chord symbol 'Cxyz'"),
    ({"meter": "4/5"}, "unsupported meter '4/5'"),
    ({"meter": "four"}, "bad meter 'four'"),
    ({"tempo": 900}, "tempo"),
    ({"n": 50}, "n must be between"),
    ({"key": "Q major"}, "cannot read key 'Q major'"),
    ({"style": "polka"}, "unknown style 'polka'"),
    ({"groove": "disco"}, "unknown groove 'disco'"),
    ({"density": "loud"}, "unknown density 'loud'"),
    ({"dynamics": "loud"}, "unknown dynamics 'loud'"),
    ({"sections": "A-B"}, "bad form 'A-B'"),
    ({"pickup": 4}, "an upbeat is 1..3 beats of a 4/4 bar"),
    ({"velocity_temperature": 0}, "velocity_temperature must be between"),
])
def test_bad_input_gets_a_one_line_message(client, params, message):
    for endpoint in ("/api/check", "/api/generate"):
        response = client.post(endpoint, json={**SMALL, **params})
        assert response.status_code == 400
        error = response.json()["error"]
        assert message in error and "\n" not in error and "Traceback" not in error
    assert client.post("/api/check", json=SMALL).json() == {"ok": True, "chords": 4,
                                                             "symbols": ["Am", "F", "C", "G"]}
    assert client.post("/api/generate", content=b"{not json").json()["error"] == "the request is not valid JSON"


def test_song_controls_reach_the_song(client):
    asked = {**SMALL, "chords": "", "meter": "3/4", "groove": "waltz", "density": "busy", "sections": "AB",
             "pickup": 1, "vary_repeats": True, "velocity_temperature": 1.3, "dynamics": "free"}
    options = client.get("/api/options").json()
    assert "bossa" in options["grooves"] and "none" not in options["grooves"] and options["densities"][1] == "medium"
    job = wait(client, client.post("/api/generate", json=asked).json())
    assert job["status"] == "done", job
    meta = client.get(f"/api/results/{job['results'][0]}").json()["meta"]
    assert (meta["groove"], meta["form"], meta["pickup"]) == ("waltz", "AB", 1)
    assert "dynamics" not in meta and meta["settings"]["dynamics"] == "free"  # the model's velocities alone
    assert meta["settings"]["velocity_temperature"] == 1.3
    score = _score(client, job["results"][0])
    assert min(n.time for t in score.tracks for n in t.notes) == 2 * score.ticks_per_quarter  # the upbeat


def test_chords_must_not_name_a_file(client, tmp_path):
    response = client.post("/api/check", json={**SMALL, "chords": str(tmp_path / "secret.txt")})
    assert response.status_code == 400 and "not a file name" in response.json()["error"]


def test_two_concurrent_requests_run_one_after_the_other(client):
    answers = []

    def post(seed):
        answers.append(client.post("/api/generate", json={**SMALL, "seed": seed}).json())

    threads = [threading.Thread(target=post, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a["status"] for a in answers} == {"queued"}
    assert any("1 job ahead" in a["message"] for a in answers)  # the later one waits for the earlier
    first, second = sorted((wait(client, a) for a in answers), key=lambda j: j["started"])
    assert first["status"] == second["status"] == "done", (first, second)
    assert second["started"] >= first["finished"]  # never two model runs at once
    assert len(client.get("/api/results").json()["results"]) == 2


def test_generate_then_regenerate_bars_changes_only_those_bars(client):
    job = wait(client, client.post("/api/generate", json={**SMALL, "bars": 8}).json())
    assert job["status"] == "done", job
    rid = job["results"][0]
    song = client.get(f"/api/results/{rid}").json()
    view = song["view"]
    assert len(view["bars"]) == 8 and set(view["chords"]) <= {"Am", "F", "C", "G"} and view["chords"][:2] == ["Am", "F"]
    assert {t["role"] for t in view["tracks"]} >= {"melody", "chords", "bass"}

    edit = client.post("/api/edit", json={"result": rid, "bars": "5-8", "track": "melody", "mode": "regenerate",
                                          "seed": 7})
    job = wait(client, edit.json())
    assert job["status"] == "done", job
    child = client.get(f"/api/results/{job['results'][0]}").json()
    assert child["parent"] == rid and child["bars_changed"] == [5, 8]
    before, after = _score(client, rid), _score(client, child["id"])
    bar5 = int(before.get_downbeats()[4])
    melody = next(t["index"] for t in view["tracks"] if t["role"] == "melody")
    outside = {k for k in note_keys(before) if not (k[0] == melody and k[1] >= bar5)}
    assert outside <= note_keys(after)  # every other note is still there
    changed = note_keys(after) - note_keys(before)
    assert all(k[0] == melody and k[1] >= bar5 for k in changed)
    flagged = [n for t in child["view"]["tracks"] for n in t["notes"] if n[4]]
    assert len(flagged) == len(changed)  # the page is told which notes are new


def test_edit_errors_and_downloads(client):
    assert client.post("/api/edit", json={"result": "nope"}).status_code == 400
    job = wait(client, client.post("/api/generate", json=SMALL).json())
    rid = job["results"][0]
    response = client.post("/api/edit", json={"result": rid, "bars": "9-12", "track": "melody"})
    job = wait(client, response.json())
    assert job["status"] == "error" and "the piece has 4 bars" in job["error"]
    assert client.post("/api/edit", json={"result": rid, "mode": "regenerate"}).json()["error"].startswith("select")
    midi = client.get(f"/api/results/{rid}/midi")
    assert midi.content[:4] == b"MThd" and ".mid" in midi.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/api/results/{rid}/zip").content)).namelist()
    assert "song.mid" in names and "meta.json" in names and any(n.startswith("tracks/") for n in names)
    assert client.get(f"/files/results/{rid}/song.mid").content == midi.content


def test_history_survives_a_restart(client, engine):
    job = wait(client, client.post("/api/generate", json=SMALL).json())
    rid = job["results"][0]
    again = Studio(client.studio.history.root, engine=engine)
    with TestClient(create_app(again)) as fresh:
        listed = [r["id"] for r in fresh.get("/api/results").json()["results"]]
        assert rid in listed
        assert fresh.get(f"/api/results/{rid}").json()["view"]["tracks"]
    again.jobs.close()


def _score(client, rid):
    import symusic

    return symusic.Score.from_midi(client.get(f"/api/results/{rid}/midi").content)


def test_progress_follows_the_bars_the_model_samples(engine, tmp_path):
    import midiforge
    from midiforge.studio.jobs import Job
    from midiforge.studio.service import ProgressListener

    reports = []
    job = Job(id="j", kind="generate", work=lambda job: [])
    job.report = lambda progress, message: reports.append((progress, message))
    options = midiforge.StyleOptions(n=2, bars=8, chords="Am F C G", sampling=midiforge.SamplingConfig(seed=1),
                                     listener=ProgressListener(job))
    midiforge.generate("harmonic", options, out=tmp_path, engine=engine)
    assert len(reports) >= 2 and reports[-1] == (1.0, "bar 16 of 16")
    assert [p for p, _ in reports] == sorted(p for p, _ in reports)  # it only moves forward


def test_vary_keeps_the_chords_and_says_which_bars_changed(client):
    rid = wait(client, client.post("/api/generate", json=SMALL).json())["results"][0]
    parent = client.get(f"/api/results/{rid}").json()
    whole = wait(client, client.post("/api/edit", json={"result": rid, "mode": "vary", "seed": 4}).json())
    chosen = client.get(f"/api/results/{whole['results'][0]}").json()
    assert chosen["title"].startswith("Varied bars") and chosen["bars_changed"]
    assert set(chosen["bars_changed"]) <= {1, 2, 3, 4}
    some = wait(client, client.post("/api/edit", json={"result": rid, "mode": "vary", "bars": "2-3",
                                                       "track": "bass", "seed": 5}).json())
    varied = client.get(f"/api/results/{some['results'][0]}").json()
    assert varied["bars_changed"] == [2, 3] and varied["view"]["chords"] == parent["view"]["chords"]
    bass = next(t["index"] for t in parent["view"]["tracks"] if t["role"] == "bass")
    others = [t for t in varied["view"]["tracks"] if t["index"] != bass]
    assert not any(n[4] for t in others for n in t["notes"])  # only the bass was touched
