"""midiforge.training."""
