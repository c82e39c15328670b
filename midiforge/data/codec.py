"""The codec: a MidiTok tokenizer plus midiforge's control tokens.

One codec is saved beside every dataset (``codec.json``) and inside every checkpoint, so a model
always decodes with the tokenizer it was trained with. Control tokens (role, key, tempo band,
meter, one chord per bar, infill markers) get ids after MidiTok's vocabulary and are stripped
before MidiTok decodes. A sequence looks like::

    BOS Role_full Key_G_major Tempo_slow Meter_3_4  Bar Chord_G_maj TimeSig_3/4 Position_8
        Program_73 Pitch_67 Duration_1.0.4 ... Bar Chord_D_7 ... EOS
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import symusic

from midiforge import atomic
from midiforge.data import bars as barlib
from midiforge.data import vocab
from midiforge.errors import MidiforgeError
from midiforge.music.chords import Chord
from midiforge.music.keys import Key

#: Output MIDI resolution of :meth:`Codec.decode` (DAW friendly; MidiTok's own is the grid).
OUTPUT_TPQ = 480
CODEC_FORMAT = 1

#: MidiTok parameters of the default (REMI) tokenizer: a 16th-note grid, 16 velocity levels (the
#: model learns dynamics and accents), one token stream with a Program token per note, time
#: signatures (so 3/4 bars are right).
DEFAULT_TOKENIZER_PARAMS: dict[str, Any] = {
    "pitch_range": (21, 109),
    "beat_res": {(0, 4): 4, (4, 8): 2},
    "use_velocities": True,
    "num_velocities": 16,
    "use_programs": True,
    "one_token_stream_for_programs": True,
    "programs": [vocab.ROLE_PROGRAMS[r] for r in ("chords", "bass", "melody", "drums")],
    "use_time_signatures": True,
    "time_signature_range": {2: [2, 3], 4: [1, 2, 3, 4, 5, 6], 8: [3, 5, 6, 7, 9, 12]},
    "use_tempos": False,
    "use_chords": False,
    "use_rests": False,
    "use_sustain_pedals": False,
    "use_pitch_bends": False,
    "remove_duplicated_notes": True,
    "special_tokens": ["PAD", "BOS", "EOS"],
}


def params_to_json(params: Mapping[str, Any]) -> dict[str, Any]:
    """MidiTok params with tuple keys turned into JSON-safe lists."""
    out = dict(params)
    if "beat_res" in out:
        out["beat_res"] = [[a, b, r] for (a, b), r in out["beat_res"].items()]
    if "time_signature_range" in out:
        out["time_signature_range"] = {str(k): list(v) for k, v in out["time_signature_range"].items()}
    if "pitch_range" in out:
        out["pitch_range"] = list(out["pitch_range"])
    return out


def params_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`params_to_json`."""
    out = dict(data)
    if isinstance(out.get("beat_res"), list):
        out["beat_res"] = {(int(a), int(b)): int(r) for a, b, r in out["beat_res"]}
    if "time_signature_range" in out:
        out["time_signature_range"] = {int(k): list(v) for k, v in out["time_signature_range"].items()}
    if "pitch_range" in out:
        out["pitch_range"] = tuple(out["pitch_range"])
    return out


def _token_type(token: str) -> str:
    head = token.split("_", 1)[0]
    return "Special" if head in ("PAD", "BOS", "EOS", "MASK", "SOS") else head


def _token_value(token: str) -> int:
    """Pitch number, position index, program, or duration in grid steps; -1 when none applies.

    For control tokens: Key -> index in ALL_KEYS, Chord -> index in ALL_CHORDS (Chord_N -> -1).
    """
    kind, _, rest = token.partition("_")
    if kind in ("Pitch", "PitchDrum", "Position", "Program"):
        return int(rest)
    return -1


class Codec:
    """MidiTok tokenizer + control tokens; see the module docstring for the sequence layout."""

    def __init__(
        self,
        tokenizer: str = "remi",
        params: Mapping[str, Any] | None = None,
        controls: Sequence[str] | None = None,
    ):
        from midiforge import registry

        self.tokenizer_name = tokenizer
        plugin = registry.get("tokenizer", tokenizer)
        merged = copy.deepcopy(DEFAULT_TOKENIZER_PARAMS)
        # a plugin's own options (its ``params`` dict) are merged here, so they are saved with the
        # dataset and every checkpoint like the user's (which override them)
        merged.update(copy.deepcopy(dict(getattr(plugin, "params", None) or {})))
        merged.update(copy.deepcopy(dict(params or {})))
        self.params = merged
        self.tokenizer = plugin.create(copy.deepcopy(merged))
        if isinstance(self.tokenizer.vocab, list):
            raise MidiforgeError(
                f"tokenizer '{tokenizer}' makes compound tokens (one vector per note); midiforge's "
                "sequence models need a flat token stream (use remi)"
            )
        base = [self.tokenizer[i] for i in range(len(self.tokenizer))]
        if "Bar_None" not in base:
            raise MidiforgeError(
                f"tokenizer '{tokenizer}' has no Bar tokens; midiforge's per-bar chords, bar-aligned "
                "segments and infilling need a bar-based tokenizer (use remi)"
            )
        self.base_size = len(base)
        #: The vocabulary has Velocity tokens: decoded notes carry the model's dynamics.
        self.learns_velocity = any(t.startswith("Velocity_") for t in base)
        self.controls = list(controls) if controls is not None else vocab.control_tokens()
        self.vocab: list[str] = base + self.controls
        self._ids = {t: i for i, t in enumerate(self.vocab)}
        self.type_of = np.array([_token_type(t) for t in self.vocab])
        self.value_of = np.array([_token_value(t) for t in self.vocab], dtype=np.int64)
        self._add_control_values()
        self._steps_per_beat = max(self.params["beat_res"].values())
        self._add_duration_values()
        self.pad_id = self.id("PAD_None")
        self.bos_id = self.id("BOS_None")
        self.eos_id = self.id("EOS_None")
        self.bar_id = self.id("Bar_None")
        if self.vocab_size > np.iinfo(np.uint16).max:
            raise MidiforgeError(
                f"vocabulary of {self.vocab_size} tokens does not fit the uint16 dataset format"
            )
        self._transpose_cache: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ vocabulary

    def _add_control_values(self) -> None:
        from midiforge.music.chords import ALL_CHORDS
        from midiforge.music.keys import ALL_KEYS

        for i, key in enumerate(ALL_KEYS):
            if f"Key_{key.token}" in self._ids:
                self.value_of[self._ids[f"Key_{key.token}"]] = i
        for i, chord in enumerate(ALL_CHORDS):
            if f"Chord_{chord.token_name}" in self._ids:
                self.value_of[self._ids[f"Chord_{chord.token_name}"]] = i

    def _add_duration_values(self) -> None:
        for i, token in enumerate(self.vocab):
            if self.type_of[i] == "Duration":
                beats, cells, res = (int(x) for x in token.split("_", 1)[1].split("."))
                self.value_of[i] = beats * self._steps_per_beat + cells * self._steps_per_beat // res

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def steps_per_beat(self) -> int:
        """Grid steps per quarter note (4 = 16th-note grid)."""
        return self._steps_per_beat

    def id(self, token: str) -> int:
        try:
            return self._ids[token]
        except KeyError:
            raise MidiforgeError(
                f"token '{token}' is not in the {self.tokenizer_name} codec vocabulary"
            ) from None

    def token(self, idx: int) -> str:
        return self.vocab[int(idx)]

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.vocab[int(i)] for i in ids]

    def is_control(self, idx: int) -> bool:
        return int(idx) >= self.base_size

    def ids_of_type(self, kind: str) -> np.ndarray:
        """All ids whose :attr:`type_of` is ``kind`` (e.g. every ``Pitch`` id, for sampler masks)."""
        return np.flatnonzero(self.type_of == kind)

    # ------------------------------------------------------------------ control tokens

    def role_id(self, role: str) -> int:
        return self.id(f"Role_{vocab.check_role(role)}")

    def key_id(self, key: Key) -> int:
        return self.id(f"Key_{key.token}")

    def tempo_id(self, tempo_bpm: float) -> int:
        return self.id(f"Tempo_{vocab.tempo_band(tempo_bpm)}")

    def meter_id(self, meter: str | tuple[int, int]) -> int:
        name = vocab.meter_name(*meter) if isinstance(meter, tuple) else meter.replace("/", "_")
        if name not in vocab.METERS:
            name = "other"
        return self.id(f"Meter_{name}")

    def chord_id(self, chord: Chord | None) -> int:
        return self.id(vocab.NO_CHORD if chord is None else f"Chord_{chord.token_name}")

    def timesig_id(self, numerator: int, denominator: int) -> int:
        """The ``TimeSig_n/d`` token a generated bar of this meter carries after ``Bar Chord_x``."""
        return self.id(f"TimeSig_{numerator}/{denominator}")

    def program_id(self, role: str) -> int:
        return self.id(f"Program_{vocab.ROLE_PROGRAMS[role]}")

    @property
    def has_grooves(self) -> bool:
        """Codecs from before groove and density tokens (their prefix is four controls long)."""
        return "Groove_none" in self._ids

    def prefix_ids(
        self,
        role: str,
        key: Key,
        tempo_bpm: float,
        meter: str | tuple[int, int] = "4_4",
        groove: str = "none",
        density: str = "medium",
    ) -> list[int]:
        """``BOS Role_x Key_x Tempo_x Meter_x Groove_x Density_x``: the conditioning every
        sequence starts with (no groove and density in codecs made before them).

        A sampler continues with ``Bar Chord_<c> TimeSig_<n/d>`` and then the notes of the bar.
        """
        ids = [self.bos_id, self.role_id(role), self.key_id(key), self.tempo_id(tempo_bpm), self.meter_id(meter)]
        if self.has_grooves:
            ids += [
                self.id(f"Groove_{vocab.check_groove(groove)}"),
                self.id(f"Density_{vocab.check_density(density)}"),
            ]
        return ids

    # ------------------------------------------------------------------ encode / decode

    def encode(
        self, score: symusic.Score, roles: Mapping[str, Sequence[int]], role: str = "full"
    ) -> list[int]:
        """Encode one role view of ``score``: ``BOS`` + prefix + bars + ``EOS``.

        ``roles`` maps role names to track indices of ``score`` (see :func:`midiforge.data.roles.find_roles`).
        """
        from midiforge.data.encoding import encode_piece

        piece = encode_piece(self, score, roles, views=(role,))
        if role not in piece.views:
            raise MidiforgeError(f"the score has no notes for role '{role}'")
        return piece.views[role]

    def decode(self, ids: Sequence[int], tempo_bpm: float | None = None) -> symusic.Score:
        """Token ids -> ``symusic.Score`` with one named track per role (melody, chords, bass, drums).

        Control tokens are dropped (an infill example is first merged back into place); the tempo is
        ``tempo_bpm`` or the representative bpm of the sequence's ``Tempo_*`` token.
        """
        ids = [int(i) for i in ids]
        if self.id("Infill_Start") in ids:
            ids = barlib.merge_infill(self, ids)
        if tempo_bpm is None:
            bands = [self.vocab[i] for i in ids if self.type_of[i] == "Tempo"]
            tempo_bpm = vocab.band_bpm(bands[0].split("_", 1)[1]) if bands else 120.0
        base = [i for i in ids if i < self.base_size and self.type_of[i] != "Special"]
        score = self.tokenizer.decode(base) if base else symusic.Score(self.tokenizer.time_division)
        score = score.resample(OUTPUT_TPQ)
        names = {p: r for r, p in vocab.ROLE_PROGRAMS.items()}
        for track in score.tracks:
            track.name = names.get(-1 if track.is_drum else track.program, f"program {track.program}")
        score.tempos = [symusic.Tempo(0, float(tempo_bpm))]
        return score

    def transpose_ids(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """Shift pitches, key and chord tokens by ``semitones``; ``None`` if a pitch leaves the range.

        Drum notes (``PitchDrum``) do not move. Cheap (a table lookup), so prepare augments by
        transposing token ids rather than re-encoding.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if semitones == 0:
            return ids.copy()
        pitches = self.value_of[ids][self.type_of[ids] == "Pitch"]
        low, high = self.params["pitch_range"]
        if len(pitches) and (pitches.min() + semitones < low or pitches.max() + semitones >= high):
            return None
        return self._transpose_table(semitones)[ids]

    def _transpose_table(self, semitones: int) -> np.ndarray:
        if semitones not in self._transpose_cache:
            from midiforge.music.chords import ALL_CHORDS
            from midiforge.music.keys import ALL_KEYS

            table = np.arange(self.vocab_size, dtype=np.int64)
            for i in self.ids_of_type("Pitch"):
                table[i] = self._ids.get(f"Pitch_{self.value_of[i] + semitones}", i)
            for key in ALL_KEYS:
                table[self.key_id(key)] = self.key_id(key.transpose(semitones))
            for chord in ALL_CHORDS:
                table[self.chord_id(chord)] = self.chord_id(
                    Chord((chord.root_pc + semitones) % 12, chord.quality)
                )
            self._transpose_cache[semitones] = table
        return self._transpose_cache[semitones]

    # ------------------------------------------------------------------ infilling

    def build_infill_example(
        self, ids: Sequence[int], gap: tuple[int, int], target: str, with_answer: bool = True
    ) -> list[int]:
        """Infilling sequence from a full sequence (see ``docs/infilling.md``).

        ``gap`` = (first bar, end bar exclusive), 0-based bar indices of ``ids``; ``target`` = the role
        to fill (``full`` = every track). With ``with_answer=False`` the result ends with
        ``Infill_Start Role_<target>``: the prompt for generating the gap at inference time.
        """
        return barlib.build_infill_example(self, ids, gap, target, with_answer)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CODEC_FORMAT,
            "tokenizer": self.tokenizer_name,
            "params": params_to_json(self.params),
            "controls": self.controls,
            "vocab_size": self.vocab_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Codec:
        if data.get("format") != CODEC_FORMAT:
            raise MidiforgeError(f"unsupported codec format {data.get('format')!r} (expected {CODEC_FORMAT})")
        codec = cls(data["tokenizer"], params_from_json(data["params"]), data["controls"])
        if codec.vocab_size != data.get("vocab_size", codec.vocab_size):
            raise MidiforgeError(
                f"codec vocabulary mismatch: saved {data['vocab_size']} tokens, this MidiTok builds "
                f"{codec.vocab_size}; install the MidiTok version the model was trained with"
            )
        return codec

    def fingerprint(self) -> str:
        """Short hash of the configuration (datasets made with another codec are not mixed)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    def save(self, path: str | Path) -> Path:
        return atomic.write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Codec:
        path = Path(path)
        if path.is_dir():
            path = path / "codec.json"
        if not path.is_file():
            raise MidiforgeError(f"no codec at {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise MidiforgeError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"Codec({self.tokenizer_name}, vocab={self.vocab_size}, base={self.base_size})"
