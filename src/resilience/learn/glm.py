"""Maximum-likelihood logistic regression with an offset, by Newton's method: what the calibrators,
the cohort offsets and the calibration slope fit (a few parameters, many rows).

scikit-learn's ``LogisticRegression`` takes no offset, and an offset is how a known part of the
log-odds (the model's own margin, a trend) enters a fit. The Fisher information gives the standard
errors, and the log-likelihood the likelihood-ratio tests.

>>> fit = fit_logistic(np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]]), np.array([0, 1, 0, 1]))
>>> fit.converged
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

RIDGE = 1e-9  # keeps the information invertible when a column is (nearly) constant


@dataclass(frozen=True)
class LogisticFit:
    """Coefficients, their covariance (inverse Fisher information), the log-likelihood, and whether
    Newton's method converged to finite values."""

    coef: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    converged: bool

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))


def log_likelihood(eta: np.ndarray, y: np.ndarray) -> float:
    """Bernoulli log-likelihood of outcomes ``y`` at log-odds ``eta``."""
    return float(np.sum(np.where(y == 1, log_expit(eta), log_expit(-eta))))


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    iterations: int = 50,
) -> LogisticFit:
    """``logit P(y = 1) = offset + X @ coef`` by Newton's method from ``start`` (default zeros).

    A fit that does not converge to finite values (separation, a singular design) returns
    ``converged=False`` with the last finite coefficients; callers fall back on something simpler.
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    offset = np.zeros(len(y)) if offset is None else np.asarray(offset, float)
    coef = np.zeros(X.shape[1]) if start is None else np.asarray(start, float).copy()
    information = np.eye(X.shape[1])
    converged = False
    for _ in range(iterations):
        fitted = expit(offset + X @ coef)
        information = X.T @ (X * (fitted * (1 - fitted))[:, None]) + RIDGE * np.eye(X.shape[1])
        try:
            step = np.linalg.solve(information, X.T @ (y - fitted))
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        coef = coef + step
        if np.abs(step).max() < 1e-10:
            converged = True
            break
    try:
        covariance = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        covariance, converged = np.full_like(information, np.nan), False
    eta = offset + X @ coef
    return LogisticFit(coef, covariance, log_likelihood(eta, y), converged)
