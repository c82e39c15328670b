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

Progress = Callable[[int, int], None]
MIDI_SUFFIXES = (".mid", ".midi")


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
        found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        return found[:limit] if limit else found


class Music21Corpus:
    """Base for corpora converted from music21's bundled scores into ``cache_dir/<name>/``."""

    name = ""
    description = ""
    roles: dict[str, str] = {}

    def sources(self, folder: Path) -> list:
        raise NotImplementedError

    def files(
        self,
        cache_dir: Path,
        limit: int | None = None,
        workers: int = 2,
        on_progress: Progress | None = None,
        **_,
    ) -> list[Path]:
        from midiforge.data.music21_convert import convert_all

        folder = Path(cache_dir) / self.name
        folder.mkdir(parents=True, exist_ok=True)
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


BUILTIN_CORPORA = [UserCorpus(), BachChorales(), FolkTunes(), Palestrina()]


@hookimpl
def register_corpora(register):
    for corpus in BUILTIN_CORPORA:
        register(corpus)
