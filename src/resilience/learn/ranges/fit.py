"""The training step of the ranges: fit the ensemble on the training span, widen it on the test
period, measure it, and hand the ensembles to the pipeline to attach to the registered model.

One ensemble is fitted per model that predicts rows (one for a single model, one per segment),
on the evaluated model's training rows, with the evaluated model as its reference; the test
period's labels set its extra spread (:func:`~resilience.learn.ranges.extra_spread.
estimate_extra_spread`), its test-period ranges are measured against a truth when one is given
(synthetic worlds), and the deployed model (refitted on every labelled row) ships with it: a
deployed line's range is the deployed estimate +- the members' error and the extra spread.
Refitting a second ensemble on every row would double the cost for a spread that is, if
anything, slightly narrower (more rows).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resilience.learn.evaluation import PROBABILITY, Evaluation, true_probabilities
from resilience.learn.ranges.draws import model_groups, shared_share
from resilience.learn.ranges.ensemble import (
    IntervalConfig,
    IntervalEnsemble,
    deviations,
    fit_ensemble,
    fit_spread_model,
)
from resilience.learn.ranges.extra_spread import coverage, estimate_extra_spread
from resilience.learn.ranges.incompleteness import fit_incompleteness_model, incompleteness_moves
from resilience.learn.ranges.table import interval_table
from resilience.learn.split import Split

log = logging.getLogger(__name__)
# a test period smaller than this: the spread model also learns from the training span
MIN_SPREAD_ROWS = 500


@dataclass
class RangeFit:
    """What the step gives the pipeline: the ensembles (by route of the model's
    :meth:`~resilience.learn.models.PersistenceModel.parts`), the ``interval_*`` test metrics, the
    test period's ranges (one row per test-period prediction) and, with a truth, the coverage table."""

    ensembles: dict[str, IntervalEnsemble]
    metrics: dict
    test_ranges: pd.DataFrame
    coverage: pd.DataFrame


def _slug(name: str) -> str:
    return name.replace(" ", "_")


def _fit_one(model, train: pd.DataFrame, held_out: pd.DataFrame, config: IntervalConfig):
    """One model's ensemble: fitted on its training rows, widened on its test-period rows, its
    members distilled into the spread model that ships; returns it and the estimated extra sd."""
    ensemble = fit_ensemble(model, train, config)
    held_out = held_out.reset_index(drop=True)
    X = model.prepare(held_out)
    errors = deviations(model, ensemble, X)  # the members' errors on the test period, used twice
    estimated = 0.0
    if config.widen == "held_out":
        estimated, ensemble.widen_details = estimate_extra_spread(
            model,
            held_out,
            X,
            errors,
            config.group_rows,
            config.max_extra_sd,
            config.extra_sd_prior,
        )
    ensemble.extra_sd = float(np.hypot(estimated, config.unobserved_sd))
    ensemble.shared_sd, ensemble.unobserved_sd = float(estimated), float(config.unobserved_sd)
    ensemble.refit_shared_share = shared_share(errors, model_groups(model, held_out, X))
    if len(held_out) < MIN_SPREAD_ROWS:  # a tiny test period: the training span's rows join it
        X_train = model.prepare(train.reset_index(drop=True))
        X = pd.concat([X_train, X], ignore_index=True)
        errors = np.hstack([deviations(model, ensemble, X_train), errors])
    ensemble.spread_model = fit_spread_model(model, X, errors, config.seed)
    ensemble.members, ensemble.reference = [], None  # the spread model carries what scoring needs
    return ensemble, estimated


def _incompleteness(model, train: pd.DataFrame, latest: pd.DataFrame | None, seed: int):
    """The record-incompleteness model of one model's training rows (None without their latest
    records: a model trained on final records only)."""
    if latest is None:
        return None
    train = train.reset_index(drop=True)
    moves = incompleteness_moves(model, train, latest, model.contract.id_column)
    return fit_incompleteness_model(model, model.prepare(train), moves, seed)


def fit_ranges(
    evaluation: Evaluation, split: Split, config: IntervalConfig, truth: pd.DataFrame | None = None
) -> RangeFit:
    """Fit, widen and measure the ranges of the evaluated model on ``split`` (see the module
    docstring); nothing is attached to any model: :func:`attach_ranges` does that."""
    evaluated, test = evaluation.model, evaluation.test_frame
    contract = evaluated.contract
    test_rows = evaluated.parts(test)
    metrics, widths, ensembles = {"interval_level": config.level}, [], {}
    for route, (model, rows) in evaluated.parts(split.train).items():
        held_out = test.iloc[test_rows[route][1]]
        ensemble, estimated = _fit_one(model, split.train.iloc[rows], held_out, config)
        ensemble.incompleteness_model = _incompleteness(
            model, split.train.iloc[rows], split.train_latest, config.seed
        )
        ensembles[route] = ensemble
        suffix = f"_{_slug(route)}" if route else ""
        metrics[f"interval_extra_sd{suffix}"] = ensemble.extra_sd
        for name in ("estimated_sd", "estimated_sd_low", "estimated_sd_high"):
            if name in ensemble.widen_details:
                metrics[f"interval_{name}{suffix}"] = ensemble.widen_details[name]
        widths.append((estimated, ensemble.extra_sd, len(held_out)))
    probability = evaluation.test_predictions[PROBABILITY].to_numpy(float)
    table = interval_table(evaluated, test, probability, ensembles)
    rows = max(sum(n for *_, n in widths), 1)
    metrics["interval_estimated_sd"] = float(sum(w * n for w, _, n in widths) / rows)
    metrics["interval_extra_sd"] = float(sum(w * n for _, w, n in widths) / rows)
    metrics["interval_unobserved_sd"] = config.unobserved_sd
    metrics["interval_median_width"] = float(
        np.median(table["probability_high"] - table["probability_low"])
    )
    metrics["interval_band_uncertain_share"] = float(table["band_uncertain"].mean())
    covered = pd.DataFrame()
    true_probability = true_probabilities(evaluation.test_predictions, truth, contract.id_column)
    if true_probability is not None:
        covered = coverage(
            table["probability_low"],
            table["probability_high"],
            true_probability,
            probability,
            config.level,
        )
        metrics.update(_coverage_metrics(covered))
    log.info("%s", range_summary(metrics))
    return RangeFit(ensembles, metrics, table, covered)


def range_summary(metrics: dict[str, float]) -> str:
    """The ranges' widening and measured coverage in one line, rounded as a reader compares them:
    ``intervals: extra log-odds sd 0.21 estimated + 0.30 assumed, coverage 0.57 of nominal 0.80``."""
    coverage = metrics.get("interval_coverage")
    measured = (
        f"coverage {coverage:.2f} of nominal {metrics['interval_level']:.2f}"
        if coverage is not None
        else "coverage not measured"
    )
    return (
        f"intervals: extra log-odds sd {metrics['interval_estimated_sd']:.2f} estimated + "
        f"{metrics['interval_unobserved_sd']:.2f} assumed, {measured}"
    )


def _coverage_metrics(covered: pd.DataFrame) -> dict[str, float]:
    """What a run records of the coverage table (:func:`coverage`): the coverage overall and per
    band, the widths beside a flat range's, and the interval score beside the best flat range's."""
    metrics = {}
    for row in covered.to_dict("records"):
        band = "" if row["band"] == "all" else f"_{_slug(row['band'])}"
        metrics[f"interval_coverage{band}"] = row["coverage"]
    overall = covered.set_index("band").loc["all"]
    metrics["interval_flat_width"] = float(overall["flat_width"])  # same coverage, one width
    metrics["interval_width_to_flat"] = float(overall["median_width"] / overall["flat_width"])
    metrics["interval_mean_width"] = float(overall["mean_width"])
    # the test of saying more than a flat range: the mean interval score against the best flat
    # range's (below 1: better than any flat width, even one chosen knowing the truth)
    metrics["interval_score"] = float(overall["interval_score"])
    metrics["interval_flat_score"] = float(overall["flat_interval_score"])
    metrics["interval_score_to_flat"] = float(
        overall["interval_score"] / overall["flat_interval_score"]
    )
    return metrics


def attach_ranges(model, ensembles: dict[str, IntervalEnsemble]):
    """``model`` (each model it routes rows to) carrying its ensemble; returns ``model``."""
    for route, part in model.submodels().items():
        part.interval_ensemble_ = ensembles[route]
    return model
