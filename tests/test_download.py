"""Dataset download end to end against a local HTTP server (with Range support) the test starts."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mido
import pytest

from midiforge.cli import cli
from midiforge.cli.common import run_cli
from midiforge.download import (
    DatasetSource,
    ExtractLimits,
    dataset_name,
    download_file,
    extract_midi,
    fetch_dataset,
)
from midiforge.errors import MidiforgeError
from midiforge.registry import registry


def _midi_bytes(pitch: int) -> bytes:
    song = mido.MidiFile()
    track = mido.MidiTrack()
    track += [
        mido.Message("note_on", note=pitch, velocity=80, time=0),
        mido.Message("note_off", note=pitch, time=480),
    ]
    song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


SONGS = {
    "set/a/one.mid": _midi_bytes(60),
    "set/b/two.MIDI": _midi_bytes(62),
    "set/three.mid": _midi_bytes(64),
}


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tf.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


@dataclass
class Server:
    """What the local server serves, and what it was asked."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping (once)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


@pytest.fixture
def server():
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.lstrip("/")
            range_header = self.headers.get("Range")
            state.requests.append((path, range_header))
            if path not in state.files:
                self.send_error(404, "Not Found")
                return
            data = state.files[path]
            start = 0
            if range_header and not state.ignore_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            body = data[start:]
            if path in state.drop_after:  # drop the connection mid-file, once
                body = body[: state.drop_after.pop(path)]
                self.close_connection = True
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MIDIFORGE_CACHE", str(root))
    return root


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_zip_download_extracts_only_midi_and_is_cached(server, cache) -> None:
    archive = _zip({**SONGS, "set/README.txt": b"hello", "set/cover.png": b"\x89PNG"})
    server.files["data/songs.zip"] = archive
    source = DatasetSource(server.url("data/songs.zip"), sha256=_sha(archive))
    files = fetch_dataset(source, name="songs", progress=False)
    folder = cache / "downloads" / "songs"
    assert sorted(p.relative_to(folder / "midi").as_posix() for p in files) == sorted(SONGS)
    for path in files:
        assert path.read_bytes() == SONGS[path.relative_to(folder / "midi").as_posix()]
        assert mido.MidiFile(path).length > 0  # real, readable MIDI
    assert not (folder / "midi" / "set" / "README.txt").exists()
    assert not (folder / "songs.zip").exists(), "archive removed after extraction by default"
    # a second call is served from the cache: no request reaches the server
    asked = len(server.requests)
    assert fetch_dataset(source, name="songs", progress=False) == files
    assert len(server.requests) == asked


def test_tar_gz_download_with_an_include_pattern(server, cache) -> None:
    archive = _tar_gz([(name, data) for name, data in SONGS.items()] + [("set/notes.txt", b"x")])
    server.files["songs.tar.gz"] = archive
    source = DatasetSource(server.url("songs.tar.gz"), include=r"^set/[ab]/")
    files = fetch_dataset(source, progress=False)
    assert sorted(p.name for p in files) == ["one.mid", "two.MIDI"]
    assert files[0].parent.parent.parent.parent.name == dataset_name(source.url)


def test_interrupted_transfer_resumes_with_a_range_request(server, cache, tmp_path) -> None:
    archive = _zip({f"song{i}.mid": _midi_bytes(40 + i) for i in range(30)}, zipfile.ZIP_STORED)
    server.files["big.zip"] = archive
    server.drop_after["big.zip"] = len(archive) // 3  # the first response dies a third of the way in
    dest = download_file(server.url("big.zip"), tmp_path / "big.zip", sha256=_sha(archive))
    assert dest.read_bytes() == archive
    ranges = [r for p, r in server.requests if p == "big.zip"]
    assert ranges == [None, f"bytes={len(archive) // 3}-"]
    assert not (tmp_path / "big.zip.part").exists()


def test_a_part_file_from_an_earlier_run_is_continued(server, tmp_path) -> None:
    archive = _zip(SONGS)
    server.files["songs.zip"] = archive
    (tmp_path / "songs.zip.part").write_bytes(archive[:100])
    download_file(server.url("songs.zip"), tmp_path / "songs.zip", sha256=_sha(archive))
    assert (tmp_path / "songs.zip").read_bytes() == archive
    assert server.requests == [("songs.zip", "bytes=100-")]


def test_a_server_without_range_support_restarts_cleanly(server, tmp_path) -> None:
    archive = _zip(SONGS)
    server.files["songs.zip"] = archive
    server.ignore_range = True
    (tmp_path / "songs.zip.part").write_bytes(b"garbage from an older file")
    download_file(server.url("songs.zip"), tmp_path / "songs.zip", sha256=_sha(archive))
    assert (tmp_path / "songs.zip").read_bytes() == archive


def test_checksum_mismatch_is_refused_and_nothing_is_kept(server, cache) -> None:
    server.files["songs.zip"] = _zip(SONGS)
    source = DatasetSource(server.url("songs.zip"), sha256="0" * 64)
    with pytest.raises(
        MidiforgeError, match=r"checksum mismatch for .*songs\.zip: expected sha256 0{64}, got [0-9a-f]{64}"
    ):
        fetch_dataset(source, name="songs", progress=False)
    folder = cache / "downloads" / "songs"
    assert not any(folder.glob("*.mid*")) and not (folder / "songs.zip.part").exists()
    assert not (folder / "midi").exists()


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ok.mid", _midi_bytes(60))
        link = zipfile.ZipInfo("link.mid")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../../evil.mid")
    return buffer.getvalue()


def _link_tar(kind: bytes) -> bytes:
    info = tarfile.TarInfo("set/link.mid")
    info.type = kind
    info.linkname = "../../evil.mid" if kind == tarfile.SYMTYPE else "set/one.mid"
    return _tar_gz([("set/one.mid", _midi_bytes(60)), info])


MALICIOUS = {
    "traversal.zip": (
        lambda: _zip({"ok.mid": _midi_bytes(60), "../../evil.mid": _midi_bytes(1)}),
        "path traversal",
    ),
    "absolute.zip": (lambda: _zip({"/tmp/evil.mid": _midi_bytes(1)}), "absolute path"),
    "symlink.zip": (_symlink_zip, "symbolic link"),
    "traversal.tar.gz": (lambda: _tar_gz([("set/../../../evil.mid", _midi_bytes(1))]), "path traversal"),
    "symlink.tar.gz": (lambda: _link_tar(tarfile.SYMTYPE), "symbolic link"),
    "hardlink.tar.gz": (lambda: _link_tar(tarfile.LNKTYPE), "hard link"),
    "device.tar.gz": (lambda: _tar_gz([_device()]), "device"),
    "bomb.zip": (lambda: _zip({"bomb.mid": b"\0" * (20 * 1024**2)}), "zip bomb"),
}


def _device() -> tarfile.TarInfo:
    info = tarfile.TarInfo("dev.mid")
    info.type = tarfile.CHRTYPE
    return info


@pytest.mark.parametrize("archive_name", sorted(MALICIOUS))
def test_malicious_archives_are_refused_without_writing_outside_the_cache(
    server, cache, tmp_path, archive_name
) -> None:
    make, reason = MALICIOUS[archive_name]
    server.files[archive_name] = make()
    with pytest.raises(MidiforgeError, match=rf"^refusing archive {archive_name}: .*{reason}"):
        fetch_dataset(DatasetSource(server.url(archive_name)), name="bad", progress=False)
    assert not list(tmp_path.rglob("evil.mid")), "nothing may be written outside the target"
    folder = cache / "downloads" / "bad"
    assert not (folder / "midi").exists() and not (folder / ".midi.extracting").exists()
    assert not (folder / "complete.json").exists()


def test_member_count_and_size_limits(server, cache) -> None:
    server.files["many.zip"] = _zip({f"s{i}.mid": _midi_bytes(60) for i in range(12)})
    with pytest.raises(MidiforgeError, match="12 members, over the limit of 10"):
        fetch_dataset(
            DatasetSource(server.url("many.zip")), limits=ExtractLimits(max_members=10), progress=False
        )
    with pytest.raises(MidiforgeError, match="MIDI files would take"):
        fetch_dataset(
            DatasetSource(server.url("many.zip")), limits=ExtractLimits(max_total_bytes=100), progress=False
        )


def test_unreachable_missing_and_non_archive_sources(server, cache, tmp_path) -> None:
    with pytest.raises(MidiforgeError, match="HTTP 404"):
        fetch_dataset(DatasetSource(server.url("nope.zip")), progress=False)
    server.files["page.zip"] = b"<html>not an archive</html>"
    with pytest.raises(MidiforgeError, match="not a zip or tar archive"):
        fetch_dataset(DatasetSource(server.url("page.zip")), progress=False)
    with pytest.raises(MidiforgeError, match="only http"):
        download_file("ftp://example.org/x.zip", tmp_path / "x.zip")
    with pytest.raises(MidiforgeError, match="archive not found"):
        fetch_dataset(DatasetSource(str(tmp_path / "missing.zip")), progress=False)


def test_a_local_archive_is_extracted_into_the_cache(cache, tmp_path) -> None:
    local = tmp_path / "mine.zip"
    local.write_bytes(_zip(SONGS))
    files = fetch_dataset(DatasetSource(str(local)), name="mine", progress=False)
    assert len(files) == 3 and local.exists(), "a user's own archive is never deleted"


def test_cli_download_copies_into_an_out_folder_and_keeps_what_is_there(cache, tmp_path, capsys) -> None:
    local = tmp_path / "mine.zip"
    local.write_bytes(_zip(SONGS))
    out = tmp_path / "data"
    out.mkdir()
    first = sorted(SONGS)[0]
    (out / first).parent.mkdir(parents=True, exist_ok=True)
    (out / first).write_bytes(b"the user's own")
    assert run_cli(cli, ["download", str(local), "--name", "mine", "-o", str(out)]) == 0
    assert "copied 2 into" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(SONGS)
    assert (out / first).read_bytes() == b"the user's own"
    assert all((out / name).read_bytes() == data for name, data in SONGS.items() if name != first)


def test_extract_midi_replaces_an_old_extraction_atomically(tmp_path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip(SONGS))
    target = tmp_path / "out"
    (target / "stale").mkdir(parents=True)
    files = extract_midi(archive, target)
    assert len(files) == 3 and not (target / "stale").exists()


def test_cli_download_url_and_bad_checksum(server, cache, capsys) -> None:
    archive = _zip(SONGS)
    server.files["songs.zip"] = archive
    url = server.url("songs.zip")
    assert run_cli(cli, ["download", url, "--sha256", _sha(archive), "--name", "cli-songs"]) == 0
    out = capsys.readouterr().out
    assert "3 MIDI files" in out and "cli-songs" in out
    assert run_cli(cli, ["download", url, "--sha256", "f" * 64, "--name", "other"]) == 1
    captured = capsys.readouterr()
    assert "checksum mismatch" in captured.out + captured.err


def test_named_corpora_are_registered_with_their_published_urls() -> None:
    reg = registry()
    corpora = {name: reg.get("corpus", name) for name in ("maestro", "lmd-clean", "pop909", "nottingham")}
    assert corpora["maestro"].url.endswith("/maestro/v3.0.0/maestro-v3.0.0-midi.zip")
    assert corpora["maestro"].sha256 == "70470ee253295c8d2c71e6d9d4a815189e35c89624b76d22fce5a019d5dde12c"
    assert corpora["lmd-clean"].url.endswith("/lmd/clean_midi.tar.gz")
    assert "music-x-lab/POP909-Dataset" in corpora["pop909"].url
    assert "nottingham-dataset" in corpora["nottingham"].url
    assert all(c.description and c.url.startswith("http") for c in corpora.values())


def test_corpus_plugin_downloads_on_first_use_then_uses_the_cache(server, cache) -> None:
    from midiforge.plugins.downloads import CORPORA, DownloadableCorpus

    pop909 = next(c for c in CORPORA if c.name == "pop909")
    songs = {
        "POP909-Dataset-master/POP909/001/001.mid": _midi_bytes(60),
        "POP909-Dataset-master/POP909/001/versions/v1.mid": _midi_bytes(61),
        "POP909-Dataset-master/POP909/002/002.mid": _midi_bytes(62),
        "POP909-Dataset-master/README.md": b"readme",
    }
    server.files["pop.zip"] = _zip(songs)
    corpus = DownloadableCorpus("pop-test", "test copy", server.url("pop.zip"), include=pop909.include)
    files = corpus.files(cache / "ignored", progress=False)
    assert [p.name for p in files] == ["001.mid", "002.mid"]
    assert all((cache / "downloads" / "pop-test") in p.parents for p in files)
    asked = len(server.requests)
    assert corpus.files(cache / "ignored", progress=False) == files
    # the way `prepare --corpus` calls a corpus plugin
    assert corpus.files(cache / "corpora", limit=1, workers=2, on_progress=None, progress=False) == files[:1]
    assert len(server.requests) == asked
