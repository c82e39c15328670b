"""Yang & Lerch (2018) set comparison: intra-/inter-set distances, overlapping area, KL divergence.

For one feature, the distances between every pair of pieces inside the reference set (intra) are
compared with the distances from each generated piece to each reference piece (inter). If the
generated music is like the reference, both distance distributions look alike: the overlapping
area (OA) of their kernel density estimates is near 1 and KLD(intra_ref || inter) near 0.

Both densities use one shared Gaussian bandwidth (Scott's rule on their within-sample spread) so that
two identical distance samples give identical densities (OA = 1); Yang & Lerch used a separate
scipy bandwidth per sample. Large sets are subsampled to ``max_pairs`` distances with a seeded
generator, so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

GRID_POINTS = 2048
_TINY = 1e-12


def feature_distance(a: np.ndarray | float, b: np.ndarray | float) -> float:
    """Euclidean distance between two feature values (absolute difference for scalars)."""
    return float(np.linalg.norm(np.ravel(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def _stack(values: Sequence[np.ndarray | float]) -> np.ndarray:
    return (
        np.stack([np.ravel(np.asarray(v, dtype=np.float64)) for v in values]) if values else np.zeros((0, 1))
    )


def intra_set_distances(values: Sequence[np.ndarray | float]) -> np.ndarray:
    """Distances between every unordered pair of distinct pieces in one set."""
    x = _stack(values)
    i, j = np.triu_indices(len(x), k=1)
    return np.linalg.norm(x[i] - x[j], axis=1)


def inter_set_distances(
    a: Sequence[np.ndarray | float], b: Sequence[np.ndarray | float], skip: Iterable[tuple[int, int]] = ()
) -> np.ndarray:
    """Distances from each piece of ``a`` to each piece of ``b``, leaving out the ``skip`` (i, j) pairs
    (the same file present in both sets is not a generated-vs-reference comparison)."""
    x, y = _stack(a), _stack(b)
    keep = np.ones((len(x), len(y)), dtype=bool)
    for i, j in skip:
        keep[i, j] = False
    i, j = np.nonzero(keep)
    return np.linalg.norm(x[i] - y[j], axis=1)


def subsample(distances: np.ndarray, max_pairs: int, rng: np.random.Generator) -> np.ndarray:
    if len(distances) <= max_pairs:
        return distances
    return rng.choice(distances, size=max_pairs, replace=False)


def shared_bandwidth(p: np.ndarray, q: np.ndarray) -> float:
    """Scott's-rule bandwidth from the within-sample spread of both samples (not the pooled spread,
    which would grow with the gap between them), floored so a constant sample still has a width."""
    spread = float(np.ptp(np.concatenate([p, q])))
    within = float(np.sqrt((p.var() + q.var()) / 2))
    h = within * min(len(p), len(q)) ** (-1 / 5)
    return max(h, 1e-3 * spread, 1e-6)


def gaussian_kde_density(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of ``samples`` on ``grid`` (scipy's gaussian_kde when installed)."""
    try:
        from scipy.stats import gaussian_kde
    except ImportError:
        return numpy_kde_density(samples, grid, bandwidth)
    if len(samples) < 2 or float(samples.std()) <= 0:  # scipy needs a non-singular covariance
        return numpy_kde_density(samples, grid, bandwidth)
    return gaussian_kde(samples, bw_method=bandwidth / float(samples.std(ddof=1)))(
        grid
    )  # its covariance uses ddof=1


def numpy_kde_density(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """The same Gaussian KDE in plain numpy (chunked to bound memory)."""
    density = np.zeros_like(grid)
    norm = 1.0 / (len(samples) * bandwidth * np.sqrt(2 * np.pi))
    for start in range(0, len(samples), 1024):
        chunk = samples[start : start + 1024]
        z = (grid[:, None] - chunk[None, :]) / bandwidth
        density += np.exp(-0.5 * z * z).sum(axis=1)
    return density * norm


@dataclass(frozen=True)
class Densities:
    grid: np.ndarray
    p: np.ndarray
    q: np.ndarray

    @property
    def step(self) -> float:
        return float(self.grid[1] - self.grid[0])


def densities(p_samples: np.ndarray, q_samples: np.ndarray) -> Densities:
    """KDEs of two samples on one grid wide enough to hold both (6 bandwidths of margin)."""
    h = shared_bandwidth(p_samples, q_samples)
    lo = min(p_samples.min(), q_samples.min()) - 6 * h
    hi = max(p_samples.max(), q_samples.max()) + 6 * h
    n = int(min(max(GRID_POINTS, (hi - lo) / h * 8), 20 * GRID_POINTS))
    grid = np.linspace(lo, hi, n)
    return Densities(grid, gaussian_kde_density(p_samples, grid, h), gaussian_kde_density(q_samples, grid, h))


def overlap_area(p_samples: np.ndarray, q_samples: np.ndarray) -> float:
    """Area under min(p, q) of the two samples' densities: 1 = same distribution, 0 = disjoint."""
    return _overlap_area(densities(np.asarray(p_samples, float), np.asarray(q_samples, float)))


def kl_divergence(p_samples: np.ndarray, q_samples: np.ndarray) -> float:
    """KL(p || q) in nats of the two samples' densities (q floored to keep it finite)."""
    return _kl_divergence(densities(np.asarray(p_samples, float), np.asarray(q_samples, float)))


def _overlap_area(d: Densities) -> float:
    return float(np.clip(np.trapezoid(np.minimum(d.p, d.q), d.grid), 0.0, 1.0))


def _kl_divergence(d: Densities) -> float:
    p = d.p / max(np.trapezoid(d.p, d.grid), _TINY)
    q = np.maximum(d.q / max(np.trapezoid(d.q, d.grid), _TINY), _TINY)
    integrand = np.where(p > _TINY, p * np.log(np.maximum(p, _TINY) / q), 0.0)
    return float(max(0.0, np.trapezoid(integrand, d.grid)))


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float

    @classmethod
    def of(cls, values: np.ndarray) -> Stat:
        if len(values) == 0:
            return cls(float("nan"), float("nan"))
        return cls(float(np.mean(values)), float(np.std(values)))


@dataclass(frozen=True)
class FeatureOverlap:
    """Yang & Lerch's numbers for one feature."""

    feature: str
    intra_generated: Stat
    intra_reference: Stat
    inter: Stat
    overlap_area: float  # OA(intra_reference, inter)
    kl_divergence: float  # KLD(intra_reference || inter)


def compare_feature(
    name: str,
    generated: Sequence[np.ndarray | float],
    reference: Sequence[np.ndarray | float],
    *,
    same_pieces: Iterable[tuple[int, int]] = (),
    max_pairs: int = 5000,
    seed: int = 0,
) -> FeatureOverlap:
    """Intra-/inter-set statistics, OA and KLD of one feature; values with NaN must be removed first."""
    rng = np.random.default_rng(seed)
    intra_gen = subsample(intra_set_distances(generated), max_pairs, rng)
    intra_ref = subsample(intra_set_distances(reference), max_pairs, rng)
    inter = subsample(inter_set_distances(generated, reference, same_pieces), max_pairs, rng)
    if len(intra_ref) < 2 or len(inter) < 2:
        oa = kld = float("nan")
    else:
        d = densities(intra_ref, inter)
        oa, kld = _overlap_area(d), _kl_divergence(d)
    return FeatureOverlap(name, Stat.of(intra_gen), Stat.of(intra_ref), Stat.of(inter), oa, kld)
