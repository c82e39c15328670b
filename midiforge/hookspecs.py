"""The hooks a midiforge plugin implements.

A plugin is any module (or object) registered under the ``midiforge`` entry-point group; it
implements one or more of the hooks below with ``@midiforge.hookimpl`` (a function without the
marker, or with a name not listed here, is reported by ``midiforge plugins``). Each hook receives
a ``register`` callable; call it once per thing you provide. Every registered object needs a
``name`` (what users type on the command line) and a ``description`` (one line, shown by
``midiforge plugins``). The built-ins (``midiforge.registry.DEFAULT_PLUGINS``) use exactly these
hooks, so they are the reference examples (see ``docs/plugins.md``); the typed contract of what
each hook registers is in ``midiforge.contracts``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "midiforge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[Any], None]


@hookspec
def register_tokenizers(register: Register) -> None:
    """Register tokenizers: objects with ``name``, ``description`` and
    ``create(params: dict) -> miditok.MusicTokenizer``.

    ``params`` are MidiTok ``TokenizerConfig`` keyword arguments (already merged with midiforge's
    defaults). The returned tokenizer is wrapped by :class:`midiforge.data.codec.Codec`, which adds
    midiforge's control tokens (role, key, tempo band, meter, chords), so a plugin only has to
    provide a MidiTok tokenizer. Its configuration is saved with the dataset and every checkpoint.
    """


@hookspec
def register_models(register: Register) -> None:
    """Register model architectures: objects with ``name``, ``description``, ``config_class``
    (a dataclass with ``vocab_size`` and ``max_seq_len``) and ``build(config) -> MidiModel``,
    where ``config`` is always a ``config_class`` instance.

    A ``MidiModel`` is a ``torch.nn.Module`` with ``config``, ``forward(ids) -> logits`` for
    training, ``init_cache(batch_size, device)`` / ``step(ids, cache) -> (logits, cache)`` for
    incremental generation and ``num_parameters()``. The shared trainer, sampler and exporters
    work with any such model. Optional ``exportable = False`` says the exporters cannot trace it.
    """


@hookspec
def register_styles(register: Register) -> None:
    """Register generation styles: objects with ``name``, ``description`` and
    ``generate(engine, options) -> list[midiforge.generation.Piece]``.

    A style decides the conditioning prefix, constraints (register, monophony, key lock),
    post-processing, output folder and GM instrument; the ``engine`` does the sampling with the
    loaded model (PyTorch or ONNX) and decodes tokens to MIDI. See ``midiforge.generation.styles``.
    """


@hookspec
def register_exporters(register: Register) -> None:
    """Register exporters: objects with ``name``, ``description``, ``suffix`` and
    ``export(checkpoint: Path | None, out: Path, **options) -> ExportReport``. Optional
    ``backend`` names the generation backend that runs its files (``"onnx"``).

    An exporter must validate its output against the PyTorch model before reporting success
    (logits within a stated tolerance), as Hugging Face optimum does.
    """


@hookspec
def register_corpora(register: Register) -> None:
    """Register corpora (named sources of MIDI files): objects with ``name``, ``description`` and
    ``files(cache_dir: Path, **options) -> list[Path]``.

    ``files`` returns MIDI paths, converting or downloading into ``cache_dir`` once if needed.
    midiforge passes only the keyword options its signature accepts: ``limit`` (applied by
    midiforge when not accepted), ``workers``, ``on_progress(done, total)``, and ``path`` for a
    corpus that declares ``takes_path = True`` (the one that reads a user's own folder).
    Optionally ``roles: dict[str, str]`` maps track names to roles (melody, chords, bass, drums)
    when the corpus knows them (e.g. chorale soprano = melody).
    """


@hookspec
def register_drummers(register: Register) -> None:
    """Register drummers: objects with ``name``, ``description`` and
    ``drum_track(score: symusic.Score, layout: SongLayout) -> symusic.Track``.

    ``generate harmonic --drums`` uses a drummer when the model cannot write drums itself. The
    drummer sees the model's finished parts (melody, chords, bass) and the song's form
    (:class:`midiforge.generation.drums.SongLayout`); the drums of a bar must depend only on that
    bar's notes and its place in the form, so repeated sections and live playback agree.
    """
