"""Built-in generation styles, registered through the public ``register_styles`` hook."""

from __future__ import annotations

from midiforge import hookimpl
from midiforge.generation.songs import AllScalesStyle, HarmonicStyle
from midiforge.generation.styles import ROLE_STYLES, RandomStyle


@hookimpl
def register_styles(register):
    for style in ROLE_STYLES:
        register(style)
    register(RandomStyle())
    register(HarmonicStyle())
    register(AllScalesStyle())
