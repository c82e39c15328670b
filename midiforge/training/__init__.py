"""midiforge.training: one trainer for every model plugin (``train(TrainConfig(...))``)."""

from midiforge.training.config import TrainConfig, build_config, read_config_file, read_recipe
from midiforge.training.trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "build_config", "read_config_file", "read_recipe", "train"]
