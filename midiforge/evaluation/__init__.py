"""midiforge.evaluation."""
