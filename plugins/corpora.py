"""Built-in corpora: a user's folder of MIDI files, and the public-domain corpora that ship inside
music21's wheel (Bach chorales, folk tunes, Palestrina), converted to MIDI once and cached.

A corpus is any object with ``name``, ``description`` and ``files(cache_dir, **options) -> list[Path]``;
``roles`` (lower-case track name -> ``role`` or ``role+role``) tells prepare which track plays what.
Everything here works offline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from midiforge import hookimpl
from midiforge.errors import MidiforgeError
from midiforge.paths import midi_files_in

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class UserCorpus:
    """Any folder of .mid/.midi files (searched recursively), or a single file."""

    name: str = "user"
    description: str = "Your own MIDI files: a folder (searched recursively) or one .mid/.midi file."
    roles: dict[str, str] = field(default_factory=dict)
    takes_path = True  # declared capability: midiforge passes the user's PATH here (contracts.path_corpus)

    def files(
        self, cache_dir: Path | None = None, path: str | Path | None = None, limit: int | None = None, **_
    ) -> list[Path]:
        if path is None:
            raise MidiforgeError(
                "the user corpus needs a path (midiforge prepare PATH, or --corpus user --path PATH)"
            )
        root = Path(path).expanduser()
        if not root.exists():
            raise MidiforgeError(f"no such file or folder: {root}")
        if root.is_file():
            return [root]
        found = midi_files_in(root)
        return found[:limit] if limit else found


class CachedCorpus:
    """Base for corpora made once into ``cache_dir/<name>/``: ``files`` takes the documented
    options and hands the folder to :meth:`make`."""

    name = ""
    description = ""
    roles: dict[str, str] = {}

    @property
    def folder(self) -> str:
        """The cache folder's name; a corpus whose recipe changes names a new one, so files made
        by the old recipe are never mixed with the new."""
        return self.name

    def files(
        self,
        cache_dir: Path,
        limit: int | None = None,
        workers: int = 2,
        on_progress: Progress | None = None,
        **_,
    ) -> list[Path]:
        folder = Path(cache_dir) / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        return self.make(folder, limit, workers, on_progress)

    def make(self, folder: Path, limit: int | None, workers: int, on_progress: Progress | None) -> list[Path]:
        raise NotImplementedError


class Music21Corpus(CachedCorpus):
    """Base for corpora converted from music21's bundled scores."""

    def sources(self, folder: Path) -> list:
        raise NotImplementedError

    def make(self, folder: Path, limit: int | None, workers: int, on_progress: Progress | None) -> list[Path]:
        from midiforge.data.music21_convert import convert_all

        sources = self.sources(folder)
        if limit:
            sources = sources[:limit]
        return convert_all(sources, folder, workers=workers, on_progress=on_progress)


class BachChorales(Music21Corpus):
    name = "bach-chorales"
    description = (
        "353 Bach chorales (music21 corpus), four parts: soprano = melody, alto/tenor = chords, bass = bass."
    )
    roles = {"soprano": "melody", "alto": "chords", "tenor": "chords", "bass": "bass+chords"}

    def sources(self, folder: Path) -> list:
        from music21 import corpus

        from midiforge.data.music21_convert import PieceSource

        # BWV numbering: every chorale once (Riemenschneider's 371 numbers repeat some chorales)
        names = dict.fromkeys(
            str(n) for n in corpus.chorales.Iterator(returnType="filename", numberingSystem="bwv")
        )
        return [
            PieceSource(
                out=folder / f"{Path(str(name)).name}.mid",
                path=str(name),
                parts=("soprano", "alto", "tenor", "bass"),
                default_tempo=80.0,
                program=52,
            )
            for name in names
        ]


class FolkTunes(Music21Corpus):
    """Essen, O'Neill's 1850 and Ryan's Mammoth tunes, interleaved so a ``--limit`` mixes all three."""

    name = "folk"
    description = (
        "~11,500 folk melodies (Essen, O'Neill's 1850, Ryan's Mammoth; music21 corpus ABC). Use --limit."
    )
    roles: dict[str, str] = {}
    books = (
        ("essenFolksong", "essen", 100.0),
        ("oneills1850", "oneills", 120.0),
        ("ryansMammoth", "ryans", 120.0),
    )

    def sources(self, folder: Path) -> list:
        from music21 import corpus

        from midiforge.data.music21_convert import PieceSource, split_abc

        per_book = []
        for composer, prefix, tempo in self.books:
            items = []
            for path in sorted(corpus.getComposer(composer)):
                path = Path(path)
                tunes = split_abc(path.read_text(encoding="utf-8", errors="replace"))
                for index, (number, text) in enumerate(tunes):
                    out = folder / f"{prefix}_{path.stem}_{index:04d}_X{number}.mid"
                    items.append(PieceSource(out=out, abc=text, default_tempo=tempo, program=73))
            per_book.append(items)
        interleaved = []
        for i in range(max(len(b) for b in per_book)):
            interleaved.extend(b[i] for b in per_book if i < len(b))
        return interleaved


class Palestrina(Music21Corpus):
    name = "palestrina"
    description = "1,318 Palestrina mass movements (music21 corpus, Humdrum); roles by register heuristics."
    roles: dict[str, str] = {}

    def sources(self, folder: Path) -> list:
        from music21 import corpus

        from midiforge.data.music21_convert import PieceSource

        paths = sorted(Path(p) for p in corpus.getComposer("palestrina"))
        return [
            PieceSource(out=folder / f"{p.stem}.mid", path=str(p), default_tempo=100.0, program=52)
            for p in paths
        ]


class BandArrangements(CachedCorpus):
    """Chorale and folk melodies arranged for a band (chords, bass, drums, dynamics) by Debian's
    ``mma`` grooves under chord charts from the music itself; see :mod:`midiforge.data.band`."""

    name = "band"
    description = (
        "Band arrangements: Bach chorale and folk melodies over MMA grooves (drums, bass, comping, "
        "dynamics; 13 groove families). Needs `mma` (apt-get install mma). Use --limit."
    )
    roles = {"melody": "melody", "chords": "chords", "bass": "bass", "drums": "drums"}
    batch = 30  # tunes per mma run (starting mma costs about a second)

    @property
    def folder(self) -> str:
        from midiforge.data.band import RENDER_VERSION

        return f"{self.name}-r{RENDER_VERSION}"

    def make(self, folder: Path, limit: int | None, workers: int, on_progress: Progress | None) -> list[Path]:
        import json

        from midiforge import atomic
        from midiforge.data.band import TuneSource, rendition_names
        from midiforge.data.workers import WorkerDied, run_jobs

        cache_dir = folder.parent  # the melodies come from the chorale and folk corpora beside it
        chorales = BachChorales().files(cache_dir, limit=limit, workers=workers)
        folk_limit = None if limit is None else max(0, limit - len(chorales))
        folk = FolkTunes().files(cache_dir, limit=folk_limit, workers=workers) if folk_limit != 0 else []
        sources = [TuneSource(p, "soprano", chorale=True) for p in chorales] + [TuneSource(p) for p in folk]
        sources = sources[:limit] if limit else sources
        failures_path = folder / "failures.json"
        failures = json.loads(failures_path.read_text()) if failures_path.exists() else {}
        names = {s: [f"{n}.mid" for n in rendition_names(s.path.stem)] for s in sources}
        todo = [s for s in sources if not any((folder / n).exists() or n in failures for n in names[s])]
        done = len(sources) - len(todo)
        if on_progress:
            on_progress(done, len(sources))
        batches = [(todo[i : i + self.batch], folder) for i in range(0, len(todo), self.batch)]
        for index, results in run_jobs(_arrange, batches, workers):  # a dead worker's batch is retried, then reported
            if isinstance(results, WorkerDied):
                results = [(n, f"worker died: {results}") for s in batches[index][0] for n in names[s]]
            # a failed mma run is retried next time; a tune that cannot be arranged is remembered
            failures.update({n: e for n, e in results if e and not e.startswith(("mma failed", "worker died"))})
            done += len(batches[index][0])
            if on_progress:
                on_progress(done, len(sources))
            atomic.write_text(failures_path, json.dumps(failures, indent=1, sort_keys=True))
        return [folder / n for s in sources for n in names[s] if (folder / n).exists()]


def _arrange(job: tuple[list, Path]) -> list[tuple[str, str | None]]:
    """One batch of the band corpus in a worker process (one ``mma`` run)."""
    from midiforge.data.band import arrange_batch

    sources, folder = job
    return arrange_batch(sources, folder)


BUILTIN_CORPORA = [UserCorpus(), BachChorales(), FolkTunes(), Palestrina(), BandArrangements()]


@hookimpl
def register_corpora(register):
    for corpus in BUILTIN_CORPORA:
        register(corpus)
