"""Does this week's data still look like the recent data the model was checked on?

At training, :func:`build_reference` records, over the **recent window** (the labelled rows from
the start of the test period on: the most recent data the toolkit has, not the training rows,
since a world with trends would otherwise flag every new week), every model feature's
distribution (10 quantile bins for numbers, categories for categories, plus a missing bin) as
counts, its missing rate, and how often each concept is the top reason on the test period. At
scoring, :class:`DriftAccumulator` counts the week chunk by chunk (memory stays flat) and
:meth:`DriftAccumulator.report` compares:

* **distribution** of each feature: population stability index
  ``PSI = sum((a - e) * ln(a / e))`` (effect size; < 0.1 stable, 0.1-0.25 a warning, > 0.25 a real
  shift) and a **two-sample** chi-squared test of homogeneity on the reference's and the week's
  counts: the reference is itself a sample, so its size enters the test (a 500-row reference is
  less certain than a 5,000-row one);
* **missing values**: the change in a feature's share of empty values, with Fisher's exact test
  on the two samples' counts;
* **explanation drift**: PSI and a two-sample test of "which concept is the top reason".

A finding is an alert only when it is large (thresholds from config) **and** significant after a
**Holm** correction across *every* test of the week (features, missing values and explanations
together), so ``significance`` bounds the chance of any false alert in a stationary week
(checked by simulation in ``tests/test_drift.py``). Features the data config declares
``ageing: true`` (history and age fields such as the line's age or the weeks since its last
disruption, which shift as any panel ages) are compared and reported as **information**, never
as alerts, and are left out of the correction. Every alert carries a plain-English message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, fisher_exact

FLOOR = 1e-4


@dataclass(frozen=True)
class DriftConfig:
    bins: int = 10  # quantile bins per numeric feature
    psi_warning: float = 0.1  # PSI above this is reported as a warning
    psi_alert: float = 0.25  # PSI above this is an alert
    missing_alert: float = 0.05  # change in the share of empty values that is an alert
    explanation_psi_alert: float = 0.25
    min_rows: int = 30  # fewer scored rows than this: no drift verdicts (too noisy)
    significance: float = (
        0.01  # family-wise: chance of any false alert in a stationary week (Holm over every test)
    )


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, float), FLOOR, None)
    a = np.clip(np.asarray(actual, float), FLOOR, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def two_sample_p(reference_counts, counts) -> float:
    """p-value of a chi-squared test that two samples of counts over the same bins come from one
    distribution (bins empty in both are dropped): Pearson's test of homogeneity, without Yates'
    correction. Unlike PSI it stays well-behaved when a small week leaves bins empty, and it
    treats the reference as the sample it is."""
    table = np.vstack([np.asarray(reference_counts, float), np.asarray(counts, float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    _, p_value, _, _ = chi2_contingency(table, correction=False)
    return float(p_value)


def missing_p(
    reference_missing: float, reference_rows: float, missing: float, rows: float
) -> float:
    """Fisher's exact test p-value that two samples have the same share of empty values."""
    table = np.rint(
        [[reference_missing, reference_rows - reference_missing], [missing, rows - missing]]
    ).astype(int)
    if table.sum(axis=0).min() == 0:
        return 1.0
    return float(fisher_exact(table).pvalue)


def holm(p_values: dict, level: float) -> set:
    """Keys rejected by Holm's step-down procedure at family-wise level ``level``."""
    rejected = set()
    ordered = sorted(p_values.items(), key=lambda item: item[1])
    for i, (key, p) in enumerate(ordered):
        if p > level / (len(ordered) - i):
            break
        rejected.add(key)
    return rejected


def _alert(
    kind: str, level: str, name: str, label: str, value: float, threshold: float, message: str
) -> dict:
    """One finding as drift.json and the report show it."""
    return {
        "kind": kind,
        "level": level,
        "name": name,
        "label_text": label,
        "value": round(value, 4),
        "threshold": threshold,
        "message": message,
    }


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
        text = values[~missing].astype(str).to_numpy()
        codes = pd.Categorical(
            text, categories=categories
        ).codes  # -1: a category the reference never saw
        counts = np.bincount(codes + 1, minlength=len(categories) + 1).astype(float)
        return np.append(np.append(counts[1:], counts[0]), float(missing.sum()))
    numbers = pd.to_numeric(
        values.astype(object).where(~missing, np.nan), errors="coerce"
    ).to_numpy(float)
    present = numbers[~np.isnan(numbers)]
    counts = np.bincount(
        np.searchsorted(spec["edges"], present, side="right"), minlength=len(spec["edges"]) + 1
    )
    return np.append(counts.astype(float), float(np.isnan(numbers).sum()))


def bin_labels(spec: dict) -> list[str]:
    """What each of a feature's bins holds, in :func:`_bin_counts`' order (last: missing)."""
    if spec["kind"] == "categorical":
        return [*spec["categories"], "a category not seen before", "missing"]
    edges = [f"{e:g}" for e in spec["edges"]]
    if not edges:
        return ["any value", "missing"]
    middle = [f"{a} to under {b}" for a, b in zip(edges, edges[1:])]
    return [f"under {edges[0]}", *middle, f"{edges[-1]} or more", "missing"]


def build_reference(
    frame: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    labels: dict[str, str],
    bins: int = 10,
    top_reason_shares: dict[str, float] | None = None,
    top_reason_rows: int = 0,
    ageing: list[str] | tuple = (),
) -> dict:
    """Distributions of every feature over ``frame`` (the recent window), stored with the model's evidence."""
    reference = {
        "rows": int(len(frame)),
        "features": {},
        "top_reason_shares": top_reason_shares or {},
        "top_reason_rows": int(top_reason_rows),
    }
    for name in features:
        if name in categorical:
            categories = sorted(str(v) for v in frame[name].dropna().unique())
            spec = {"kind": "categorical", "categories": categories}
        else:
            numbers = pd.to_numeric(frame[name].astype(object), errors="coerce")
            spec = {"kind": "numeric", "edges": _numeric_edges(numbers, bins)}
        counts = _bin_counts(frame[name], spec)
        spec["counts"] = counts.tolist()
        spec["shares"] = (counts / max(counts.sum(), 1)).tolist()
        spec["missing_rate"] = float(frame[name].isna().mean())
        spec["label_text"] = labels.get(name, name)
        spec["ageing"] = name in set(ageing)
        reference["features"][name] = spec
    return reference


def _reference_counts(spec: dict, rows: int) -> np.ndarray:
    """The reference's counts (older references stored shares only: shares x rows)."""
    if "counts" in spec:
        return np.asarray(spec["counts"], float)
    return np.asarray(spec["shares"], float) * max(rows, 1)


class DriftAccumulator:
    """Counts a week's values chunk by chunk, then compares them with the reference."""

    def __init__(self, reference: dict, config: DriftConfig):
        self.reference = reference
        self.config = config
        self.counts = {
            name: np.zeros(len(spec["shares"])) for name, spec in reference["features"].items()
        }
        self.top_reasons: dict[str, int] = {}
        self.rows = 0

    def update(self, frame: pd.DataFrame, top_reason_concepts: list[str] | None = None) -> None:
        self.rows += len(frame)
        for name, spec in self.reference["features"].items():
            if name in frame.columns:
                self.counts[name] += _bin_counts(frame[name], spec)
        for concept in top_reason_concepts or []:
            self.top_reasons[concept] = self.top_reasons.get(concept, 0) + 1

    def _feature_findings(self) -> tuple[dict, list[dict]]:
        """Per feature: PSI, missing shift and both tests' p-values; candidate findings."""
        features, findings = {}, []
        rows_ref = int(self.reference.get("rows", 0))
        for name, spec in self.reference["features"].items():
            counts = self.counts[name]
            reference_counts = _reference_counts(spec, rows_ref)
            value = psi(spec["shares"], counts / max(counts.sum(), 1))
            missing_now = float(counts[-1] / max(counts.sum(), 1))
            missing_shift = missing_now - spec["missing_rate"]
            p_spread = two_sample_p(reference_counts, counts)
            p_missing = missing_p(
                reference_counts[-1], reference_counts.sum(), counts[-1], counts.sum()
            )
            features[name] = {
                "label": spec.get("label_text", name),
                "bins": bin_labels(spec),
                "reference_shares": [round(float(v), 6) for v in spec["shares"]],
                "shares": [round(float(v), 6) for v in counts / max(counts.sum(), 1)],
                "psi": round(value, 6),
                "missing_rate": round(missing_now, 6),
                "reference_missing_rate": round(spec["missing_rate"], 6),
                "missing_shift": round(missing_shift, 6),
                "p_value": p_spread,
                "missing_p_value": p_missing,
                "ageing": bool(spec.get("ageing")),
            }
            label, ageing = spec.get("label_text", name), bool(spec.get("ageing"))
            if value > self.config.psi_warning:
                level = "alert" if value > self.config.psi_alert else "warning"
                threshold = self.config.psi_alert if level == "alert" else self.config.psi_warning
                message = (
                    f"The spread of '{label}' this week differs from recent weeks (stability "
                    f"index {value:.2f}; above {self.config.psi_alert:g} is a real shift)."
                )
                alert = _alert("feature", level, name, label, value, threshold, message)
                findings.append(
                    {"test": ("feature", name), "p": p_spread, "ageing": ageing, "alert": alert}
                )
            if abs(missing_shift) > self.config.missing_alert:
                message = (
                    f"'{label}' is empty in {missing_now:.0%} of this week's rows, "
                    f"against {spec['missing_rate']:.0%} in recent weeks."
                )
                alert = _alert(
                    "missing",
                    "alert",
                    name,
                    label,
                    missing_shift,
                    self.config.missing_alert,
                    message,
                )
                findings.append(
                    {"test": ("missing", name), "p": p_missing, "ageing": ageing, "alert": alert}
                )
        return features, findings

    def _explanation_finding(
        self, concept_labels: dict[str, str]
    ) -> tuple[dict, dict | None, float | None]:
        expected = self.reference.get("top_reason_shares") or {}
        if not expected or not self.top_reasons:
            return {}, None, None
        concepts = sorted(set(expected) | set(self.top_reasons))
        total = sum(self.top_reasons.values())
        actual = {c: self.top_reasons.get(c, 0) / total for c in concepts}
        value = psi([expected.get(c, 0.0) for c in concepts], [actual[c] for c in concepts])
        reference_rows = (
            self.reference.get("top_reason_rows") or self.reference.get("rows") or total
        )
        p_value = two_sample_p(
            [expected.get(c, 0.0) * reference_rows for c in concepts],
            [self.top_reasons.get(c, 0) for c in concepts],
        )
        summary = {
            "psi": round(value, 6),
            "shares": {c: round(v, 6) for c, v in actual.items()},
            "test_period_shares": expected,
            "p_value": p_value,
        }
        if value <= self.config.explanation_psi_alert:
            return summary, None, p_value
        moved = max(concepts, key=lambda c: abs(actual[c] - expected.get(c, 0.0)))
        label = concept_labels.get(moved, moved)
        message = (
            f"The model's main reasons have shifted: '{label}' is the top reason for "
            f"{actual[moved]:.0%} of lines this week against {expected.get(moved, 0.0):.0%} "
            "in the test period."
        )
        threshold = self.config.explanation_psi_alert
        return (
            summary,
            _alert("explanation", "alert", moved, label, value, threshold, message),
            p_value,
        )

    def report(self, concept_labels: dict[str, str] | None = None) -> dict:
        """Per-feature numbers, explanation drift, the alerts (Holm-corrected across every test) and
        the information about ageing features."""
        config = self.config
        enough = self.rows >= config.min_rows
        features, findings = self._feature_findings()
        explanation, explanation_alert, explanation_p = self._explanation_finding(
            concept_labels or {}
        )
        # the family: every test of the week except the ageing features' (information only)
        family = {("feature", n): f["p_value"] for n, f in features.items() if not f["ageing"]}
        family.update(
            {("missing", n): f["missing_p_value"] for n, f in features.items() if not f["ageing"]}
        )
        if explanation_p is not None:
            family[("explanation", "top_reason")] = explanation_p
        rejected = holm(family, config.significance) if enough else set()
        for name, numbers in features.items():
            numbers["significant"] = ("feature", name) in rejected or ("missing", name) in rejected
        alerts = [f["alert"] for f in findings if not f["ageing"] and f["test"] in rejected]
        if explanation_alert is not None and ("explanation", "top_reason") in rejected:
            alerts.append(explanation_alert)
        information = [
            {
                **f["alert"],
                "level": "information",
                "message": f["alert"]["message"]
                + " This is an age or history field, which shifts as the lines age; shown for information.",
            }
            for f in findings
            if f["ageing"] and enough and f["p"] <= config.significance
        ]
        return {
            "rows": self.rows,
            "enough_rows": enough,
            "thresholds": config.__dict__,
            "tests": len(family),
            "features": features,
            "explanations": explanation,
            "alerts": alerts,
            "information": information,
        }
