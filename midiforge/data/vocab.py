"""midiforge's control-token vocabulary and the musical constants behind it.

Control tokens are what generation asks for (role, key, tempo band, meter, chord per bar, infill
markers). They are appended after the MidiTok vocabulary by :class:`midiforge.data.codec.Codec`.
"""

from __future__ import annotations

from midiforge.errors import MidiforgeError
from midiforge.music.chords import ALL_CHORDS
from midiforge.music.keys import ALL_KEYS

#: GM program each role is written with in the token stream (-1 = drum track).
ROLE_PROGRAMS: dict[str, int] = {"melody": 73, "chords": 0, "bass": 32, "drums": -1}
#: Roles a sequence can be conditioned on; ``full`` = melody + chords + bass together.
ROLES: tuple[str, ...] = ("full", "melody", "chords", "bass", "drums")
FULL_ROLES: tuple[str, ...] = ("melody", "chords", "bass")

#: Tempo bands: (name, lowest bpm included, representative bpm used when decoding).
TEMPO_BANDS: tuple[tuple[str, float, float], ...] = (
    ("slow", 0.0, 75.0),
    ("mid", 90.0, 110.0),
    ("fast", 130.0, 150.0),
)
METERS: tuple[str, ...] = ("4_4", "3_4", "2_4", "6_8", "other")
INFILL_TOKENS: tuple[str, ...] = ("Infill_Gap", "Infill_Start", "Infill_End")
NO_CHORD = "Chord_N"


def control_tokens() -> list[str]:
    """All control tokens in vocabulary order (saved in codec.json, so order changes are safe)."""
    tokens = [f"Role_{r}" for r in ROLES]
    tokens += [f"Key_{k.token}" for k in ALL_KEYS]
    tokens += [f"Tempo_{name}" for name, _, _ in TEMPO_BANDS]
    tokens += [f"Meter_{m}" for m in METERS]
    tokens += [NO_CHORD] + [f"Chord_{c.token_name}" for c in ALL_CHORDS]
    tokens += list(INFILL_TOKENS)
    return tokens


def tempo_band(bpm: float) -> str:
    """``slow`` below 90 bpm, ``mid`` below 130, else ``fast``."""
    if bpm <= 0:
        raise MidiforgeError(f"tempo must be positive, got {bpm}")
    name = TEMPO_BANDS[0][0]
    for band, low, _ in TEMPO_BANDS:
        if bpm >= low:
            name = band
    return name


def band_bpm(band: str) -> float:
    """Representative tempo of a band (used when a decoded piece has no explicit tempo)."""
    for name, _, bpm in TEMPO_BANDS:
        if name == band:
            return bpm
    raise MidiforgeError(f"unknown tempo band '{band}' (use slow, mid or fast)")


def meter_name(numerator: int, denominator: int) -> str:
    """``Meter_*`` name of a time signature; anything unlisted is ``other``."""
    name = f"{numerator}_{denominator}"
    return name if name in METERS else "other"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise MidiforgeError(f"unknown role '{role}' (use one of: {', '.join(ROLES)})")
    return role
