"""midiforge.generation."""
