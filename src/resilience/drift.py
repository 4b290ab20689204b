"""Does this week's data still look like what the model was trained on?

At training, :func:`build_reference` records for every model feature its distribution over the
training rows (10 quantile bins for numbers, shares for categories) and its missing rate, plus the
share of test-period lines whose top reason was each concept. At scoring,
:class:`DriftAccumulator` counts the week chunk by chunk (memory stays flat) and
:meth:`DriftAccumulator.report` compares:

* **population stability index** per feature: ``PSI = sum((a - e) * ln(a / e))`` over bins, where
  ``e`` and ``a`` are the training and this week's shares (a floor of 1e-4 avoids ln 0). Rule of
  thumb: < 0.1 stable, 0.1-0.25 a warning, > 0.25 a real shift;
* **missing-value shift**: the change in a feature's share of empty values;
* **explanation drift**: PSI of "which concept is the top reason" shares against the test period.

Thresholds come from config. A small week gives a noisy PSI (with no drift at all,
``n * PSI`` is roughly chi-squared with ``bins - 1`` degrees of freedom, so 40 rows over 13
categories already give PSI ~ 0.3), so a finding is only reported when it is *also* statistically
significant (Pearson chi-squared test on the counts, two-proportion z-test for missing values),
with a Bonferroni correction so that ``significance`` bounds the chance of any false alarm across
all features in a week. Every alert carries a plain-English message for the report.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FLOOR = 1e-4


@dataclass(frozen=True)
class DriftConfig:
    bins: int = 10                    # quantile bins per numeric feature
    psi_warning: float = 0.1          # PSI above this is reported as a warning
    psi_alert: float = 0.25           # PSI above this is an alert
    missing_alert: float = 0.05       # change in the share of empty values that is an alert
    explanation_psi_alert: float = 0.25
    min_rows: int = 30                # fewer scored rows than this: no drift verdicts (too noisy)
    significance: float = 0.01        # a finding must also be this unlikely under no drift


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, float), FLOOR, None)
    a = np.clip(np.asarray(actual, float), FLOOR, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def counts_differ(expected_shares, counts, significance: float) -> bool:
    """Pearson chi-squared goodness of fit: are these counts unlikely (p < significance) under the
    expected shares? Unlike PSI it stays well-behaved when a small week leaves bins empty."""
    from scipy.stats import chi2

    shares = np.asarray(expected_shares, float)
    counts = np.asarray(counts, float)
    n = counts.sum()
    if n == 0:
        return False
    expected = np.clip(shares, FLOOR, None) / np.clip(shares, FLOOR, None).sum() * n
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    dof = max(int(np.count_nonzero(shares > 0)) - 1, 1)
    return statistic > chi2.ppf(1 - significance, dof)


def shift_is_significant(before: float, after: float, rows_before: int, rows_after: int, significance: float) -> bool:
    """Two-proportion z-test for a change in a share (e.g. of empty values)."""
    from scipy.stats import norm

    pooled = (before * rows_before + after * rows_after) / max(rows_before + rows_after, 1)
    se = np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / max(rows_before, 1) + 1 / max(rows_after, 1)))
    return abs(after - before) / se > norm.ppf(1 - significance / 2)


def _numeric_edges(values: pd.Series, bins: int) -> list[float]:
    values = values.dropna().to_numpy(float)
    if len(values) == 0:
        return []
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return [float(e) for e in edges]


def _bin_counts(values: pd.Series, spec: dict) -> np.ndarray:
    """Counts per bin (last bin: missing) of values under a feature's reference spec."""
    missing = values.isna().to_numpy()
    if spec["kind"] == "categorical":
        categories = spec["categories"]
        text = values.astype(object).where(~missing, None).map(lambda v: v if v is None else str(v))
        counts = [int((text == c).sum()) for c in categories]
        other = int((~missing).sum()) - sum(counts)  # categories never seen in training
        return np.array(counts + [other, int(missing.sum())], float)
    numbers = pd.to_numeric(values.astype(object).where(~missing, np.nan), errors="coerce").to_numpy(float)
    present = numbers[~np.isnan(numbers)]
    counts = np.bincount(np.searchsorted(spec["edges"], present, side="right"), minlength=len(spec["edges"]) + 1)
    return np.append(counts.astype(float), float(np.isnan(numbers).sum()))


def build_reference(frame: pd.DataFrame, features: list[str], categorical: list[str], labels: dict[str, str],
                    bins: int = 10, top_reason_shares: dict[str, float] | None = None) -> dict:
    """Training-time distributions of every feature (stored with the model)."""
    reference = {"rows": int(len(frame)), "features": {}, "top_reason_shares": top_reason_shares or {}}
    for name in features:
        if name in categorical:
            categories = sorted(str(v) for v in frame[name].dropna().unique())
            spec = {"kind": "categorical", "categories": categories}
        else:
            numbers = pd.to_numeric(frame[name].astype(object), errors="coerce")
            spec = {"kind": "numeric", "edges": _numeric_edges(numbers, bins)}
        counts = _bin_counts(frame[name], spec)
        spec["shares"] = (counts / max(counts.sum(), 1)).tolist()
        spec["missing_rate"] = float(frame[name].isna().mean())
        spec["label_text"] = labels.get(name, name)
        reference["features"][name] = spec
    return reference


class DriftAccumulator:
    """Counts a week's values chunk by chunk, then compares them with the training reference."""

    def __init__(self, reference: dict, config: DriftConfig):
        self.reference = reference
        self.config = config
        self.counts = {name: np.zeros(len(spec["shares"])) for name, spec in reference["features"].items()}
        self.top_reasons: dict[str, int] = {}
        self.rows = 0

    def update(self, frame: pd.DataFrame, top_reason_concepts: list[str] | None = None) -> None:
        self.rows += len(frame)
        for name, spec in self.reference["features"].items():
            if name in frame.columns:
                self.counts[name] += _bin_counts(frame[name], spec)
        for concept in top_reason_concepts or []:
            self.top_reasons[concept] = self.top_reasons.get(concept, 0) + 1

    def report(self, concept_labels: dict[str, str] | None = None) -> dict:
        """Per-feature PSI and missing shift, explanation drift, and the alerts that cross thresholds."""
        config, alerts, features = self.config, [], {}
        enough = self.rows >= config.min_rows
        # Bonferroni: the chance of any false alarm across all features stays at `significance`
        per_test = config.significance / max(len(self.reference["features"]), 1)
        for name, spec in self.reference["features"].items():
            counts = self.counts[name]
            shares = counts / max(counts.sum(), 1)
            value = psi(spec["shares"], shares)
            missing_now = float(counts[-1] / max(counts.sum(), 1))
            missing_shift = missing_now - spec["missing_rate"]
            features[name] = {"psi": round(value, 6), "missing_rate": round(missing_now, 6),
                              "training_missing_rate": round(spec["missing_rate"], 6),
                              "missing_shift": round(missing_shift, 6)}
            label = spec.get("label_text", name)
            significant = counts_differ(spec["shares"], counts, per_test)
            features[name]["significant"] = bool(significant)
            if enough and significant and value > config.psi_warning:
                level = "alert" if value > config.psi_alert else "warning"
                alerts.append({"kind": "feature", "level": level, "name": name, "label_text": label,
                               "value": round(value, 4), "threshold": config.psi_alert if level == "alert" else config.psi_warning,
                               "message": f"The spread of '{label}' this week differs from the training data "
                                          f"(stability index {value:.2f}; above {config.psi_alert:g} is a real shift)."})
            if enough and abs(missing_shift) > config.missing_alert and shift_is_significant(
                    spec["missing_rate"], missing_now, int(self.reference["rows"]), int(counts.sum()), per_test):
                alerts.append({"kind": "missing", "level": "alert", "name": name, "label_text": label,
                               "value": round(missing_shift, 4), "threshold": config.missing_alert,
                               "message": f"'{label}' is empty in {missing_now:.0%} of this week's rows, "
                                          f"against {spec['missing_rate']:.0%} in training."})
        explanation = {}
        expected = self.reference.get("top_reason_shares") or {}
        if expected and self.top_reasons:
            concepts = sorted(set(expected) | set(self.top_reasons))
            total = sum(self.top_reasons.values())
            actual = {c: self.top_reasons.get(c, 0) / total for c in concepts}
            value = psi([expected.get(c, 0.0) for c in concepts], [actual[c] for c in concepts])
            explanation = {"psi": round(value, 6), "shares": {c: round(v, 6) for c, v in actual.items()},
                           "test_period_shares": expected}
            if enough and value > config.explanation_psi_alert and counts_differ(
                    [expected.get(c, 0.0) for c in concepts], [self.top_reasons.get(c, 0) for c in concepts],
                    config.significance):
                labels = concept_labels or {}
                moved = max(concepts, key=lambda c: abs(actual[c] - expected.get(c, 0.0)))
                alerts.append({"kind": "explanation", "level": "alert", "name": moved,
                               "label_text": labels.get(moved, moved), "value": round(value, 4),
                               "threshold": config.explanation_psi_alert,
                               "message": f"The model's main reasons have shifted: '{labels.get(moved, moved)}' is the top "
                                          f"reason for {actual[moved]:.0%} of lines this week against "
                                          f"{expected.get(moved, 0.0):.0%} in the test period."})
        return {"rows": self.rows, "enough_rows": enough, "thresholds": config.__dict__,
                "features": features, "explanations": explanation, "alerts": alerts}
