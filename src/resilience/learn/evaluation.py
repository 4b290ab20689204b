"""The fit-and-evaluate step: fit on the training span, measure on the held-out test period.

:func:`fit_and_evaluate` is pure (a split in, a model and numbers out, nothing written);
:func:`deployable` refits the recipe on every labelled row; :func:`compare_with` measures another
recipe on the same split (a run with segment models compares the single model this way).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd
from sklearn.base import clone

from resilience.core.progress import Stages
from resilience.core.weeks import iso_weeks
from resilience.data.contract import DataContract
from resilience.learn.metrics import headline_metrics, oracle_metrics, slice_metrics
from resilience.learn.params import check_params
from resilience.learn.split import Split, SplitSummary

log = logging.getLogger(__name__)
PROBABILITY = "persistence_probability"


@dataclass(frozen=True)
class EvaluationConfig:
    """How a model is judged on its test period."""

    capacity_k: int = 10  # lines a force can act on each week
    min_slice_size: int = 50  # smaller slices are suppressed, not reported
    # calibration gap (predicted - observed) worth flagging; rationale in configs/evaluation/default.yaml
    fairness_tolerance: float = 0.03
    # Bonferroni level across every group but the pre-declared cohort's
    fairness_family_level: float = 0.025
    # the pre-declared cohort's own level (Bonferroni over its values only): with the above, any
    # false flag on a model fair to every group stays under 5%
    fairness_cohort_level: float = 0.02
    n_bootstrap: int = 200  # resamples for 95% intervals
    n_bins: int = 10  # calibration bins
    seed: int = 0


@dataclass
class Evaluation:
    """A fitted model and everything measured about it on the held-out test period."""

    model: object  # a PersistenceModel or a SegmentModel
    split: SplitSummary
    metrics: dict
    slices: pd.DataFrame
    test_predictions: pd.DataFrame
    test_frame: pd.DataFrame
    timings: dict = field(default_factory=dict)
    train_frame: pd.DataFrame | None = None


def true_probabilities(
    predictions: pd.DataFrame, truth: pd.DataFrame | None, id_column: str
) -> pd.Series | None:
    """The synthetic world's true probability of every predicted row (in their order), or None when
    there is no truth or a row has none (evaluation only: never trained on)."""
    if truth is None:
        return None
    found = predictions[[id_column]].merge(truth, on=id_column, how="left")["true_probability"]
    return found if found.notna().all() else None


def score_test_period(
    model, frame: pd.DataFrame, contract: DataContract, config: EvaluationConfig
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


def _scored(
    model, split: Split, contract, config, truth
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """:func:`score_test_period` on the split's test period, with the oracle's metrics when a truth
    covers it."""
    metrics, predictions, slices = score_test_period(model, split.test, contract, config)
    true_probability = true_probabilities(predictions, truth, contract.id_column)
    if true_probability is not None:
        metrics.update(
            oracle_metrics(predictions[contract.label].astype(int), true_probability, metrics)
        )
    return metrics, predictions, slices


def fit_and_evaluate(
    split: Split,
    contract: DataContract,
    model,
    eval_config: EvaluationConfig,
    truth: pd.DataFrame | None = None,
    stages: Stages | None = None,
) -> Evaluation:
    """Fit on the split's training span, measure on its test period.

    The model's parameters are checked against the library's known parameters first: a typo is
    an error naming the nearest valid key, before any work is done.
    """
    check_params(model.family, model.params)
    stages = stages or Stages("train", enabled=False)
    with stages.stage("fit", f"fit {model.family} on {len(split.train):,} training rows"):
        model.fit(split.train)
    with stages.stage("evaluate", f"evaluate on {len(split.test):,} test rows"):
        metrics, predictions, slices = _scored(model, split, contract, eval_config, truth)
        metrics.update(model.cv_scores_)
    return Evaluation(
        model, split.summary, metrics, slices, predictions, split.test, stages.timings, split.train
    )


def deployable(evaluation: Evaluation, history: pd.DataFrame, refit_on_all: bool):
    """The model to register: by default the same recipe refitted on every labelled row.

    Under drift the most recent outcomes matter most, and the evaluated model never saw the last
    ``test_weeks + horizon`` weeks. The evaluated model travels in the evidence (not on the
    registered model), so the champion rule can re-score it on a period it did not train on.
    """
    if not refit_on_all:
        return evaluation.model
    return clone(evaluation.model).fit(history)


def compare_with(
    recipe,
    evaluation: Evaluation,
    split: Split,
    eval_config: EvaluationConfig,
    truth: pd.DataFrame | None = None,
) -> dict:
    """Test metrics of another ``recipe`` fitted on the same split, as ``single_<metric>``, and the
    evaluated model's difference ``segments_minus_single_<metric>`` for AUC, Brier and calibration
    error (a run with segment models compares the single model this way)."""
    contract = recipe.contract
    single = clone(recipe).fit(split.train)
    metrics, _, _ = _scored(single, split, contract, eval_config, truth)
    out = {f"single_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}
    for key in ("roc_auc", "brier", "ece"):
        if key in metrics and key in evaluation.metrics:
            out[f"segments_minus_single_{key}"] = float(evaluation.metrics[key] - metrics[key])
    log.info(
        "segment models vs single model on the test period: AUC %.4f vs %.4f",
        evaluation.metrics.get("roc_auc", float("nan")),
        metrics.get("roc_auc", float("nan")),
    )
    return out
