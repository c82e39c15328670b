"""Is the music any good? Objective metrics of generated MIDI against real music.

``evaluate(generated, reference)`` computes literature features per piece (pitch-class entropy,
scale consistency, polyphony, groove, ...), compares the two sets with Yang & Lerch's overlapping
area and KL divergence, scores harmonic coherence, and checks originality against the training
data; ``perplexity(checkpoint, data)`` measures a model on held-out tokens. See docs/evaluation.md.
"""

from midiforge.evaluation.compare import evaluate
from midiforge.evaluation.perplexity import PerplexityResult, perplexity
from midiforge.evaluation.report import EvaluationReport, EvaluationSettings, render, save_report

__all__ = [
    "EvaluationReport",
    "EvaluationSettings",
    "PerplexityResult",
    "evaluate",
    "perplexity",
    "render",
    "save_report",
]
