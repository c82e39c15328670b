"""The export contract, in core as in Hugging Face optimum; the formats are plugins (``exporters/``).

* :mod:`~midiforge.exporting.api`: ``export_model(format, checkpoint, out, **options)``, the entry
  point behind ``midiforge export``; only a model that passed validation is published to ``out``.
* :mod:`~midiforge.exporting.report`: ``ExportReport`` / ``ArtifactCheck``, what every exporter returns.
* :mod:`~midiforge.exporting.checkpoint`: what an exporter is given (``load_for_export``,
  ``check_options``, ``shipped_name``).
* :mod:`~midiforge.exporting.validation`: ``check_artifact``, the comparison of an exported file
  with the PyTorch model it came from.

Submodules are imported on demand: ``validation`` needs torch, the rest does not.
"""
