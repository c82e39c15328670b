"""User-facing errors: the CLI prints these as one line, without a traceback."""


class MidiforgeError(Exception):
    """A problem the user can fix (bad path, bad option, unusable file)."""


class PluginError(MidiforgeError):
    """A plugin could not be found or used."""
