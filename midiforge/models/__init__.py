"""midiforge.models: the model interface, built-in architectures and checkpoints."""

from midiforge.models.base import MidiModel, ModelConfig, ModelPlugin, make_config
from midiforge.models.checkpoint import LoadedModel, load_checkpoint, read_metadata, save_checkpoint

__all__ = [
    "MidiModel",
    "ModelConfig",
    "ModelPlugin",
    "make_config",
    "LoadedModel",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]
