"""From a line's estimate and its log-odds spread to its range: the logit-normal centre, the
bounds and whether they span more than one yardstick band (see the package docstring)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.special import logit as scipy_logit

from resilience.core.yardstick import band_index

EPS = 1e-6  # probabilities are kept this far from 0 and 1 before their log-odds are taken
# E[f(Z)], Z ~ N(0, 1) = sum f(node) * weight (Gauss-Hermite quadrature, 24 nodes)
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
MEAN_WEIGHTS = WEIGHTS / WEIGHTS.sum()
LOG_WEIGHTS = np.log(MEAN_WEIGHTS)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities kept :data:`EPS` away from 0 and 1."""
    return scipy_logit(np.clip(np.asarray(p, float), EPS, 1 - EPS))


def logit_normal_centre(
    probability: np.ndarray, sd: np.ndarray, iterations: int = 30
) -> np.ndarray:
    """The log-odds ``mu`` whose logit-normal distribution ``expit(mu + sd * Z)`` has mean ``probability``.

    A calibrated estimate is the *mean* of the true probabilities of the lines given it, not the
    centre of their log-odds: below 0.5 the truth is skewed towards 0 in log-odds (most lines a
    little lower, a few much higher), above 0.5 towards 1. Newton's method on Gauss-Hermite
    quadrature, started at the estimate's own log-odds."""
    p = np.clip(np.asarray(probability, float), EPS, 1 - EPS)
    sd = np.broadcast_to(np.asarray(sd, float), p.shape)
    mu = np.log(p / (1 - p))
    for _ in range(iterations):
        q = expit(mu[:, None] + sd[:, None] * NODES[None, :])
        gap = q @ MEAN_WEIGHTS - p
        if not len(gap) or np.abs(gap).max() < 1e-9:
            break
        mu = mu - gap / np.maximum((q * (1 - q)) @ MEAN_WEIGHTS, 1e-12)
    return mu


def bounds(
    probability: np.ndarray, sd: np.ndarray, z: float, extra_sd: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The interval for a refit log-odds standard deviation ``sd`` with
    ``extra_sd`` added in quadrature: ``expit(mu +- z * total)``, where ``mu`` makes
    ``probability`` the mean (:func:`logit_normal_centre`); it always contains ``probability``."""
    probability = np.asarray(probability, float)
    total = np.sqrt(np.asarray(sd, float) ** 2 + extra_sd**2)
    centre = logit_normal_centre(probability, total)
    low = np.minimum(expit(centre - z * total), probability)
    high = np.maximum(expit(centre + z * total), probability)
    return low, high


def band_uncertain(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """True where the interval's ends fall in different yardstick bands."""
    return band_index(low) != band_index(high)
