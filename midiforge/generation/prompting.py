"""``--prompt FILE.mid``: encode a user's file so the model continues it."""

from __future__ import annotations

from pathlib import Path

from midiforge.errors import MidiforgeError

MAX_PROMPT_BARS = 8


def encode_prompt(engine, path: Path, max_bars: int = MAX_PROMPT_BARS) -> list[int]:
    """The last ``max_bars`` bars of ``path`` as tokens (roles found by the data heuristics)."""
    import symusic

    from midiforge.data.roles import find_roles

    path = Path(path)
    if not path.is_file():
        raise MidiforgeError(f"prompt file not found: {path}")
    try:
        score = symusic.Score(str(path))
    except Exception as exc:
        raise MidiforgeError(f"cannot read prompt {path.name}: {exc}") from None
    if score.note_num() == 0:
        raise MidiforgeError(f"prompt {path.name} has no notes")
    from midiforge.generation.styles import split_bars

    ids = engine.codec.encode(score, find_roles(score), role="full")
    body = ids[ids.index(engine.codec.bar_id) :] if engine.codec.bar_id in ids else []
    bars = split_bars([t for t in body if t != engine.codec.eos_id], engine)
    return [t for bar in bars[-max_bars:] for t in bar]
