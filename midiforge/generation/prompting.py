"""``--prompt FILE.mid``: encode a user's file so the model continues it."""

from __future__ import annotations

from pathlib import Path

MAX_PROMPT_BARS = 8


def encode_prompt(engine, path: Path, max_bars: int = MAX_PROMPT_BARS) -> list[int]:
    """The last ``max_bars`` bars of ``path`` as tokens (roles found by the data heuristics)."""
    from midiforge.data.roles import find_roles
    from midiforge.generation.infill import load_song
    from midiforge.generation.styles import split_bars

    score = load_song(path)

    ids = engine.codec.encode(score, find_roles(score), role="full")
    body = ids[ids.index(engine.codec.bar_id) :] if engine.codec.bar_id in ids else []
    bars = split_bars([t for t in body if t != engine.codec.eos_id], engine)
    return [t for bar in bars[-max_bars:] for t in bar]


def prompt_key(path: Path):
    """The key of ``--prompt FILE.mid`` (Krumhansl-Kessler on its pitched notes), so the model
    continues the prompt in its own key."""
    import numpy as np

    from midiforge.generation.infill import load_song
    from midiforge.music.keys import estimate_key

    score = load_song(path)
    arrays = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
    if not arrays:
        return estimate_key([])
    return estimate_key(np.concatenate([a["pitch"] for a in arrays]), np.concatenate([a["duration"] for a in arrays]))
