"""Train, evaluate, track, register and (maybe) promote: the data scientist's one command.

:func:`fit_and_evaluate` is pure (frames in, model and numbers out, nothing written);
:func:`train_and_track` adds MLflow: params, artifacts, plots, the model, its registered version
and the champion decision.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn.base import clone

from resilience import drift, evaluate, tracking
from resilience.data.contract import DataContract
from resilience.explain import explain, global_view
from resilience.models import PersistenceModel
from resilience.split import SplitConfig, SplitSummary, split_by_line_and_time
from resilience.weeks import iso_weeks

log = logging.getLogger(__name__)
PROBABILITY = "persistence_probability"


@dataclass(frozen=True)
class EvaluationConfig:
    """How a model is judged on its test period."""

    capacity_k: int = 10          # lines a force can act on each week
    min_slice_size: int = 50      # smaller slices are suppressed, not reported
    fairness_tolerance: float = 0.05  # calibration gap (predicted - observed) beyond which a slice is flagged
    n_bootstrap: int = 200        # resamples for 95% intervals
    n_bins: int = 10              # calibration bins
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


def score_test_period(model: PersistenceModel, frame: pd.DataFrame, contract: DataContract,
                      config: EvaluationConfig) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Metrics, per-row predictions and slice metrics of ``model`` on labelled rows ``frame``."""
    probability = model.persistence_probability(frame)
    y = frame[contract.label].astype(int).to_numpy()
    weeks = iso_weeks(frame[contract.date_column])
    metrics = evaluate.metrics(y, probability, weeks, config.capacity_k, config.n_bins)
    keep = [contract.id_column, contract.line_column, contract.date_column, *contract.slices, contract.label]
    predictions = frame[list(dict.fromkeys(keep))].copy()
    predictions[PROBABILITY] = probability
    slices = evaluate.slice_metrics(predictions, list(contract.slices), contract.label, PROBABILITY,
                                    config.min_slice_size, config.n_bootstrap, config.seed)
    return metrics, predictions, slices


def fit_and_evaluate(history: pd.DataFrame, contract: DataContract, model: PersistenceModel,
                     split_config: SplitConfig, eval_config: EvaluationConfig,
                     truth: pd.DataFrame | None = None) -> Evaluation:
    """Split by line and time, fit on the training span, measure on the test period."""
    timings = {}
    start = time.perf_counter()
    train_idx, test_idx, split = split_by_line_and_time(history, contract.date_column, contract.line_column, split_config)
    train, test = history.loc[train_idx], history.loc[test_idx]
    timings["split"] = time.perf_counter() - start

    start = time.perf_counter()
    model.fit(train)
    model.split_summary_ = split
    timings["fit"] = time.perf_counter() - start

    start = time.perf_counter()
    metrics, predictions, slices = score_test_period(model, test, contract, eval_config)
    if truth is not None:
        true_probability = predictions[[contract.id_column]].merge(truth, on=contract.id_column, how="left")["true_probability"]
        if true_probability.notna().all():
            metrics.update(evaluate.oracle_metrics(predictions[contract.label].astype(int), true_probability, metrics))
    cv = getattr(model, "cv_scores_", {}) or {}
    metrics.update(cv)
    timings["evaluate"] = time.perf_counter() - start
    return Evaluation(model, split, metrics, slices, predictions, test, timings)


def deployable(evaluation: Evaluation, history: pd.DataFrame, refit_on_all: bool) -> PersistenceModel:
    """The model to register: by default the same recipe refitted on every labelled row.

    Under drift the most recent outcomes matter most, and the evaluated model never saw the last
    ``test_weeks + horizon`` weeks. The refit carries the evaluated model as
    ``evaluation_model_`` (and its split) so the champion rule can re-score both on a period
    neither evaluated model trained on; the metrics reported are the evaluated model's.
    """
    evaluated = evaluation.model
    evaluated.evaluation_model_ = None
    if not refit_on_all:
        evaluated.evaluation_model_ = evaluated
        return evaluated
    start = time.perf_counter()
    deployed = clone(evaluated).fit(history)
    deployed.split_summary_ = evaluation.split
    deployed.evaluation_model_ = evaluated
    evaluation.timings["refit"] = time.perf_counter() - start
    return deployed


def fairness_flags(slices: pd.DataFrame, tolerance: float, family_level: float = 0.05) -> list[dict]:
    """Slice rows with a verdict: ``over-predicts`` / ``under-predicts`` when the calibration gap
    (predicted minus observed rate) exceeds ``tolerance`` and its interval excludes zero.

    Comparing twelve areas at 95% each would flag one in two fair worlds, so the interval is
    widened for the number of groups compared in each slice (Bonferroni, using the bootstrap
    standard error): the chance of any false flag per slice stays at ``family_level``.
    Suppressed slices stay suppressed.
    """
    from scipy.stats import norm

    flagged = []
    shown = slices[~slices["suppressed"].astype(bool)] if "suppressed" in slices else slices
    groups = shown.groupby("slice").size().to_dict() if len(shown) else {}
    for row in slices.to_dict("records"):
        row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        if row.get("suppressed"):
            row["flag"] = "suppressed"
            flagged.append(row)
            continue
        gap, low, high = row["calibration_gap"], row["calibration_gap_low"], row["calibration_gap_high"]
        z = norm.ppf(1 - family_level / (2 * max(groups.get(row["slice"], 1), 1)))
        se = (high - low) / (2 * norm.ppf(0.975)) if low is not None and high is not None else None
        row["flag_interval_low"] = gap - z * se if se else None
        row["flag_interval_high"] = gap + z * se if se else None
        excludes_zero = se is not None and (row["flag_interval_low"] > 0 or row["flag_interval_high"] < 0)
        if abs(gap) > tolerance and excludes_zero:
            row["flag"] = "over-predicts" if gap > 0 else "under-predicts"
        else:
            row["flag"] = "ok"
        flagged.append(row)
    return flagged


def attach_evaluation(model: PersistenceModel, evaluation: Evaluation, history: pd.DataFrame,
                      contract: DataContract, config: EvaluationConfig):
    """Store on the model what scoring, reports and model cards need to say about it; returns the
    registered model's explanation of the test period (for the global view)."""
    frame = evaluation.test_predictions
    model.test_metrics_ = dict(evaluation.metrics)
    model.test_metrics_by_cohort_ = {}
    if contract.cohort_column:
        for value, group in frame.groupby(contract.cohort_column, observed=True):
            if len(group) >= config.min_slice_size and group[contract.label].nunique() == 2:
                model.test_metrics_by_cohort_[str(value)] = evaluate.metrics(
                    group[contract.label].astype(int), group[PROBABILITY], iso_weeks(group[contract.date_column]),
                    config.capacity_k, config.n_bins)
    model.calibration_table_ = evaluate.calibration_table(
        frame[contract.label].astype(int), frame[PROBABILITY], config.n_bins).to_dict("records")
    model.fairness_ = fairness_flags(evaluation.slices, config.fairness_tolerance)
    explanation = explain(model, evaluation.test_frame)
    labels = {name: contract.describe(name) for name in model.feature_names_}
    # Drift is judged against the most recent labelled span (the test-period window), not all
    # history: a world with trends would otherwise flag every new week.
    recent = history[pd.to_datetime(history[contract.date_column]) >= pd.Timestamp(evaluation.split.test_start)]
    model.reference_ = drift.build_reference(
        recent, list(model.feature_names_), list(model.feature_space_.categorical), labels,
        top_reason_shares=top_reason_shares(explanation))
    return explanation


def top_reason_shares(explanation) -> dict[str, float]:
    """Share of test-period lines whose largest contribution is each concept (explanation drift baseline)."""
    concepts = pd.Series(explanation.top_concepts)
    return {str(k): float(v) for k, v in concepts.value_counts(normalize=True).sort_index().items()}


def _log_plots(evaluation: Evaluation, contract: DataContract, config: EvaluationConfig) -> None:
    frame = evaluation.test_predictions
    y, p = frame[contract.label].astype(int).to_numpy(), frame[PROBABILITY].to_numpy()
    tracking.log_figure(evaluate.plot_roc(y, p, "ROC curve, test period"), "plots/roc.png")
    groups = {"all lines": (y, p)}
    if contract.cohort_column:
        for value, group in frame.groupby(contract.cohort_column, observed=True):
            if len(group) >= config.min_slice_size:
                groups[str(value)] = (group[contract.label].astype(int).to_numpy(), group[PROBABILITY].to_numpy())
    tracking.log_figure(evaluate.plot_calibration(groups, "Calibration, test period"), "plots/calibration.png")
    weeks = iso_weeks(frame[contract.date_column])
    tracking.log_figure(evaluate.plot_precision_at_k(y, p, weeks, max_k=max(20, config.capacity_k * 3)), "plots/precision_at_k.png")
    tracking.log_frame(evaluate.calibration_table(y, p, config.n_bins), "tables/calibration.csv")


def rescore_for_promotion(challenger: PersistenceModel, champion: PersistenceModel, history: pd.DataFrame,
                          contract: DataContract, config: EvaluationConfig) -> tuple[dict, dict, str] | str:
    """Metrics of both models on a period neither trained on, or the reason there is none."""
    if champion.contract.to_dict()["columns"] != contract.to_dict()["columns"]:
        return "the champion was trained on a different data contract; compare them by hand"
    challenger = getattr(challenger, "evaluation_model_", None) or challenger
    champion = getattr(champion, "evaluation_model_", None) or champion
    ch_split, cp_split = challenger.split_summary_, champion.split_summary_
    dates = pd.to_datetime(history[contract.date_column])
    candidates = [
        ("the champion's test period", cp_split.test_start, cp_split.test_end),
        ("the challenger's test period", ch_split.test_start, ch_split.test_end),
    ]
    for name, start, end in candidates:
        unseen = pd.Timestamp(start) > pd.Timestamp(ch_split.train_end) and pd.Timestamp(start) > pd.Timestamp(cp_split.train_end)
        rows = history[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
        if unseen and len(rows) >= 50 and rows[contract.label].nunique() == 2:
            period = f"{name} ({start} to {end}, {len(rows)} disruptions)"
            ch_metrics, _, _ = score_test_period(challenger, rows, contract, config)
            cp_metrics, _, _ = score_test_period(champion, rows, contract, config)
            return ch_metrics, cp_metrics, period
    return "no labelled period in this extract is unseen by both models"


@dataclass
class TrainResult:
    evaluation: Evaluation
    run_id: str
    model_version: str | None
    promotion: tracking.PromotionDecision | None


def train_and_track(history: pd.DataFrame, contract: DataContract, model: PersistenceModel,
                    split_config: SplitConfig, eval_config: EvaluationConfig,
                    tracking_config: tracking.TrackingConfig, params: dict, input_path: str | Path,
                    input_sha256: str, truth: pd.DataFrame | None = None, run_name: str | None = None,
                    parent_run_id: str | None = None, artifacts: dict[str, str] | None = None,
                    refit_on_all: bool = True, governance: dict | None = None) -> TrainResult:
    """:func:`fit_and_evaluate`, then log everything to MLflow, register, and apply the champion rule."""
    evaluation = fit_and_evaluate(history, contract, model, split_config, eval_config, truth)
    model = deployable(evaluation, history, refit_on_all)
    start = time.perf_counter()
    explanation = attach_evaluation(model, evaluation, history, contract, eval_config)
    evaluation.timings["explain"] = time.perf_counter() - start
    start = time.perf_counter()
    tags = {"git_commit": tracking.git_commit(), "data_sha256": input_sha256, "data_config": contract.name,
            "input": str(input_path), "model_family": model.family}
    with tracking.start_run(tracking_config, run_name=run_name, parent_run_id=parent_run_id, tags=tags) as run:
        tracking.log_params({**params, "refit_on_all": refit_on_all,
                             **{f"split.result.{k}": v for k, v in evaluation.split.as_dict().items()},
                             **{f"model.capacity.{k}": v for k, v in model.capacity().items()}})
        tracking.log_metrics({k: v for k, v in evaluation.metrics.items()}, prefix="test_")
        for name, text in (artifacts or {}).items():
            tracking.log_text(text, name)
        tracking.log_text(json.dumps(contract.to_dict(), indent=2), "config/data_contract.json")
        tracking.log_text(json.dumps(evaluation.split.as_dict(), indent=2), "split.json")
        tracking.log_frame(evaluation.slices, "tables/slice_metrics.csv")
        tracking.log_frame(pd.DataFrame(model.fairness_), "tables/fairness.csv")
        world = Path(input_path).parent / "world.json"
        if world.is_file():  # the synthetic world's scenario parameters, for the model card
            tracking.log_text(world.read_text(), "data/world.json")
        tracking.log_frame(evaluation.test_predictions, "tables/test_predictions.csv")
        _log_plots(evaluation, contract, eval_config)
        for name, item in global_view(explanation).items():  # the global SHAP view of the registered model
            if name.endswith(".png"):
                tracking.log_figure(item, name)
            else:
                tracking.log_frame(item, name)
        evaluation.timings["plots_and_logging"] = time.perf_counter() - start
        start = time.perf_counter()
        info = tracking.log_persistence_model(model, history.head(5), tracking_config.registered_model_name if tracking_config.register else None)
        evaluation.timings["log_model"] = time.perf_counter() - start
        start = time.perf_counter()
        version = str(info.registered_model_version) if tracking_config.register and info.registered_model_version else None
        promotion = None
        if version:
            from resilience.governance.card import publish

            # the artifact digest is part of the version's identity: scoring loads only matching files
            tracking.record_digest(tracking_config.registered_model_name, version)
            promotion = promote_if_better(version, model, history, contract, tracking_config, eval_config)
            publish(tracking_config.registered_model_name, version, governance or {})
        evaluation.timings["register_and_card"] = time.perf_counter() - start
        tracking.log_metrics({f"seconds_{k}": v for k, v in evaluation.timings.items()})
    return TrainResult(evaluation, run.info.run_id, version, promotion)


def promote_if_better(version: str, model: PersistenceModel, history: pd.DataFrame, contract: DataContract,
                      tracking_config: tracking.TrackingConfig, eval_config: EvaluationConfig) -> tracking.PromotionDecision:
    """Give the new version alias ``challenger``; make it ``champion`` if the rule says so."""
    name = tracking_config.registered_model_name
    tracking.set_alias(name, tracking.CHALLENGER, version)
    current = tracking.champion_version(name)
    if current is None:
        decision = tracking.decide_promotion({}, None, tracking_config)
    else:
        champion, _ = tracking.load_persistence_model(f"models:/{name}/{current.version}")
        outcome = rescore_for_promotion(model, champion, history, contract, eval_config)
        if isinstance(outcome, str):
            decision = tracking.PromotionDecision(False, f"kept version {current.version} as champion: {outcome}", {})
        else:
            ch_metrics, cp_metrics, period = outcome
            decision = tracking.decide_promotion(ch_metrics, cp_metrics, tracking_config, period)
        decision.numbers["compared_with_version"] = current.version
    if decision.promote:
        tracking.record_champion(name, version)
    tracking.tag_version(name, version, decision.as_tags())
    log.info("model version %s: %s", version, decision.reason)
    return decision

