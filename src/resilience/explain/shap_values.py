"""Exact SHAP values of a fitted model, on the log-odds and on the probability scale.

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

from resilience.core.errors import ResilienceError

ADDITIVITY_TOLERANCE = 1e-6  # |base + sum(contributions) - margin|, log-odds, every row
FLAT_TOLERANCE = 1e-12  # |margin - base| below this uses the calibrator's slope


class ExplanationError(ResilienceError):
    """An explanation that cannot be trusted (e.g. contributions that do not add up to the margin)."""


def check_model(model) -> None:
    """Refuse an unfitted model or a family that cannot be explained exactly."""
    if not hasattr(model, "estimator_") or not hasattr(model, "calibrator_"):
        raise ExplanationError(
            "the model is not fitted; fit it (or load a registered one) before explaining"
        )
    if model.family not in ("lightgbm", "logistic"):
        raise ExplanationError(f"cannot explain a model of family {model.family!r}")


def log_odds_contributions(
    model, X: pd.DataFrame, ids: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """``(contributions (rows, features), base, margin (rows,))`` of prepared rows ``X``, checked
    for additivity on every row (``ids`` name the rows in the error)."""
    check_model(model)
    if model.family == "lightgbm":
        raw, base, margin = _tree_contributions(model, X)
    else:
        raw, base, margin = _linear_contributions(model, X)
    _check_additivity(raw, base, margin, ids)
    return raw, base, margin


def _tree_contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
    booster = model.estimator_.booster_
    if not len(X):  # LightGBM refuses an empty matrix
        return np.zeros((0, X.shape[1])), _tree_base(booster), np.zeros(0)
    raw = booster.predict(X, pred_contrib=True)
    if raw.shape[1] != X.shape[1] + 1:
        raise ExplanationError(
            f"LightGBM returned {raw.shape[1]} contribution columns for {X.shape[1]} features; "
            "only binary models are explained"
        )
    bases = raw[:, -1]
    base = float(bases[0])
    if np.ptp(bases) > ADDITIVITY_TOLERANCE:
        raise ExplanationError(
            "LightGBM's expected value differs between rows; the model cannot be explained"
        )
    margin = booster.predict(X, raw_score=True)
    return raw[:, :-1], base, np.asarray(margin, float)


def _tree_base(booster) -> float:
    """The expected margin, for an empty frame (pred_contrib needs a row)."""
    dump = booster.dump_model()
    total = 0.0
    for tree in dump["tree_info"]:
        node = tree["tree_structure"]
        total += _expected_leaf(node)
    return total


def _expected_leaf(node: dict) -> float:
    if "leaf_value" in node:
        return float(node["leaf_value"])
    left, right = node["left_child"], node["right_child"]
    nl, nr = _count(left), _count(right)
    return (nl * _expected_leaf(left) + nr * _expected_leaf(right)) / max(nl + nr, 1)


def _count(node: dict) -> float:
    return float(node.get("leaf_count", node.get("internal_count", 0)))


def _linear_contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
    design = model.design_
    base = float(np.asarray(model.estimator_.intercept_).reshape(-1)[0])
    if not len(X):
        return np.zeros((0, X.shape[1])), base, np.zeros(0)
    Z = design.transform(X).to_numpy(float)
    coef = np.asarray(model.estimator_.coef_, float).reshape(-1)
    weighted = Z * coef
    features = model.feature_names_
    contributions = np.empty((len(X), len(features)))
    for j, name in enumerate(features):
        contributions[:, j] = weighted[:, model.design_blocks_[name]].sum(axis=1)
    margin = np.asarray(model.estimator_.decision_function(Z), float)
    return contributions, base, margin


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
