"""Exact SHAP values of a fitted model, on the log-odds and on the probability scale.

Each model family computes its own (:mod:`resilience.learn.families`):

* ``lightgbm``: exact TreeSHAP (tree-path-dependent) from LightGBM's own
  ``Booster.predict(X, pred_contrib=True)`` on the model's input matrix, categorical features
  explained natively. The base is the model's expected margin over the training rows.
* ``logistic``: exact interventional linear SHAP against the (standardised) training rows:
  feature ``j``'s value is ``sum_{k in block(j)} coef_k * z_k``; the base is the intercept.

Every row is checked: ``base + sum(contributions) == margin`` to :data:`ADDITIVITY_TOLERANCE`
(:class:`ExplanationError` otherwise; the check cannot be switched off). :func:`to_points` turns
log-odds contributions into percentage points of the calibrated probability that add up exactly
to ``100 * (p - p_base)`` and keep their signs (see the package docstring for the derivation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from resilience.core.errors import ExplanationError
from resilience.learn.families import ADDITIVITY_TOLERANCE

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "ExplanationError",
    "calibrator_slope",
    "check_model",
    "log_odds_contributions",
    "to_points",
]
FLAT_TOLERANCE = 1e-12  # |margin - base| below this uses the calibrator's slope


def check_model(model) -> None:
    """Refuse a model that is not fitted (nothing can be explained)."""
    try:
        check_is_fitted(model, ["estimator_", "calibrator_"])
    except NotFittedError as exc:
        raise ExplanationError(
            "the model is not fitted; fit it (or load a registered one) before explaining"
        ) from exc


def log_odds_contributions(
    model, X: pd.DataFrame, ids: np.ndarray, dates=None
) -> tuple[np.ndarray, float, np.ndarray]:
    """``(contributions (rows, features), base, margin (rows,))`` of prepared rows ``X``: the
    model family's exact SHAP values (:meth:`~resilience.learn.models.PersistenceModel.
    contributions`; ``dates``: each row's disruption date, for a drift carried to it), checked for
    additivity on every row (``ids`` name the rows in the error)."""
    check_model(model)
    raw, base, margin = model.contributions(X, dates)
    _check_additivity(raw, base, margin, ids)
    return raw, base, margin


def _check_additivity(
    contributions: np.ndarray, base: float, margin: np.ndarray, ids: np.ndarray
) -> None:
    if not len(margin):
        return
    gap = np.abs(base + contributions.sum(axis=1) - margin)
    worst = int(np.argmax(gap))
    if not gap[worst] <= ADDITIVITY_TOLERANCE:  # also catches NaN
        bad = int(np.count_nonzero(~(gap <= ADDITIVITY_TOLERANCE)))
        raise ExplanationError(
            f"contributions do not add up to the model's margin on {bad} row(s); worst is row "
            f"{worst} (id {ids[worst]!r}): base {base:.9f} + contributions {contributions[worst].sum():.9f} "
            f"!= margin {margin[worst]:.9f} (gap {gap[worst]:.2e} > {ADDITIVITY_TOLERANCE:g})"
        )


def _strictly_increasing(calibrator) -> bool:
    return getattr(calibrator, "method", "sigmoid") != "isotonic"


def calibrator_slope(calibrator: Callable[[np.ndarray], np.ndarray], at: float) -> float:
    """Central numerical derivative of ``calibrator`` at ``at`` (probability per log-odds unit)."""
    h = 1e-6 * max(1.0, abs(at))
    upper, lower = np.asarray(calibrator(np.array([at + h, at - h])), float)
    return float((upper - lower) / (2 * h))


def to_points(
    contributions: np.ndarray,
    base_log_odds: float,
    margin: np.ndarray,
    calibrator: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-odds contributions -> percentage points of the calibrated probability.

    Parameters
    ----------
    contributions : (rows, features) log-odds contributions
    base_log_odds : the base (expected margin) shared by all rows
    margin : (rows,) the model's raw log-odds
    calibrator : maps margins to probabilities, never decreasing (``model.calibrator_``)

    Returns
    -------
    points : (rows, features), each row summing to ``100 * (probability - baseline_probability)``
        (exactly when ``base + sum(contributions) == margin``; otherwise off by the additivity gap
        times the calibrator's slope, at most ~1e-12 points for LightGBM in practice)
    probability : (rows,) ``calibrator(margin)``
    baseline_probability : ``calibrator(base_log_odds)``

    Examples
    --------
    >>> points, p, p0 = to_points(np.array([[0.5, -0.2]]), 0.0, np.array([0.3]), model.calibrator_)
    """
    contributions = np.asarray(contributions, float)
    margin = np.asarray(margin, float).reshape(-1)
    probability = np.asarray(calibrator(margin), float).reshape(-1)
    baseline = float(np.asarray(calibrator(np.array([float(base_log_odds)])), float).reshape(-1)[0])
    moved = margin - float(base_log_odds)
    flat = np.abs(moved) <= FLAT_TOLERANCE
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = 100.0 * (probability - baseline) / moved
    if _strictly_increasing(calibrator):
        # Rounding can give p == p_base for a tiny non-zero move; the slope is the honest limit there.
        flat |= ~(factor > 0)
    if flat.any():
        factor = np.where(flat, 100.0 * calibrator_slope(calibrator, float(base_log_odds)), factor)
    factor = np.maximum(factor, 0.0)  # a non-decreasing calibrator: never flip a sign
    return contributions * factor[:, None], probability, baseline
