"""Segment models: a model per line type behind one pyfunc, explained, scored and compared like one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from resilience.core.errors import ConfigError, ResilienceError
from resilience.explain import explain
from resilience.learn import ranges as iv
from resilience.learn.evaluation import EvaluationConfig, compare_with, fit_and_evaluate
from resilience.learn.models import PersistenceModel
from resilience.learn.segments import SegmentModel, maybe_segmented, segment_column
from resilience.learn.split import SplitConfig, split_history
from resilience.tracking.pyfunc import ResiliencePyfunc

FAST = {"n_estimators": 300, "learning_rate": 0.08}


@pytest.fixture(scope="module")
def segmented(small_history, contract):
    return SegmentModel(PersistenceModel(contract, params=FAST), segment_by="cohort").fit(
        small_history
    )


def test_each_row_is_scored_by_its_own_segment(segmented, small_history, contract):
    assert set(segmented.segments_) == {"imported", "home_grown"}
    rows = small_history.tail(300)
    p = segmented.persistence_probability(rows)
    for value, model in segmented.segments_.items():
        mask = (rows[contract.cohort_column].astype(str) == value).to_numpy()
        assert mask.any()
        np.testing.assert_allclose(p[mask], model.persistence_probability(rows[mask]))
    assert segmented.capacity()["segments"] == 2


def test_segment_explanations_are_exact_per_row(segmented, small_history, contract):
    rows = small_history.tail(300).reset_index(drop=True)
    explanation = explain(segmented, rows)
    assert list(explanation.ids) == list(rows[contract.id_column])
    np.testing.assert_allclose(explanation.probability, segmented.persistence_probability(rows))
    margin = explanation.base_log_odds + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(margin, explanation.margin, atol=1e-6)
    points = explanation.baseline_probability + explanation.points.sum(axis=1).to_numpy() / 100
    np.testing.assert_allclose(points, explanation.probability, atol=1e-9)
    # a home-grown row's explanation is the home-grown model's own
    row = int(np.flatnonzero(rows[contract.cohort_column].astype(str) == "home_grown")[0])
    own = explain(segmented.segments_["home_grown"], rows.iloc[[row]])
    np.testing.assert_allclose(
        explanation.contributions.iloc[row].to_numpy(), own.contributions.iloc[0].to_numpy()
    )
    assert explanation.reasons["reason_for_1"].str.len().gt(0).any()
    assert all(isinstance(s, str) and s for s in explanation.summary)


def test_segment_models_get_ranges_and_are_compared_with_the_single_model(
    small_history, small_world, contract
):
    truth = small_world.truth[["disruption_id", "true_probability"]]
    recipe = PersistenceModel(contract, params=FAST)
    model = SegmentModel(recipe, segment_by="cohort")
    split = split_history(small_history, contract, SplitConfig())
    evaluation = fit_and_evaluate(split, contract, model, EvaluationConfig(n_bootstrap=20), truth)
    compared = compare_with(recipe, evaluation, split, EvaluationConfig(n_bootstrap=20), truth)
    for key in ("single_roc_auc", "single_brier", "single_ece", "segments_minus_single_roc_auc"):
        assert key in compared
    assert compared["segments_minus_single_roc_auc"] == pytest.approx(
        evaluation.metrics["roc_auc"] - compared["single_roc_auc"]
    )
    ranges = iv.fit_ranges(evaluation, split, iv.IntervalConfig(n_models=4), truth)
    assert set(ranges.ensembles) == {"imported", "home_grown"}
    assert (
        "interval_extra_sd_home_grown" in ranges.metrics and "interval_coverage" in ranges.metrics
    )
    assert evaluation.model.segments_["home_grown"].interval_ensemble_ is None, (
        "nothing attached yet"
    )
    iv.attach_ranges(evaluation.model, ranges.ensembles)
    week = small_world.weekly[sorted(small_world.weekly)[-1]]
    out = ResiliencePyfunc(evaluation.model).predict(None, week)
    assert (out["probability_low"] <= out["persistence_probability"]).all()
    assert (out["persistence_probability"] <= out["probability_high"]).all()
    assert out["band_uncertain"].dtype == bool


def test_a_single_model_is_not_compared(small_history, contract):
    from resilience.core.progress import Stages
    from resilience.pipelines.train import TrainingData, TrainSettings, train

    data = TrainingData(small_history, contract, "history.parquet", "0" * 64)
    settings = TrainSettings(evaluation=EvaluationConfig(n_bootstrap=20), refit_on_all=False)
    trained = train(
        data, PersistenceModel(contract, params=FAST), settings, Stages("t", enabled=False)
    )
    assert not [k for k in trained.evaluation.metrics if "single" in k]


def test_segment_settings_are_checked(contract):
    assert segment_column(contract, "cohort") == contract.cohort_column
    assert segment_column(contract, None) is None
    assert isinstance(maybe_segmented(PersistenceModel(contract), "cohort"), SegmentModel)
    assert isinstance(maybe_segmented(PersistenceModel(contract), None), PersistenceModel)
    with pytest.raises(ConfigError, match="categorical"):
        segment_column(contract, "contacts")


def test_a_segment_too_small_is_refused_and_unknown_values_too(segmented, small_history, contract):
    few = pd.concat(
        [
            small_history[small_history["line_type"] == "imported"],
            small_history[small_history["line_type"] == "home_grown"].head(20),
        ]
    )
    with pytest.raises(ResilienceError, match="home_grown"):
        SegmentModel(PersistenceModel(contract, params=FAST)).fit(few)
    odd = small_history.head(3).copy()
    odd["line_type"] = odd["line_type"].astype(object)
    odd.loc[odd.index[0], "line_type"] = "franchise"
    with pytest.raises(ResilienceError, match="franchise"):
        segmented.persistence_probability(odd)


@pytest.mark.slow
def test_segment_model_registers_and_round_trips_through_the_pyfunc(
    small_history, small_world, contract, mlflow_uri
):
    import mlflow

    from resilience.data.io import file_sha256  # noqa: F401 (import check only)
    from resilience.pipelines.train import TrainingData, TrainSettings, train_and_track
    from resilience.tracking.store import TrackingConfig
    from resilience.tracking.vetting import load_persistence_model

    truth = small_world.truth[["disruption_id", "true_probability"]]
    settings = TrainSettings(
        evaluation=EvaluationConfig(n_bootstrap=20),
        tracking=TrackingConfig(tracking_uri=mlflow_uri),
        intervals=iv.IntervalConfig(n_models=3),
        segment_by="cohort",
    )
    result = train_and_track(
        TrainingData(small_history, contract, "history.parquet", "0" * 64, truth=truth),
        PersistenceModel(contract, params=FAST),
        settings,
    )
    run = mlflow.get_run(result.run_id)
    for key in (
        "test_roc_auc",
        "test_single_roc_auc",
        "test_segments_minus_single_roc_auc",
        "test_interval_extra_sd",
    ):
        assert key in run.data.metrics
    loaded, _ = load_persistence_model(f"models:/line-resilience/{result.model_version}")
    assert isinstance(loaded, SegmentModel)
    week = small_world.weekly[sorted(small_world.weekly)[-1]]
    pyfunc = mlflow.pyfunc.load_model(f"models:/line-resilience/{result.model_version}")
    out = pyfunc.predict(
        week.astype({c: object for c in week.columns if isinstance(week[c].dtype, pd.StringDtype)})
    )
    np.testing.assert_allclose(out["persistence_probability"], loaded.persistence_probability(week))
    for column in ("yardstick_band", "reason_for_1", "summary", *iv.INTERVAL_COLUMNS):
        assert column in out.columns
