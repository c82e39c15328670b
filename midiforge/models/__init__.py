"""midiforge.models."""
