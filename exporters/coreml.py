"""Built-in coreml exporter (registers through the public hooks)."""

from __future__ import annotations
