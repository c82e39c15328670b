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
#: Groove families (``Groove_*``, see :mod:`midiforge.data.band`); ``none`` = unknown or unaccompanied.
GROOVES: tuple[str, ...] = (
    "none", "pop", "rock", "ballad", "swing", "bossa", "latin", "country", "folk", "blues", "funk",
    "march", "waltz", "sixeight",
)
#: How busy the part is (``Density_*``): notes per bar of the melody (or of the view's own part).
DENSITIES: tuple[str, ...] = ("sparse", "medium", "busy")
#: Notes per bar below which a part counts as sparse, and as medium (above: busy).
DENSITY_THRESHOLDS: dict[str, tuple[float, float]] = {
    "melody": (2.5, 5.0), "chords": (6.0, 12.0), "bass": (2.5, 5.0), "drums": (8.0, 16.0),
}


def control_tokens() -> list[str]:
    """All control tokens in vocabulary order (saved in codec.json, so order changes are safe)."""
    tokens = [f"Role_{r}" for r in ROLES]
    tokens += [f"Key_{k.token}" for k in ALL_KEYS]
    tokens += [f"Tempo_{name}" for name, _, _ in TEMPO_BANDS]
    tokens += [f"Meter_{m}" for m in METERS]
    tokens += [NO_CHORD] + [f"Chord_{c.token_name}" for c in ALL_CHORDS]
    tokens += list(INFILL_TOKENS)
    tokens += [f"Groove_{g}" for g in GROOVES]
    tokens += [f"Density_{d}" for d in DENSITIES]
    return tokens


def density_name(role: str, notes_per_bar: float) -> str:
    """``sparse``, ``medium`` or ``busy`` for a part playing ``notes_per_bar`` notes a bar."""
    low, high = DENSITY_THRESHOLDS[role]
    return DENSITIES[0] if notes_per_bar < low else (DENSITIES[1] if notes_per_bar < high else DENSITIES[2])


def check_groove(groove: str) -> str:
    if groove not in GROOVES:
        raise MidiforgeError(f"unknown groove '{groove}' (use one of: {', '.join(GROOVES[1:])})")
    return groove


def check_density(density: str) -> str:
    if density not in DENSITIES:
        raise MidiforgeError(f"unknown density '{density}' (use one of: {', '.join(DENSITIES)})")
    return density


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
