"""Yang & Lerch overlap: OA of a set against itself is 1, disjoint sets are told apart."""

from __future__ import annotations

import numpy as np
import pytest

from midiforge.evaluation import overlap


def test_identical_samples_overlap_fully():
    sample = np.random.default_rng(1).normal(2.0, 0.5, 300)
    assert overlap.overlap_area(sample, sample) == pytest.approx(1.0, abs=1e-6)
    assert overlap.kl_divergence(sample, sample) == pytest.approx(0.0, abs=1e-6)


def test_disjoint_samples_do_not_overlap():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 0.1, 200), rng.normal(5, 0.1, 200)
    assert overlap.overlap_area(a, b) < 0.01
    assert overlap.kl_divergence(a, b) > 5


def test_overlap_of_two_gaussians_matches_theory():
    # OA of N(0,1) and N(1,1) is 2 * Phi(-1/2) = 0.617
    rng = np.random.default_rng(3)
    oa = overlap.overlap_area(rng.normal(0, 1, 4000), rng.normal(1, 1, 4000))
    assert oa == pytest.approx(0.617, abs=0.04)


def test_constant_samples():
    assert overlap.overlap_area(np.zeros(5), np.zeros(7)) == pytest.approx(1.0, abs=1e-3)
    assert overlap.overlap_area(np.zeros(5), np.ones(7)) < 1e-3


def test_set_against_itself_has_oa_one_for_scalars_and_histograms():
    rng = np.random.default_rng(4)
    scalars = list(rng.normal(3, 1, 12))
    histograms = [h / h.sum() for h in rng.random((12, 12))]
    for values in (scalars, histograms):
        same = [(i, i) for i in range(len(values))]
        result = overlap.compare_feature("f", values, values, same_pieces=same)
        assert result.overlap_area == pytest.approx(1.0, abs=1e-6)
        assert result.kl_divergence == pytest.approx(0.0, abs=1e-6)
        assert result.intra_generated == result.intra_reference


def test_distances_and_deterministic_subsampling():
    assert overlap.intra_set_distances([0.0, 1.0, 3.0]).tolist() == [1.0, 3.0, 2.0]
    assert sorted(overlap.inter_set_distances([0.0], [1.0, 4.0]).tolist()) == [1.0, 4.0]
    assert overlap.inter_set_distances([0.0, 1.0], [0.0, 1.0], skip=[(0, 0), (1, 1)]).tolist() == [1.0, 1.0]
    assert overlap.feature_distance(np.array([0.0, 3.0]), np.array([4.0, 0.0])) == 5.0
    values = list(np.random.default_rng(5).random(200))
    a = overlap.compare_feature("f", values[:100], values[100:], max_pairs=300, seed=7)
    b = overlap.compare_feature("f", values[:100], values[100:], max_pairs=300, seed=7)
    assert a == b


def test_numpy_kde_matches_scipy_when_installed():
    stats = pytest.importorskip("scipy.stats")
    sample = np.random.default_rng(6).normal(0, 1, 50)
    grid = np.linspace(-3, 3, 61)
    expected = stats.gaussian_kde(sample, bw_method=0.4 / sample.std(ddof=1))(grid)
    np.testing.assert_allclose(overlap.numpy_kde_density(sample, grid, 0.4), expected, rtol=1e-6)
    np.testing.assert_allclose(overlap.gaussian_kde_density(sample, grid, 0.4), expected, rtol=1e-6)
