"""Training runs: what they log and register, and the champion rule."""
from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from resilience import tracking
from resilience.models import PersistenceModel
from resilience.split import SplitConfig
from resilience.train import EvaluationConfig, fit_and_evaluate, train_and_track

SPLIT = SplitConfig(test_weeks=26)
EVAL = EvaluationConfig(n_bootstrap=50)


def run(history, contract, mlflow_uri, family="lightgbm", features=None, truth=None, register=True, **kwargs):
    config = tracking.TrackingConfig(tracking_uri=mlflow_uri, register=register, **kwargs)
    model = PersistenceModel(contract, family=family, features=features)
    return train_and_track(history, contract, model, SPLIT, EVAL, config, params={"model.family": family},
                           input_path="history.parquet", input_sha256="0" * 64, truth=truth, run_name="test")


def test_evaluation_reports_every_metric_and_the_oracle(small_history, small_world, contract):
    evaluation = fit_and_evaluate(small_history, contract, PersistenceModel(contract), SPLIT, EVAL,
                                  truth=small_world.truth)
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "precision_at_10", "recall_at_10",
                "oracle_roc_auc", "oracle_brier", "gap_roc_auc", "cv_roc_auc"):
        assert key in evaluation.metrics, key
    assert 0.7 < evaluation.metrics["roc_auc"] <= evaluation.metrics["oracle_roc_auc"] + 0.02
    slices = evaluation.slices
    assert set(slices["slice"]) == set(contract.slices)
    assert {"roc_auc_low", "roc_auc_high", "suppressed"} <= set(slices.columns)
    small = slices[slices["rows"] < EVAL.min_slice_size]
    assert small["suppressed"].all() and small.get("roc_auc", pd.Series(dtype=float)).isna().all()


def test_a_run_logs_params_metrics_artifacts_and_a_version(small_history, small_world, contract, mlflow_uri):
    result = run(small_history, contract, mlflow_uri, truth=small_world.truth)
    client = MlflowClient(mlflow_uri)
    logged = client.get_run(result.run_id)
    assert logged.data.params["model.family"] == "lightgbm"
    assert "split.result.test_start" in logged.data.params
    for metric in ("test_roc_auc", "test_brier", "test_ece", "test_oracle_roc_auc", "test_precision_at_10"):
        assert metric in logged.data.metrics
    assert logged.data.tags["data_sha256"] == "0" * 64 and logged.data.tags["git_commit"]
    artifacts = {a.path for a in client.list_artifacts(result.run_id)} | {
        a.path for d in ("plots", "tables", "config", "explain", "model_card") for a in client.list_artifacts(result.run_id, d)}
    for path in ("plots/roc.png", "plots/calibration.png", "plots/precision_at_k.png", "explain/beeswarm.png",
                 "explain/concept_importance_by_cohort.png", "explain/dependence.png", "explain/concept_importance.csv",
                 "model_card/model_card.md", "model_card/model_card.html", "model_card/atrs.json", "model_card/atrs.md",
                 "model_card/algo_care.json", "tables/fairness.csv",
                 "tables/slice_metrics.csv", "config/data_contract.json", "split.json"):
        assert path in artifacts, path
    assert result.model_version == "1"
    version = client.get_model_version("line-resilience", "1")
    assert version.tags["promotion.decision"] == "champion"
    assert str(client.get_model_version_by_alias("line-resilience", "champion").version) == "1"


def test_registered_model_predicts_with_or_without_the_label(small_history, contract, mlflow_uri):
    import mlflow

    run(small_history, contract, mlflow_uri)
    pyfunc = mlflow.pyfunc.load_model("models:/line-resilience@champion")
    rows = small_history.head(20).copy()
    rows["line_type"] = rows["line_type"].astype(str)
    for frame in (rows, rows.drop(columns=["persisted_12w"])):
        out = pyfunc.predict(frame.astype({c: object for c in frame.columns if str(frame[c].dtype) == "category"}))
        assert list(out["disruption_id"]) == list(rows["disruption_id"])
        assert out["persistence_probability"].between(0, 1).all()


def test_champion_rule_first_better_worse_and_rollback(small_history, contract, mlflow_uri):
    client = MlflowClient(mlflow_uri)
    first = run(small_history, contract, mlflow_uri)
    assert first.promotion.promote and "first model" in first.promotion.reason
    # an equally good challenger (same recipe) is "not worse": promoted
    second = run(small_history, contract, mlflow_uri)
    assert second.promotion.promote, second.promotion.reason
    assert str(client.get_model_version_by_alias("line-resilience", "champion").version) == "2"
    # a much worse challenger (one weak feature) stays challenger
    worse = run(small_history, contract, mlflow_uri, family="logistic", features=["commodity"])
    assert not worse.promotion.promote and "worse than the champion" in worse.promotion.reason
    tags = client.get_model_version("line-resilience", worse.model_version).tags
    assert tags["promotion.decision"] == "challenger" and "promotion.champion_roc_auc" in tags
    assert str(client.get_model_version_by_alias("line-resilience", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("line-resilience", "challenger").version) == worse.model_version
    # a person rolls back to the previous champion
    assert tracking.rollback_champion("line-resilience", "test rollback", "analyst") == "1"
    assert str(client.get_model_version_by_alias("line-resilience", "champion").version) == "1"
    # and promotes explicitly
    tracking.promote_explicitly("line-resilience", worse.model_version, "board decision", "board")
    assert str(client.get_model_version_by_alias("line-resilience", "champion").version) == worse.model_version


@pytest.mark.parametrize("challenger,champion,promote", [
    ({"roc_auc": 0.80, "ece": 0.02}, {"roc_auc": 0.80, "ece": 0.02}, True),
    ({"roc_auc": 0.797, "ece": 0.02}, {"roc_auc": 0.80, "ece": 0.02}, True),    # within tolerance
    ({"roc_auc": 0.79, "ece": 0.02}, {"roc_auc": 0.80, "ece": 0.02}, False),    # worse ranking
    ({"roc_auc": 0.85, "ece": 0.05}, {"roc_auc": 0.80, "ece": 0.02}, False),    # worse calibration
])
def test_decide_promotion(challenger, champion, promote):
    decision = tracking.decide_promotion(challenger, champion, tracking.TrackingConfig(), "a period")
    assert decision.promote is promote
    assert decision.as_tags()["promotion.decision"] == ("champion" if promote else "challenger")
