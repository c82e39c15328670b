"""Built-in styles (filled in by the styles work; registers through the public hooks)."""

from __future__ import annotations
