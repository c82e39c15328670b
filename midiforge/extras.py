"""Optional dependencies: ``pip install midiforge`` makes music; extras add training, export, ...

Every feature that needs a package outside the light install imports it through :func:`require`,
so a missing extra is one clear line (``pip install 'midiforge[train]'``), never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from midiforge.errors import MidiforgeError

#: what each extra is for (shown in the error, and in the README's set-up section)
EXTRAS = {
    "train": "training and PyTorch checkpoints (torch, music21 corpora)",
    "export": "ONNX and CoreML export (onnx, coremltools; with [train])",
    "eval": "evaluation plots and reports (matplotlib, pretty_midi)",
    "hf": "Hugging Face model families (transformers)",
    "live": "live playback on a MIDI port (python-rtmidi)",
    "studio": "the `midiforge studio` web page (starlette, uvicorn)",
}


#: import name -> the extra that installs it
MODULE_EXTRA = {
    "torch": "train", "music21": "train", "matplotlib": "eval", "pretty_midi": "eval",
    "onnx": "export", "coremltools": "export", "onnxscript": "export", "transformers": "hf",
    "rtmidi": "live", "starlette": "studio", "uvicorn": "studio", "tensorboard": "tensorboard",
}
#: extras that include others (a command's own extra is the better hint when it covers the module)
INCLUDES = {"export": {"train"}, "eval": {"train"}, "hf": {"train"}}
#: the extra each command needs beyond the light install
COMMAND_EXTRA = {"train": "train", "export": "export", "evaluate": "eval", "studio": "studio",
                 "inspect": "train", "pipeline": "train", "prepare": "train"}


class MissingExtra(MidiforgeError):
    """A feature needs a package from an extra that is not installed."""


def install_hint(extra: str) -> str:
    return f"pip install 'midiforge[{extra}]'"


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or fail with one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the package is there but broken: let the real cause show
        what = feature or EXTRAS.get(extra, extra)
        raise MissingExtra(f"{what} needs '{top}', which is not installed: {install_hint(extra)}") from None


def missing_extra_message(exc: ModuleNotFoundError, command: str | None = None) -> str | None:
    """The one-line hint for an import that failed deep inside a command, or None if unknown."""
    top = (exc.name or "").split(".")[0]
    extra = MODULE_EXTRA.get(top)
    if extra is None:
        return None
    own = COMMAND_EXTRA.get(command or "")
    if own and (own == extra or extra in INCLUDES.get(own, set())):
        extra = own
    what = f"`midiforge {command}`" if command else "this"
    return f"{what} needs '{top}', which is not installed: {install_hint(extra)}"


def available(module: str) -> bool:
    """Is ``module`` importable (without importing it)?"""
    return importlib.util.find_spec(module.split(".")[0]) is not None
