"""Built-in tokenizers: thin wrappers around MidiTok's tokenizers.

midiforge adds its own control tokens on top (see ``midiforge.data.codec``), so a tokenizer plugin
only has to build a MidiTok tokenizer from a ``TokenizerConfig``.
"""

from __future__ import annotations

import importlib.abc
import sys
from dataclasses import dataclass
from typing import Any

from midiforge import hookimpl


class _HideTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is hidden while MidiTok loads")
        return None


def import_miditok() -> Any:
    """MidiTok, imported without PyTorch unless torch is loaded already.

    MidiTok pulls torch in only for its optional dataset helpers (``miditok.pytorch_data``), which
    midiforge never uses; importing torch would cost ``midiforge generate`` seconds of start-up.
    """
    if "miditok" in sys.modules or "torch" in sys.modules:
        import miditok

        return miditok
    finder = _HideTorch()
    sys.meta_path.insert(0, finder)
    try:
        import miditok
    finally:
        sys.meta_path.remove(finder)
    return miditok


@dataclass(frozen=True)
class MidiTokTokenizer:
    name: str
    class_name: str
    description: str

    def create(self, params: dict[str, Any]):
        miditok = import_miditok()
        cls = getattr(miditok, self.class_name)
        return cls(miditok.TokenizerConfig(**params))


#: Only tokenizers that work end to end (prepare -> train -> generate) are listed. MidiTok's TSD,
#: MIDILike and Structured have no Bar tokens and CPWord makes compound tokens: midiforge's codec
#: (per-bar chords, bar-aligned segments, infilling) and the sampler's grammar need REMI's flat
#: Bar/Position/Pitch/Duration stream, so they are not offered (see docs/plugins.md for what a
#: tokenizer plugin must produce).
BUILTIN_TOKENIZERS = [
    MidiTokTokenizer("remi", "REMI", "REMI (bars, positions, pitch, duration); multi-track as REMI+ with programs."),
]


@hookimpl
def register_tokenizers(register):
    for tok in BUILTIN_TOKENIZERS:
        register(tok)
