"""benchmarks/velocity_spread.py on a hand-made sequence and stand-in models with known predictions."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.scripts import load_script

NAMES = ["PAD_None", "Program_0", "Program_32", "Pitch_60", "Velocity_63", "Velocity_95", "Velocity_127"]
P0, P32, PITCH, V63, V95, V127 = 1, 2, 3, 4, 5, 6
# a piano part with three levels, then a bass part with one
SONG = [P0, PITCH, V63, PITCH, V95, PITCH, V127, P32, PITCH, V63, PITCH, V63]


def _spread():
    return load_script("benchmarks/velocity_spread.py")


def _windows():
    seq = torch.tensor([SONG])
    return [(seq[:, :-1], seq[:, 1:])]


def test_a_model_sure_of_one_level_draws_one_level_per_instrument():
    def always_95(x):
        logits = torch.full((*x.shape, len(NAMES)), -30.0)
        logits[..., V95] = 30.0
        return logits

    s = _spread().velocity_spread(always_95, NAMES, _windows())
    assert (s.tokens, s.groups) == (5, 2)
    assert s.true_levels == pytest.approx(2.0)  # three levels in the piano, one in the bass
    assert s.drawn_levels == pytest.approx(1.0)


def test_a_model_that_knows_the_next_token_draws_the_true_spread():
    target = torch.tensor([SONG[1:]])

    def oracle(x):
        return torch.nn.functional.one_hot(target, len(NAMES)).float() * 60.0 - 30.0

    s = _spread().velocity_spread(oracle, NAMES, _windows())
    assert s.drawn_levels == pytest.approx(s.true_levels) == pytest.approx(2.0)


def test_padding_and_windows_without_velocities_count_nothing():
    seq = torch.tensor([[P0, PITCH, PITCH, 0]])
    y = seq[:, 1:].clone()
    y[0, -1] = -100  # padding is ignored, as in training
    s = _spread().velocity_spread(lambda x: torch.zeros(*x.shape, len(NAMES)), NAMES, [(seq[:, :-1], y)])
    assert s.tokens == 0 and s.groups == 0
