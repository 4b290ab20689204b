"""What is known about a trained model, kept beside it rather than inside it.

:class:`ModelEvidence` holds the split, the held-out metrics (overall and by cohort), the
calibration table, the fairness table, the drift reference, the recipe that made the model and
the model that was actually evaluated on the test period (the registered model is usually the
same recipe refitted on every labelled row). Training logs it as MLflow artifacts
(``evidence/evidence.json`` and ``evidence/evaluation_model.pkl``: see
:func:`resilience.tracking.runs.log_evidence` / :func:`resilience.tracking.runs.load_evidence`), so the
registered model's pickle holds only what predicting needs.

Models registered before this module existed carried the same facts as attributes
(``split_summary_``, ``test_metrics_``, ``reference_`` ...): :meth:`ModelEvidence.from_model`
reads them, so those versions keep scoring.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

EMPTY_REFERENCE = {"rows": 0, "features": {}, "top_reason_shares": {}}


@dataclass
class ModelEvidence:
    """The evidence about one trained model (everything but the model itself)."""

    family: str | None = None
    split: dict = field(default_factory=dict)  # SplitSummary.as_dict()
    test_metrics: dict = field(default_factory=dict)
    test_metrics_by_cohort: dict = field(default_factory=dict)
    calibration_table: list = field(default_factory=list)
    fairness: list = field(default_factory=list)
    drift_reference: dict = field(default_factory=lambda: dict(EMPTY_REFERENCE))
    recipe: dict = field(default_factory=dict)  # family, features, data config, experiment
    refit_on_all: bool | None = None  # the registered model was refitted on every labelled row
    # the test period by record age (resilience.learn.by_age): one record per age, [] without snapshots
    by_record_age: list = field(default_factory=list)
    # the line types' drift the calibrator carries to the date it serves from ({"column",
    # "per_year": {value: log-odds a year}, "served_from"}); {} when none is carried
    cohort_drift: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)  # what each week it scores says (as_of=unchecked)
    # a fixed sample of the labelled records it learnt from (resilience.data.extract_sample): what
    # tells the champion rule whether a challenger learnt from the same data; {} before it was kept
    labelled_sample: dict = field(default_factory=dict)
    evaluation_model: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> str:
        """Everything except the evaluation model (which is pickled beside it)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "evaluation_model"}
        return json.dumps(data, indent=2, default=_plain)

    @classmethod
    def from_json(cls, text: str, evaluation_model=None) -> ModelEvidence:
        data = json.loads(text)
        known = {f.name for f in fields(cls)} - {"evaluation_model"}
        return cls(
            **{k: v for k, v in data.items() if k in known}, evaluation_model=evaluation_model
        )

    @classmethod
    def from_model(cls, model) -> ModelEvidence:
        """Evidence stored as attributes on a model registered before evidence moved off it."""
        split = getattr(model, "split_summary_", None)
        split = split.as_dict() if hasattr(split, "as_dict") else dict(split or {})
        return cls(
            family=getattr(model, "family", None),
            split=split,
            test_metrics=dict(getattr(model, "test_metrics_", {}) or {}),
            test_metrics_by_cohort=dict(getattr(model, "test_metrics_by_cohort_", {}) or {}),
            calibration_table=list(getattr(model, "calibration_table_", []) or []),
            fairness=list(getattr(model, "fairness_", []) or []),
            drift_reference=getattr(model, "reference_", None) or dict(EMPTY_REFERENCE),
            evaluation_model=getattr(model, "evaluation_model_", None) or model,
        )


def _plain(value):
    """JSON for numpy scalars and dataclasses."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)
