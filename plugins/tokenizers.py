"""Built-in tokenizers: thin wrappers around MidiTok's tokenizers.

midiforge adds its own control tokens on top (see ``midiforge.data.codec``), so a tokenizer plugin
only has to build a MidiTok tokenizer from a ``TokenizerConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from midiforge import hookimpl


@dataclass(frozen=True)
class MidiTokTokenizer:
    name: str
    class_name: str
    description: str

    def create(self, params: dict[str, Any]):
        import miditok

        cls = getattr(miditok, self.class_name)
        return cls(miditok.TokenizerConfig(**params))


BUILTIN_TOKENIZERS = [
    MidiTokTokenizer("remi", "REMI", "REMI (bars, positions, pitch, duration); multi-track as REMI+ with programs."),
    MidiTokTokenizer("tsd", "TSD", "TSD: time-shift/duration events (MidiTok)."),
    MidiTokTokenizer("midilike", "MIDILike", "MIDI-Like: note-on/note-off/time-shift events (MidiTok)."),
    MidiTokTokenizer("structured", "Structured", "Structured: fixed pitch/velocity/duration/time-shift cycle (MidiTok)."),
    MidiTokTokenizer("cpword", "CPWord", "Compound Word: one compound token per note (MidiTok)."),
]


@hookimpl
def register_tokenizers(register):
    for tok in BUILTIN_TOKENIZERS:
        register(tok)
