"""midiforge's built-in exporters (installed as ``midiforge.exporters``): ONNX and CoreML."""
