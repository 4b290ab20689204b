"""Train, evaluate, track, register and (maybe) promote: the data scientist's one command.

:func:`fit_and_evaluate` is pure (frames in, model and numbers out, nothing written);
:func:`build_evidence` gathers what is known about the model (:class:`~resilience.learn.evidence.ModelEvidence`);
:func:`train_and_track` adds MLflow: params, datasets, metrics (per slice too), artifacts, plots,
the model with its evidence beside it, its registered version and the champion decision
(:mod:`resilience.governance.promotion`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from resilience import tracking
from resilience.core.progress import Stages
from resilience.core.weeks import iso_week, iso_weeks
from resilience.data.asof import check_training_extract
from resilience.data.contract import DataContract
from resilience.explain import explain, global_view
from resilience.explain.screen import ScreenConfig, screen_features
from resilience.governance.champion import PromotionDecision, Recipe
from resilience.governance.fairness import fairness_flags, group_calibration
from resilience.learn.evidence import ModelEvidence
from resilience.learn.metrics import (
    calibration_table,
    headline_metrics,
    oracle_metrics,
    plot_calibration,
    plot_precision_at_k,
    plot_roc,
    slice_metrics,
)
from resilience.learn.models import PersistenceModel
from resilience.learn.params import check_params
from resilience.learn.ranges import IntervalConfig, attach_intervals
from resilience.learn.segments import compare_with_single
from resilience.learn.split import SplitConfig, SplitSummary, split_by_line_and_time
from resilience.weekly import drift

log = logging.getLogger(__name__)
PROBABILITY = "persistence_probability"
SLICE_METRICS = {
    "roc_auc": "auc",
    "brier": "brier",
    "calibration_gap": "calibration_gap",
    "calibration_slope": "calibration_slope",
}


@dataclass(frozen=True)
class EvaluationConfig:
    """How a model is judged on its test period."""

    capacity_k: int = 10  # lines a force can act on each week
    min_slice_size: int = 50  # smaller slices are suppressed, not reported
    fairness_tolerance: float = 0.03  # calibration gap (predicted - observed) worth flagging; rationale in configs/train.yaml
    fairness_family_level: float = (
        0.025  # Bonferroni level across all groups: keeps any false flag on a fair model under 5%
    )
    n_bootstrap: int = 200  # resamples for 95% intervals
    n_bins: int = 10  # calibration bins
    seed: int = 0


@dataclass
class Evaluation:
    """A fitted model and everything measured about it on the held-out test period."""

    model: PersistenceModel
    split: SplitSummary
    metrics: dict
    slices: pd.DataFrame
    test_predictions: pd.DataFrame
    test_frame: pd.DataFrame
    timings: dict = field(default_factory=dict)
    train_frame: pd.DataFrame | None = None


def score_test_period(
    model: PersistenceModel, frame: pd.DataFrame, contract: DataContract, config: EvaluationConfig
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Metrics, per-row predictions and slice metrics of ``model`` on labelled rows ``frame``."""
    probability = model.persistence_probability(frame)
    y = frame[contract.label].astype(int).to_numpy()
    weeks = iso_weeks(frame[contract.date_column])
    metrics = headline_metrics(y, probability, weeks, config.capacity_k, config.n_bins)
    keep = [
        contract.id_column,
        contract.line_column,
        contract.date_column,
        *contract.slices,
        contract.label,
    ]
    predictions = frame[list(dict.fromkeys(keep))].copy()
    predictions[PROBABILITY] = probability
    slices = slice_metrics(
        predictions,
        list(contract.slices),
        contract.label,
        PROBABILITY,
        config.min_slice_size,
        config.n_bootstrap,
        config.seed,
    )
    return metrics, predictions, slices


def fit_and_evaluate(
    history: pd.DataFrame,
    contract: DataContract,
    model: PersistenceModel,
    split_config: SplitConfig,
    eval_config: EvaluationConfig,
    truth: pd.DataFrame | None = None,
    stages: Stages | None = None,
) -> Evaluation:
    """Split by line and time, fit on the training span, measure on the test period.

    The model's parameters are checked against the library's known parameters first: a typo is
    an error naming the nearest valid key, before any work is done.
    """
    check_params(model.family, model.params)
    stages = stages or Stages("train", enabled=False)
    timings = stages.timings
    with stages.stage("split", "split by line and time"):
        train_idx, test_idx, split = split_by_line_and_time(
            history, contract.date_column, contract.line_column, split_config
        )
        train, test = history.loc[train_idx], history.loc[test_idx]
    with stages.stage("fit", f"fit {model.family} on {len(train):,} training rows"):
        model.fit(train)
    with stages.stage("evaluate", f"evaluate on {len(test):,} test rows"):
        metrics, predictions, slices = score_test_period(model, test, contract, eval_config)
        if truth is not None:
            true_probability = predictions[[contract.id_column]].merge(
                truth, on=contract.id_column, how="left"
            )["true_probability"]
            if true_probability.notna().all():
                metrics.update(
                    oracle_metrics(
                        predictions[contract.label].astype(int), true_probability, metrics
                    )
                )
        metrics.update(getattr(model, "cv_scores_", {}) or {})
    return Evaluation(model, split, metrics, slices, predictions, test, timings, train)


def deployable(
    evaluation: Evaluation, history: pd.DataFrame, refit_on_all: bool
) -> PersistenceModel:
    """The model to register: by default the same recipe refitted on every labelled row.

    Under drift the most recent outcomes matter most, and the evaluated model never saw the last
    ``test_weeks + horizon`` weeks. The evaluated model travels in the evidence (not on the
    registered model), so the champion rule can re-score it on a period it did not train on.
    """
    if not refit_on_all:
        return evaluation.model
    return clone(evaluation.model).fit(history)


def fairness_table(
    evaluation: Evaluation, contract: DataContract, config: EvaluationConfig
) -> list[dict]:
    """Slice metrics (bootstrap intervals) with calibration in the large, slope and the fairness flag."""
    groups = group_calibration(
        evaluation.test_predictions,
        list(contract.slices),
        contract.label,
        PROBABILITY,
        config.min_slice_size,
    )
    slices = evaluation.slices
    if len(groups) and len(slices):
        extra = [c for c in groups.columns if c not in slices.columns or c in ("slice", "value")]
        slices = slices.merge(groups[extra], on=["slice", "value"], how="left")
    return fairness_flags(slices, config.fairness_tolerance, config.fairness_family_level)


def build_evidence(
    model: PersistenceModel,
    evaluation: Evaluation,
    history: pd.DataFrame,
    contract: DataContract,
    config: EvaluationConfig,
    recipe: Recipe | None = None,
):
    """What scoring, reports, model cards and the champion rule need to know about ``model``;
    returns the evidence and the registered model's explanation of the test period."""
    frame = evaluation.test_predictions
    by_cohort = {}
    if contract.cohort_column:
        for value, group in frame.groupby(contract.cohort_column, observed=True):
            if len(group) >= config.min_slice_size and group[contract.label].nunique() == 2:
                by_cohort[str(value)] = headline_metrics(
                    group[contract.label].astype(int),
                    group[PROBABILITY],
                    iso_weeks(group[contract.date_column]),
                    config.capacity_k,
                    config.n_bins,
                )
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
    )
    return evidence, explanation


def top_reason_shares(explanation) -> dict[str, float]:
    """Share of test-period lines whose largest contribution is each concept (explanation drift baseline)."""
    concepts = pd.Series(explanation.top_concepts)
    return {str(k): float(v) for k, v in concepts.value_counts(normalize=True).sort_index().items()}


def explanation_fidelity(explanation) -> dict:
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


def slice_metric_names(fairness: list[dict]) -> dict[str, float]:
    """Per-slice metrics under MLflow names such as ``auc.line_type.home_grown``."""
    out = {}
    for row in fairness:
        if row.get("suppressed"):
            continue
        value = re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(row["value"]))[:100]
        for column, short in SLICE_METRICS.items():
            number = row.get(column)
            if number is not None and np.isfinite(float(number)):
                out[f"{short}.{row['slice']}.{value}"] = float(number)
    return out


def display_run_name(
    recipe_name: str | None, family: str, contract: DataContract, history: pd.DataFrame
) -> str:
    """``lightgbm-default · default · 2026-W47``: recipe, data config and the data's last week."""
    last = pd.to_datetime(history[contract.date_column]).max()
    return f"{recipe_name or family + '-default'} · {contract.name} · {iso_week(last)}"


def _log_plots(evaluation: Evaluation, contract: DataContract, config: EvaluationConfig) -> None:
    frame = evaluation.test_predictions
    y, p = frame[contract.label].astype(int).to_numpy(), frame[PROBABILITY].to_numpy()
    tracking.log_figure(plot_roc(y, p, "ROC curve, test period"), "plots/roc.png")
    groups = {"all lines": (y, p)}
    if contract.cohort_column:
        for value, group in frame.groupby(contract.cohort_column, observed=True):
            if len(group) >= config.min_slice_size:
                groups[str(value)] = (
                    group[contract.label].astype(int).to_numpy(),
                    group[PROBABILITY].to_numpy(),
                )
    tracking.log_figure(
        plot_calibration(groups, "Calibration, test period"), "plots/calibration.png"
    )
    weeks = iso_weeks(frame[contract.date_column])
    tracking.log_figure(
        plot_precision_at_k(y, p, weeks, max_k=max(20, config.capacity_k * 3)),
        "plots/precision_at_k.png",
    )
    tracking.log_frame(calibration_table(y, p, config.n_bins), "tables/calibration.csv")


@dataclass
class TrainResult:
    evaluation: Evaluation
    run_id: str
    model_version: str | None
    promotion: PromotionDecision | None
    evidence: ModelEvidence | None = None
    churn: dict | None = None


CONTRACT_PARAMS = ("data.name", "data.contract_version", "data.horizon_weeks")


def _run_params(
    params: dict, refit_on_all: bool, evaluation: Evaluation, model: PersistenceModel
) -> dict:
    """Params for MLflow: the config without the data contract's hundreds of entries (the contract
    is one artifact, ``config/data_contract.json``), plus the split's result and the model's size."""
    kept = {k: v for k, v in params.items() if not k.startswith("data.") or k in CONTRACT_PARAMS}
    return {
        **kept,
        "refit_on_all": refit_on_all,
        **{f"split.result.{k}": v for k, v in evaluation.split.as_dict().items()},
        **{f"model.capacity.{k}": v for k, v in model.capacity().items()},
    }


def _log_run_contents(
    evaluation: Evaluation,
    evidence: ModelEvidence,
    explanation,
    contract: DataContract,
    eval_config: EvaluationConfig,
    params: dict,
    input_path,
    artifacts: dict | None,
) -> None:
    """Everything a run records except the model: params, datasets, metrics, tables, plots."""
    tracking.log_params(params)
    label = contract.label
    if evaluation.train_frame is not None:
        tracking.log_dataset(
            evaluation.train_frame, "training rows", "training", str(input_path), label
        )
    tracking.log_dataset(evaluation.test_frame, "test period", "test", str(input_path), label)
    tracking.log_metrics(dict(evaluation.metrics), prefix="test_")
    tracking.log_metrics(slice_metric_names(evidence.fairness))
    for name, text in (artifacts or {}).items():
        tracking.log_text(text, name)
    tracking.log_text(json.dumps(contract.to_dict(), indent=2), "config/data_contract.json")
    tracking.log_text(json.dumps(evaluation.split.as_dict(), indent=2), "split.json")
    tracking.log_frame(evaluation.slices, "tables/slice_metrics.csv")
    tracking.log_frame(pd.DataFrame(evidence.fairness), "tables/fairness.csv")
    tracking.log_text(
        json.dumps(explanation_fidelity(explanation), indent=2), "tables/explanation_fidelity.json"
    )
    world = Path(input_path).parent / "world.json"
    if world.is_file():  # the synthetic world's scenario parameters, for the model card
        tracking.log_text(world.read_text(), "data/world.json")
    tracking.log_frame(evaluation.test_predictions, "tables/test_predictions.csv")
    _log_plots(evaluation, contract, eval_config)
    for name, item in global_view(
        explanation
    ).items():  # the global SHAP view of the registered model
        if name.endswith(".png"):
            tracking.log_figure(item, name)
        else:
            tracking.log_frame(item, name)
    tracking.log_evidence(evidence)


def train_and_track(
    history: pd.DataFrame,
    contract: DataContract,
    model: PersistenceModel,
    split_config: SplitConfig,
    eval_config: EvaluationConfig,
    tracking_config: tracking.TrackingConfig,
    params: dict,
    input_path: str | Path,
    input_sha256: str,
    truth: pd.DataFrame | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    artifacts: dict[str, str] | None = None,
    refit_on_all: bool = True,
    governance: dict | None = None,
    experiment: str | None = None,
    progress: bool = True,
    screen: ScreenConfig | None = None,
    intervals: IntervalConfig | None = None,
    as_of: pd.Timestamp | None = None,
) -> TrainResult:
    """:func:`fit_and_evaluate`, then log everything to MLflow, register, and apply the champion rule.

    ``run_name`` names the recipe (the experiment), ``experiment`` is the experiment config chosen
    (None: the default recipe); only the production recipe competes for champion automatically.
    ``intervals`` (enabled): the registered model carries a bootstrap ensemble giving every line a
    range (:mod:`resilience.learn.ranges`); its widening and coverage are logged as ``test_interval_*``.
    ``as_of``: when the extract was taken; labels younger than the horizon, and history counts
    known only later, are refused (:mod:`resilience.data.asof`).
    """
    from resilience.governance.promotion import apply_champion_rule

    check_training_extract(history, contract, as_of, source=str(input_path))
    stages = Stages("train", enabled=progress)
    evaluation = fit_and_evaluate(
        history, contract, model, split_config, eval_config, truth, stages
    )
    evaluation.metrics.update(
        compare_with_single(evaluation, history, split_config, eval_config, truth)
    )  # segment models only
    if refit_on_all:
        with stages.stage("refit", f"refit on all {len(history):,} labelled rows"):
            model = deployable(evaluation, history, refit_on_all)
    model = screen_features(
        model, evaluation, history, screen, eval_config
    )  # a reason must be earned
    with stages.stage("intervals", "fit the ensemble that gives every line a range"):
        interval_coverage = (
            attach_intervals(model, evaluation, history, split_config, intervals, truth)
            if intervals is not None and intervals.enabled
            else pd.DataFrame()
        )
    recipe = Recipe.of(model, experiment)
    with stages.stage("explain", "explain the test period, fairness and drift reference"):
        evidence, explanation = build_evidence(
            model, evaluation, history, contract, eval_config, recipe
        )
    tags = {
        "git_commit": tracking.git_commit(),
        "data_sha256": input_sha256,
        "data_config": contract.name,
        "input": str(input_path),
        "model_family": model.family,
        "recipe": run_name or f"{model.family}-default",
    }
    name = display_run_name(run_name, model.family, contract, history)
    with tracking.start_run(
        tracking_config, run_name=name, parent_run_id=parent_run_id, tags=tags
    ) as run:
        with stages.stage("plots_and_logging", "log params, datasets, metrics, tables and plots"):
            _log_run_contents(
                evaluation,
                evidence,
                explanation,
                contract,
                eval_config,
                _run_params(params, refit_on_all, evaluation, model),
                input_path,
                artifacts,
            )
            if len(interval_coverage):
                tracking.log_frame(interval_coverage, "tables/interval_coverage.csv")
        register = tracking_config.registered_model_name if tracking_config.register else None
        with stages.stage("log_model", "log the model" + (" and register it" if register else "")):
            info = tracking.log_persistence_model(model, history.head(5), register)
        version = (
            str(info.registered_model_version)
            if register and info.registered_model_version
            else None
        )
        promotion, churn = None, None
        if version:
            from resilience.governance.card import publish

            with stages.stage("register_and_card", "champion rule and model card"):
                # the artifact digest is part of the version's identity: scoring loads only matching files
                tracking.record_digest(tracking_config.registered_model_name, version)
                promotion, churn = apply_champion_rule(
                    version,
                    model,
                    evidence,
                    recipe,
                    history,
                    contract,
                    tracking_config,
                    eval_config,
                )
                publish(tracking_config.registered_model_name, version, governance or {})
        tracking.log_metrics({f"seconds_{k}": v for k, v in evaluation.timings.items()})
    return TrainResult(evaluation, run.info.run_id, version, promotion, evidence, churn)
