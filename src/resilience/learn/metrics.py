"""Metrics, slice metrics with bootstrap intervals, and plots: pure functions returning dicts/frames.

* :func:`headline_metrics` — ROC AUC, PR AUC, Brier, log loss, expected calibration error and
  precision/recall at a weekly capacity ``k`` (the lines a force can act on each week).
* :func:`slice_metrics` — the same per slice value with bootstrap 95% intervals; slices smaller
  than ``min_size`` (or holding one outcome only) are reported as suppressed, never as noise.
* :func:`calibration_in_the_large` — mean predicted minus observed rate with its standard error,
  and :func:`calibration_slope` — the logistic recalibration slope (1 = ideal); fairness uses both
  per group.
* :func:`calibration_table` — per probability bin, the numbers behind a calibration curve.

The plots of these metrics are in :mod:`resilience.learn.plots`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from resilience.learn.glm import fit_logistic

EPS = 1e-12


def calibration_bins(p: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Each probability's bin among ``n_bins`` equal-width bins of 0-1 (1.0 in the last one): the
    binning of the calibration error, its bootstrap and the calibration table alike."""
    return np.clip((np.asarray(p, float) * n_bins).astype(int), 0, n_bins - 1)


def calibration_bin_range(bin_index: int, n_bins: int = 10) -> tuple[float, float]:
    """The estimates :func:`calibration_bins` puts in bin ``bin_index``: from ``low`` up to
    ``high`` (``high`` itself only in the last bin), as shares of 1. A table shows a bin as this
    range ("20-30%"), never as its number."""
    return bin_index / n_bins, (bin_index + 1) / n_bins


def reportable(y: np.ndarray, min_rows: int) -> bool:
    """Enough rows, holding both outcomes, to report a metric: a smaller group (a slice, a cohort,
    a week) is suppressed, never read as a finding."""
    return len(y) >= min_rows and len(np.unique(np.asarray(y))) == 2


def cohort_groups(frame: pd.DataFrame, column: str | None, min_rows: int = 0):
    """Each cohort's rows (its value as text), when there is a cohort column and ``frame`` holds
    it; groups of fewer than ``min_rows`` rows are left out."""
    if not column or column not in frame.columns:
        return
    for value, group in frame.groupby(column, observed=True):
        if len(group) >= min_rows:
            yield str(value), group


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Weighted mean |observed rate - mean predicted| over equal-width probability bins."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    bins = calibration_bins(p, n_bins)
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.sum() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(total / len(y)) if len(y) else float("nan")


def at_capacity(
    y: np.ndarray, p: np.ndarray, weeks: np.ndarray | None, k: int
) -> tuple[float, float]:
    """Precision and recall when a force acts on the ``k`` highest-scored lines each week.

    Precision: share of acted-on lines that persisted. Recall: share of all persisting lines that
    were acted on. Pooled over weeks (micro average).
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    weeks = np.zeros(len(y)) if weeks is None else np.asarray(weeks)
    frame = pd.DataFrame({"y": y, "p": p, "week": weeks})
    frame["rank"] = frame.groupby("week")["p"].rank(method="first", ascending=False)
    chosen = frame[frame["rank"] <= k]
    precision = float(chosen["y"].mean()) if len(chosen) else float("nan")
    recall = float(chosen["y"].sum() / frame["y"].sum()) if frame["y"].sum() else float("nan")
    return precision, recall


def capacity_curve(
    y: np.ndarray, p: np.ndarray, weeks: np.ndarray | None, max_k: int
) -> pd.DataFrame:
    """Per weekly capacity k = 1..max_k: precision and recall (:func:`at_capacity`), the lift
    (precision over the base rate) and the gain a random choice of k lines a week would give
    (each week's persisting lines times the share of its lines chosen, pooled)."""
    y = np.asarray(y, float)
    weeks = np.zeros(len(y)) if weeks is None else np.asarray(weeks)
    per_week = pd.DataFrame({"y": y, "week": weeks}).groupby("week")["y"].agg(["sum", "size"])
    base, total = float(y.mean()) if len(y) else float("nan"), float(y.sum())
    rows = []
    for k in range(1, max_k + 1):
        precision, recall = at_capacity(y, p, weeks, k)
        chosen = np.minimum(k, per_week["size"]) / per_week["size"]
        random_gain = float((per_week["sum"] * chosen).sum() / total) if total else float("nan")
        rows.append(
            {
                "k": k,
                "precision": precision,
                "recall": recall,
                "lift": precision / base if base else float("nan"),
                "random_recall": random_gain,
            }
        )
    return pd.DataFrame(rows)


def headline_metrics(
    y: np.ndarray, p: np.ndarray, weeks: np.ndarray | None = None, k: int = 10, n_bins: int = 10
) -> dict[str, float]:
    """The headline metrics for one set of predictions."""
    y, p = np.asarray(y, float), np.clip(np.asarray(p, float), EPS, 1 - EPS)
    two_classes = len(np.unique(y)) == 2
    precision, recall = at_capacity(y, p, weeks, k)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p, n_bins),
        f"precision_at_{k}": precision,
        f"recall_at_{k}": recall,
        "observed_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "rows": float(len(y)),
    }


def _percentile_interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 10:
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resample counts: a bootstrap resample is the original rows with these weights."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    return (
        np.bincount((idx + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)
    )


def weighted_statistics(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray, n_bins: int = 10
) -> dict[str, np.ndarray]:
    """ROC AUC, Brier, ECE and calibration gap for every row of ``weights`` at once (vectorised).

    AUC is the weighted Mann-Whitney statistic over groups of equal scores (ties count a half), so
    each resample's value equals ``roc_auc_score`` on the resampled rows.
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    total = weights.sum(axis=1)
    out = {
        "brier": weights @ (p - y) ** 2 / total,
        "calibration_gap": (weights @ p - weights @ y) / total,
    }
    bins = calibration_bins(p, n_bins)
    ece = np.zeros(len(weights))
    for b in np.unique(bins):
        w = weights[:, bins == b]
        count = w.sum(axis=1)
        gap = np.abs(w @ y[bins == b] - w @ p[bins == b])
        ece += np.where(count > 0, gap, 0.0)
    out["ece"] = ece / total
    order = np.argsort(p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    w_sorted = weights[:, order]
    positives = np.add.reduceat(w_sorted * y_sorted, starts, axis=1)
    negatives = np.add.reduceat(w_sorted * (1 - y_sorted), starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["roc_auc"] = np.where(
            pairs > 0, (positives * (below + 0.5 * negatives)).sum(axis=1) / pairs, np.nan
        )
    return out


SLICE_STATISTICS = {
    "roc_auc": lambda y, p: roc_auc_score(y, p),
    "brier": lambda y, p: brier_score_loss(y, p),
    "ece": lambda y, p: expected_calibration_error(y, p),
    "calibration_gap": lambda y, p: float(np.mean(p) - np.mean(y)),
}


def slice_groups(
    frame: pd.DataFrame, slice_columns: list[str], label: str, probability: str, min_size: int
):
    """Each (slice column, value) group as ``(row, y, p)``: ``row`` holds slice, value, rows and
    ``suppressed`` (fewer than ``min_size`` rows or one outcome only: never reported as a finding)."""
    for column in slice_columns:
        for value, group in frame.groupby(column, observed=True, sort=True):
            y = group[label].to_numpy(float)
            p = group[probability].to_numpy(float)
            suppressed = not reportable(y, min_size)
            yield (
                {
                    "slice": column,
                    "value": str(value),
                    "rows": len(group),
                    "suppressed": suppressed,
                },
                y,
                p,
            )


def slice_metrics(
    frame: pd.DataFrame,
    slice_columns: list[str],
    label: str,
    probability: str,
    min_size: int = 50,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (slice column, value): size, rates and each statistic with a 95% interval.

    Slices with fewer than ``min_size`` rows, or only one outcome, are ``suppressed`` with their
    numbers left empty: a commander must never read noise as a finding.
    """
    rows = []
    for row, y, p in slice_groups(frame, slice_columns, label, probability, min_size):
        if row["suppressed"]:
            rows.append(row)
            continue
        row.update({"observed_rate": float(y.mean()), "mean_predicted": float(p.mean())})
        resampled = weighted_statistics(y, p, bootstrap_weights(len(y), n_boot, seed))
        for name, statistic in SLICE_STATISTICS.items():
            row[name] = float(statistic(y, p))
            row[f"{name}_low"], row[f"{name}_high"] = _percentile_interval(resampled[name])
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Mean predicted minus observed rate (positive: the model over-predicts) and its standard error.

    The standard error is that of a mean of the row differences ``p - y`` (rows independent given
    the predictions): ``sd(p - y) / sqrt(n)``, which is what a row bootstrap estimates, at no cost.
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    n = len(y)
    if n < 2:
        return {
            "gap": float("nan"),
            "se": float("nan"),
            "observed_rate": float("nan"),
            "mean_predicted": float("nan"),
        }
    difference = p - y
    return {
        "gap": float(difference.mean()),
        "se": float(difference.std(ddof=1) / np.sqrt(n)),
        "observed_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }


def calibration_slope(y: np.ndarray, p: np.ndarray, iterations: int = 25) -> dict[str, float]:
    """Logistic recalibration ``logit P(y) = a + b logit(p)``: slope ``b`` (1 = ideal; below 1 the
    estimates are too extreme, above 1 too timid) with its standard error from the Fisher information.

    Two parameters, so the maximum-likelihood fit is a few Newton steps on a 2x2 system (started at
    the ideal ``a = 0, b = 1``); this keeps per-group fairness checks cheap enough to simulate.
    """
    y = np.asarray(y, float)
    q = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    logit = np.log(q / (1 - q))
    nan = {"slope": float("nan"), "slope_se": float("nan")}
    if len(np.unique(y)) < 2 or np.ptp(logit) == 0:
        return nan
    X = np.column_stack([np.ones_like(logit), logit])
    fit = fit_logistic(X, y, start=np.array([0.0, 1.0]), iterations=iterations)
    if not np.all(np.isfinite(fit.coef)) or not np.all(np.isfinite(fit.covariance)):
        return nan
    return {"slope": float(fit.coef[1]), "slope_se": float(fit.se[1])}


def oracle_metrics(
    y: np.ndarray, true_probability: np.ndarray, model_metrics: dict
) -> dict[str, float]:
    """What the true probabilities achieve on the same rows, and the model's gap to them."""
    y, t = np.asarray(y, float), np.asarray(true_probability, float)
    oracle_auc = float(roc_auc_score(y, t))
    oracle_brier = float(brier_score_loss(y, t))
    return {
        "oracle_roc_auc": oracle_auc,
        "oracle_brier": oracle_brier,
        "gap_roc_auc": oracle_auc - model_metrics["roc_auc"],
        "gap_brier": model_metrics["brier"] - oracle_brier,
    }


def calibration_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per probability bin: rows, mean predicted, observed rate (the numbers behind the curve)."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    frame = pd.DataFrame({"bin": calibration_bins(p, n_bins), "y": y, "p": p})
    table = frame.groupby("bin").agg(
        rows=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")
    )
    return table.reset_index()
