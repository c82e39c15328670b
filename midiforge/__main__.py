"""``python -m midiforge`` runs the CLI."""

from midiforge.cli import main

main()
