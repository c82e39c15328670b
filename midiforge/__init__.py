"""midiforge: learn musical patterns from MIDI files and generate new ones.

The Python API mirrors the CLI; see :mod:`midiforge.api` (re-exported here) for
``analyze``, ``prepare``, ``train``, ``generate``, ``export`` and ``evaluate``.
"""

from __future__ import annotations

from midiforge.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
