"""Built-in corpora (filled in by the corpora work; registers through the public hooks)."""

from __future__ import annotations
