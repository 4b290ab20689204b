"""How the estimates do by record age: the test period judged as scoring meets it.

A scored week holds every open disruption once, at its own record age (0 to ``horizon - 1``
weeks), so a model's quality on complete records says little about this week's fresh ones. With
records as they stood (:mod:`resilience.learn.records`), the test period holds every snapshot of
every test disruption: at each record age, one row per disruption, plus each disruption's
complete (final) record. :func:`by_record_age` gives, per age:

* ``bias_vs_observed_points``: mean estimate minus the share that persisted, in points (what
  outcomes can show), with its standard error ``bias_se_points``; ``bias_vs_truth_points``: mean estimate minus the mean true probability,
  where a truth exists (synthetic worlds);
* ``ece`` and ``roc_auc`` (:mod:`resilience.learn.metrics`);
* ``coverage``: the share of true probabilities inside the range (truth needed) and
  ``median_width`` of the ranges, when the model has them.

Every age is one row per disruption, so each figure counts disruptions. The rows are logged as
MLflow metrics named ``by_record_age.<age>.<measure>`` (:func:`age_metric_names`) and a table,
carried in the model's evidence and put into words in the briefing's trust section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from resilience.data.contract import DataContract
from resilience.learn.evaluation import true_probabilities
from resilience.learn.metrics import expected_calibration_error
from resilience.learn.ranges import interval_table

COMPLETE = "complete"  # the age label of each disruption's final record
MEASURES = (
    "disruptions",
    "observed_rate",
    "mean_estimate",
    "bias_vs_observed_points",
    "bias_se_points",
    "bias_vs_truth_points",
    "ece",
    "roc_auc",
    "coverage",
    "median_width",
)


def _group(y: np.ndarray, p: np.ndarray, truth, low, high, n_bins: int) -> dict:
    """The measures of one record age (NaN where they cannot be computed)."""
    both = len(np.unique(y)) == 2
    row = {
        "disruptions": int(len(y)),
        "observed_rate": float(y.mean()),
        "mean_estimate": float(p.mean()),
        "bias_vs_observed_points": float(100 * (p.mean() - y.mean())),
        # rows independent given the estimates: one record per disruption at each age
        "bias_se_points": float(100 * np.std(p - y, ddof=1) / np.sqrt(len(y)))
        if len(y) > 1
        else float("nan"),
        "ece": float(expected_calibration_error(y, p, n_bins)),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "bias_vs_truth_points": float("nan"),
        "coverage": float("nan"),
        "median_width": float("nan"),
    }
    if truth is not None:
        row["bias_vs_truth_points"] = float(100 * (p.mean() - truth.mean()))
    if low is not None:
        row["median_width"] = float(np.median(high - low))
        if truth is not None:
            row["coverage"] = float(((truth >= low) & (truth <= high)).mean())
    return row


def by_record_age(
    model,
    rows: pd.DataFrame,
    contract: DataContract,
    truth: pd.DataFrame | None = None,
    ensembles: dict | None = None,
    n_bins: int = 10,
) -> pd.DataFrame:
    """One row per record age of ``rows`` (labelled, with the contract's record-age column; the
    final records at age ``horizon_weeks`` are labelled ``complete``) with :data:`MEASURES`.
    ``ensembles``: the ranges to judge (default: the model's own, if any)."""
    column = contract.record_age_column
    if column is None or rows is None or not len(rows) or column not in rows.columns:
        return pd.DataFrame(columns=["record_age", *MEASURES])
    rows = rows.reset_index(drop=True)
    probability = model.persistence_probability(rows)
    ranges = interval_table(model, rows, probability, ensembles)
    true = true_probabilities(rows, truth, contract.id_column)
    y = rows[contract.label].astype(int).to_numpy()
    age = rows[column].to_numpy()
    out = []
    for value in np.unique(age):
        at = age == value
        low = ranges["probability_low"].to_numpy()[at] if len(ranges.columns) else None
        high = ranges["probability_high"].to_numpy()[at] if len(ranges.columns) else None
        measures = _group(
            y[at],
            probability[at],
            None if true is None else true.to_numpy()[at],
            low,
            high,
            n_bins,
        )
        label = COMPLETE if value >= contract.horizon_weeks else str(int(value))
        out.append({"record_age": label, **measures})
    return pd.DataFrame(out)


def age_metric_names(table: pd.DataFrame) -> dict[str, float]:
    """The table as MLflow metrics: ``by_record_age.<age>.<measure>`` (finite values only)."""
    metrics = {}
    for row in table.to_dict("records"):
        for measure in MEASURES:
            value = row.get(measure)
            if value is not None and np.isfinite(float(value)):
                metrics[f"by_record_age.{row['record_age']}.{measure}"] = float(value)
    return metrics
