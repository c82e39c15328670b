"""midiforge's built-in plugins (installed as ``midiforge.plugins``).

Each module registers through the ``midiforge`` entry-point group exactly as a third-party
plugin would; see ``docs/plugins.md``.
"""
