"""Probability calibration: a margin (log-odds) in, ``persistence_probability`` out.

A calibrator is fitted on a held-out, most-recent slice of the training span
(:func:`resilience.learn.split.calibration_slice`): ``sigmoid`` (Platt scaling, strictly
increasing, the default), ``isotonic`` (a non-decreasing step function) or ``none`` (the
logistic function of the margin itself).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from resilience.core.errors import ResilienceError

CALIBRATIONS = ("sigmoid", "isotonic", "none")


def require_one_of(setting: str, value, allowed) -> None:
    """A setting that must be one of a few names: a clear error naming them otherwise."""
    if value not in allowed:
        raise ResilienceError(f"{setting} must be one of {tuple(allowed)}, not {value!r}")


class Calibrator:
    """Maps a margin (log-odds) to a probability; fitted on held-out rows."""

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        require_one_of("calibration", self.method, CALIBRATIONS)
        margin = np.asarray(margin, float).reshape(-1)
        y = np.asarray(y, float).reshape(-1)
        if self.method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if self.slope_ <= 0:  # a model worse than chance on recent data: keep it identity
                self.slope_, self.intercept_ = 1.0, 0.0
        elif self.method == "isotonic":
            self.isotonic_ = IsotonicRegression(
                out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4
            ).fit(margin, y)
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, float)
        if self.method == "sigmoid":
            return expit(self.slope_ * margin + self.intercept_)
        if self.method == "isotonic":
            return self.isotonic_.predict(margin.reshape(-1))
        return expit(margin)
