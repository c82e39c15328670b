"""Built-in models (filled in by the models work; registers through the public hooks)."""

from __future__ import annotations
