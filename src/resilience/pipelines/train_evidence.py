"""The evidence a trained model carries: the fairness table (slice metrics with calibration in
the large, slope and the flag), metrics by cohort and by record age, the drift reference and the
explanation of the test period (what scoring, reports, cards and the champion rule read)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.core.weeks import iso_weeks
from resilience.data.contract import DataContract
from resilience.explain import Explanation, explain
from resilience.governance.champion import Recipe
from resilience.governance.fairness import (
    fairness_flags,
    group_calibration,
    verify_detectable_gaps,
)
from resilience.learn.evaluation import (
    PROBABILITY,
    Evaluation,
    EvaluationConfig,
)
from resilience.learn.evidence import ModelEvidence
from resilience.learn.metrics import (
    calibration_table,
    cohort_groups,
    headline_metrics,
    reportable,
)
from resilience.weekly import drift


def fairness_table(
    evaluation: Evaluation, contract: DataContract, config: EvaluationConfig
) -> list[dict]:
    """Slice metrics (bootstrap intervals) with calibration in the large, slope, the fairness flag
    with the interval it used and the gap it could detect (verified by simulation)."""
    frame = evaluation.test_predictions
    groups = group_calibration(
        frame, list(contract.slices), contract.label, PROBABILITY, config.min_slice_size
    )
    slices = evaluation.slices
    if len(groups) and len(slices):
        extra = [c for c in groups.columns if c not in slices.columns or c in ("slice", "value")]
        slices = slices.merge(groups[extra], on=["slice", "value"], how="left")
    flags = fairness_flags(
        slices,
        config.fairness_tolerance,
        config.fairness_family_level,
        contract.cohort_column if contract.cohort_column in contract.slices else None,
        config.fairness_cohort_level,
    )
    return verify_detectable_gaps(
        flags, frame, contract.label, PROBABILITY, config.min_slice_size, config.seed
    )


def build_evidence(
    model,
    evaluation: Evaluation,
    history: pd.DataFrame,
    contract: DataContract,
    config: EvaluationConfig,
    recipe: Recipe | None = None,
    by_age: pd.DataFrame | None = None,
) -> tuple[ModelEvidence, Explanation]:
    """What scoring, reports, model cards and the champion rule need to know about ``model``;
    returns the evidence and the registered model's explanation of the test period. ``history``:
    the labelled rows as scoring meets them (records as they stood, one per disruption, when
    snapshots were used), whose test-period span is the drift reference; ``by_age``: the test
    period by record age (:mod:`resilience.learn.by_age`)."""
    frame = evaluation.test_predictions
    by_cohort = {
        value: headline_metrics(
            group[contract.label].astype(int),
            group[PROBABILITY],
            iso_weeks(group[contract.date_column]),
            config.capacity_k,
            config.n_bins,
        )
        for value, group in cohort_groups(frame, contract.cohort_column)
        if reportable(group[contract.label].astype(int), config.min_slice_size)
    }
    explanation = explain(model, evaluation.test_frame)
    labels = {name: contract.describe(name) for name in model.feature_names_}
    # Drift is judged against the most recent labelled span (the test-period window), not all
    # history: a world with trends would otherwise flag every new week.
    recent = history[
        pd.to_datetime(history[contract.date_column]) >= pd.Timestamp(evaluation.split.test_start)
    ]
    reference = drift.build_reference(
        recent,
        list(model.feature_names_),
        list(model.categorical_features_),
        labels,
        top_reason_shares=top_reason_shares(explanation),
        top_reason_rows=len(explanation),
        ageing=[name for name in model.feature_names_ if contract.column(name).ageing],
    )
    evidence = ModelEvidence(
        family=model.family,
        split=evaluation.split.as_dict(),
        test_metrics=dict(evaluation.metrics),
        test_metrics_by_cohort=by_cohort,
        calibration_table=calibration_table(
            frame[contract.label].astype(int), frame[PROBABILITY], config.n_bins
        ).to_dict("records"),
        fairness=fairness_table(evaluation, contract, config),
        drift_reference=reference,
        recipe=(recipe or Recipe.of(model)).as_dict(),
        evaluation_model=evaluation.model if evaluation.model is not model else None,
        refit_on_all=evaluation.model is not model,
        by_record_age=[] if by_age is None else by_age.to_dict("records"),
        cohort_drift=carried_drift(model),
    )
    return evidence, explanation


def carried_drift(model) -> dict:
    """The drift between cohorts the model's calibrator carries to the date it serves from (what
    the briefing names as an assumption); {} when it carries none (or has no such calibrator)."""
    cohorts = getattr(getattr(model, "calibrator_", None), "cohorts_", None)
    return {} if cohorts is None else cohorts.carried_drift()


def top_reason_shares(explanation: Explanation) -> dict[str, float]:
    """Share of test-period lines whose largest contribution is each concept (explanation drift baseline)."""
    concepts = pd.Series(explanation.top_concepts)
    return {str(k): float(v) for k, v in concepts.value_counts(normalize=True).sort_index().items()}


def explanation_fidelity(explanation: Explanation) -> dict:
    """Evidence that the explanations are exact: on every test-period row, the contributions add
    up to the model's log-odds and the points to the probability's distance from the baseline."""
    contributions = explanation.contributions.to_numpy(float)
    additivity = np.abs(explanation.base_log_odds + contributions.sum(axis=1) - explanation.margin)
    points = explanation.points.to_numpy(float).sum(axis=1)
    target = 100 * (np.asarray(explanation.probability, float) - explanation.baseline_probability)
    return {
        "rows_checked": int(len(explanation)),
        "method": "exact SHAP (LightGBM pred_contrib / linear), checked row by row",
        "max_additivity_error_log_odds": float(additivity.max()) if len(additivity) else 0.0,
        "max_points_error": float(np.abs(points - target).max()) if len(points) else 0.0,
    }
