"""What may follow what in a REMI(+) token stream, as boolean tables over the vocabulary.

The sampler masks every token the grammar forbids, so each generated sequence decodes into
complete notes (a ``Program`` is followed by a ``Pitch``, a ``Pitch`` by its ``Velocity`` and
``Duration``, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: For each token type, the types that may follow it in a REMI(+) stream. Control tokens of the
#: prefix (Role, Key, Tempo, Meter, Groove, Density) lead to the first Bar; Chord tokens sit right after a Bar.
REMI_NEXT: dict[str, tuple[str, ...]] = {
    "Special": ("Role", "Key", "Tempo", "Meter", "Bar"),
    "Role": ("Role", "Key", "Tempo", "Meter", "Bar"),
    "Key": ("Tempo", "Meter", "Bar"),
    "Tempo": ("Meter", "Bar"),
    "Meter": ("Groove", "Bar"),
    "Groove": ("Density", "Bar"),
    "Density": ("Bar",),
    "Bar": ("TimeSig", "Chord", "Position", "Bar", "EOS"),
    "TimeSig": ("Chord", "Position", "Bar"),
    "Chord": ("TimeSig", "Position", "Bar"),
    "Position": ("Program", "Pitch"),
    "Program": ("Pitch", "PitchDrum"),
    "Pitch": ("Velocity", "Duration"),
    "PitchDrum": ("Velocity", "Duration"),
    "Velocity": ("Duration",),
    "Duration": ("Program", "Pitch", "Position", "Bar", "EOS"),
}


#: MidiTok token types the grammar handles besides those in REMI_NEXT
_KNOWN_EXTRA = {"Velocity", "PitchDrum"}


def check_tokenizer(codec) -> None:
    """Refuse a codec whose tokens this REMI grammar cannot sample: the sampler would never reach a
    note and every generated file would be empty (a TimeShift-based tokenizer such as PerTok)."""
    from midiforge.errors import MidiforgeError

    # only the tokenizer's own tokens: the codec's control tokens are midiforge's (prefix, chords)
    types = {str(t) for t in codec.type_of[: getattr(codec, "base_size", len(codec.type_of))]}
    unknown = sorted(types - set(REMI_NEXT) - _KNOWN_EXTRA)
    missing = sorted({"Bar", "Position", "Pitch", "Duration"} - types)
    if unknown or missing:
        problem = ", ".join(filter(None, [f"makes {'/'.join(unknown)} tokens" if unknown else "",
                                          f"has no {'/'.join(missing)} tokens" if missing else ""]))
        raise MidiforgeError(
            f"tokenizer '{codec.tokenizer_name}' {problem}; midiforge's sampling grammar needs REMI's "
            "Bar/Position/Pitch/Duration token stream, so it could not generate a single note (use remi)"
        )


def token_types(codec) -> list[str]:
    """Each token's grammar type: its codec type (the string before the first ``_``; ``Special``
    for PAD and BOS), except that EOS has its own, so the grammar can allow it apart from them."""
    types = [str(t) for t in codec.type_of]
    types[int(codec.eos_id)] = "EOS"
    return types


def next_rules(present: set[str]) -> dict[str, tuple[str, ...]]:
    """midiforge's codec writes ``Bar Chord TimeSig`` at every bar: make that header mandatory
    (so an asked chord can always be forced) when the vocabulary has those tokens."""
    rules = dict(REMI_NEXT)
    if "Program" in present:  # REMI+: every note carries its own Program token
        rules["Position"] = ("Program",)
        rules["Duration"] = ("Program", "Position", "Bar", "EOS")
    if "Velocity" in present:  # a codec with velocities writes one after every pitch
        rules["Pitch"] = rules["PitchDrum"] = ("Velocity",)
    after_header = ("Position", "Bar", "EOS")
    if "TimeSig" in present:
        rules["TimeSig"] = after_header
        after_header = ("TimeSig",)
    if "Chord" in present:
        rules["Chord"] = after_header
        after_header = ("Chord",)
    rules["Bar"] = after_header
    return rules


@dataclass
class Grammar:
    """Vocabulary tables for fast masking: types, values and the allowed-next matrix."""

    vocab_size: int
    type_idx: np.ndarray  # [V] type index of each token
    value: np.ndarray  # [V] pitch / position / program / duration value, -1 otherwise
    next_ok: np.ndarray  # [n_types, V] token allowed after a token of that type
    next_is_pitch: np.ndarray  # [n_types] the next token is a Pitch
    next_is_chord: np.ndarray  # [n_types] a Chord token may follow
    is_pitch: np.ndarray
    is_drum_pitch: np.ndarray
    is_position: np.ndarray
    is_program: np.ndarray
    is_chord: np.ndarray
    is_timesig: np.ndarray
    is_velocity: np.ndarray
    velocity_value: np.ndarray  # [V] the velocity a Velocity token stands for, -1 otherwise
    chord_pcs: list[frozenset[int] | None]
    programs: list[int]
    program_id: dict[int, int]
    program_index: np.ndarray  # [V] index into ``programs`` for Program tokens, -1 otherwise
    pad_id: int
    eos_id: int
    T_BAR: int
    T_POSITION: int
    T_PROGRAM: int

    @property
    def has_programs(self) -> bool:
        return bool(self.programs)

    @classmethod
    def from_codec(cls, codec) -> Grammar:
        from midiforge.music.chords import Chord

        check_tokenizer(codec)
        types = token_types(codec)
        V = len(types)
        names = sorted(set(types) | set(REMI_NEXT) | {"EOS", "Velocity", "PitchDrum"})
        index = {n: i for i, n in enumerate(names)}
        type_idx = np.asarray([index[t] for t in types], np.int64)
        eos_id = int(codec.eos_id)
        value = np.asarray(codec.value_of, np.int64)
        next_ok = np.zeros((len(names), V), bool)
        for src, dsts in next_rules(set(types)).items():
            for dst in dsts:
                next_ok[index[src]] |= type_idx == index[dst]
        is_ = {n: type_idx == index[n] for n in ("Pitch", "PitchDrum", "Position", "Program", "Chord")}
        any_pitch = is_["Pitch"] | is_["PitchDrum"]
        programs = sorted({int(value[i]) for i in np.nonzero(is_["Program"])[0]})
        program_id = {int(value[i]): int(i) for i in np.nonzero(is_["Program"])[0]}
        program_index = np.full(V, -1, np.int64)
        for j, prog in enumerate(programs):
            program_index[program_id[prog]] = j
        chord_pcs: list[frozenset[int] | None] = [None] * V
        for i in np.nonzero(is_["Chord"])[0]:
            name = codec.token(int(i)).removeprefix("Chord_")
            chord_pcs[i] = None if name in ("N", "None") else Chord.from_token_name(name).pitch_classes
        return cls(
            vocab_size=V,
            type_idx=type_idx,
            value=value,
            next_ok=next_ok,
            next_is_pitch=next_ok[:, any_pitch].any(axis=1) & ~next_ok[:, ~any_pitch].any(axis=1),
            next_is_chord=next_ok[:, is_["Chord"]].any(axis=1),
            is_pitch=is_["Pitch"],
            is_drum_pitch=is_["PitchDrum"],
            is_position=is_["Position"],
            is_program=is_["Program"],
            is_chord=is_["Chord"],
            is_timesig=type_idx == index["TimeSig"],
            is_velocity=type_idx == index.get("Velocity", -1),
            velocity_value=np.asarray([int(codec.token(i).split("_")[1]) if t == "Velocity" else -1
                                       for i, t in enumerate(types)], np.int64),
            chord_pcs=chord_pcs,
            programs=programs,
            program_id=program_id,
            program_index=program_index,
            pad_id=int(codec.pad_id),
            eos_id=eos_id,
            T_BAR=index["Bar"],
            T_POSITION=index["Position"],
            T_PROGRAM=index["Program"],
        )

    def chord_in_key_mask(self, key_pcs: frozenset[int]) -> np.ndarray:
        """Chord tokens whose tones all lie in the key (plus every non-chord token)."""
        ok = ~self.is_chord.copy()
        for i in np.nonzero(self.is_chord)[0]:
            pcs = self.chord_pcs[i]
            ok[i] = pcs is None or pcs <= key_pcs
        return ok

    def strip_incomplete(self, seq: list[int]) -> list[int]:
        """Drop a trailing unfinished note (e.g. a Pitch without its Duration)."""
        unfinished = self.is_pitch | self.is_drum_pitch | self.is_program | self.is_position | self.is_velocity
        while seq and unfinished[seq[-1]]:
            seq = seq[:-1]
        return seq
