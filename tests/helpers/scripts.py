"""The repository's scripts (benchmarks, examples), imported as modules for their tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script(relative: str, name: str | None = None) -> ModuleType:
    """Import ``ROOT/relative`` (a script, not part of the package) under ``name`` (its stem).

    The module is registered in ``sys.modules`` while it runs, as dataclasses defined in it look
    their module up there."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
