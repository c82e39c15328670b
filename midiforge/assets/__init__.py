"""The shipped default model: ``default.safetensors`` (for training and fine-tuning) and
``default.onnx`` + ``default.json`` (what the light install runs). Rebuild the ONNX pair after
replacing the checkpoint with ``python -m midiforge.assets.build``."""
