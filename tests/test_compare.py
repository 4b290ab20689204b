"""The leaderboard: recipes on one split, one evaluation protocol, one table and one page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run_command
from mlflow.tracking import MlflowClient

from resilience.governance.champion import ChampionConfig, paired_comparisons
from resilience.learn.evaluation import PROBABILITY, EvaluationConfig, fit_and_evaluate
from resilience.learn.models import PersistenceModel
from resilience.learn.split import SplitConfig, split_history
from resilience.pipelines.compare import compare_recipes, track_leaderboard
from resilience.tracking.store import TrackingConfig

SPLIT = SplitConfig(test_weeks=26)
EVAL = EvaluationConfig(n_bootstrap=20)
RULE = ChampionConfig(n_bootstrap=100)


@pytest.fixture(scope="module")
def board(small_history, contract):
    champion = PersistenceModel(contract).fit(split_history(small_history, contract, SPLIT).train)
    recipes = {
        "lightgbm_default": PersistenceModel(contract),
        "baseline_logistic": PersistenceModel(contract, family="logistic"),
    }
    return compare_recipes(
        small_history,
        contract,
        recipes,
        SPLIT,
        EVAL,
        RULE,
        champion_model=champion,
        champion_name="version 1",
    )


def test_every_recipe_is_one_row_with_the_metrics_a_reviewer_asks_for(board):
    table = board.table
    assert set(table["recipe"]) == {"lightgbm_default", "baseline_logistic"}
    for column in (
        "roc_auc",
        "pr_auc",
        "calibration_error",
        "brier",
        "precision_at_10",
        "churn_band_changed_share",
        "training_seconds",
    ):
        assert table[column].notna().all(), column
    assert list(table["roc_auc"]) == sorted(table["roc_auc"], reverse=True), "best first"
    assert (table["training_seconds"] > 0).all()


def test_differences_are_the_champion_rule_s_paired_bootstrap_on_the_same_rows(
    board, small_history, contract
):
    """Recomputed by hand: both recipes fitted on the one split, compared with the rule's function."""
    split = split_history(small_history, contract, SPLIT)
    p = {
        name: fit_and_evaluate(split, contract, model, EVAL)
        .test_predictions[PROBABILITY]
        .to_numpy(float)
        for name, model in (
            ("lightgbm_default", PersistenceModel(contract)),
            ("baseline_logistic", PersistenceModel(contract, family="logistic")),
        )
    }
    y = split.test[contract.label].astype(int).to_numpy()
    lines = split.test[contract.line_column].astype(str).to_numpy()
    expected = paired_comparisons(
        y, p["baseline_logistic"], p["lightgbm_default"], lines, RULE, ("roc_auc", "ece")
    )
    row = board.table.set_index("recipe").loc["baseline_logistic"]
    assert row["roc_auc_vs_reference"] == pytest.approx(expected["roc_auc"].improvement)
    assert row["roc_auc_vs_reference_lower"] == pytest.approx(expected["roc_auc"].lower)
    assert row["ece_vs_reference"] == pytest.approx(expected["ece"].improvement)
    reference = board.table.set_index("recipe").loc["lightgbm_default"]
    assert reference["roc_auc_vs_reference"] == 0 and board.reference == "lightgbm_default"


def test_the_reference_against_itself_is_zero_never_negative_zero(board):
    """leaderboard.csv showed "-0.0" for the reference's own Brier and ECE differences."""
    reference = board.table.set_index("recipe").loc[board.reference]
    differences = reference[[c for c in board.table.columns if "_vs_reference" in c]]
    assert (differences == 0).all() and not np.signbit(differences.to_numpy(float)).any()


def test_churn_is_against_the_champion(board):
    """The champion here is the default recipe fitted on the same rows: that row does not move."""
    table = board.table.set_index("recipe")
    assert table.loc["lightgbm_default", "churn_band_changed_share"] == 0
    assert table.loc["baseline_logistic", "churn_band_changed_share"] > 0


def test_one_table_one_page_and_one_mlflow_run(board, tmp_path, mlflow_uri):
    run_id = track_leaderboard(board, tmp_path, TrackingConfig(tracking_uri=mlflow_uri), "default")
    table = pd.read_csv(tmp_path / "leaderboard.csv")
    assert list(table["recipe"]) == list(board.table["recipe"])
    page = (tmp_path / "leaderboard.html").read_text()
    for recipe in board.table["recipe"]:
        assert recipe in page
    assert "Difference against lightgbm_default" in page and "version 1" in page
    # the champion learnt from more rows than a recipe's own model: its recipe's churn is the floor
    assert "even the champion's own recipe moves some lines" in page.replace("&#39;", "'")
    run = MlflowClient(mlflow_uri).get_run(run_id)
    value = board.table.set_index("recipe").loc["baseline_logistic", "roc_auc"]
    assert np.isclose(run.data.metrics["leaderboard/baseline_logistic/roc_auc"], value)
    assert run.data.tags["kind"] == "leaderboard" and "labels to" in run.data.tags["mlflow.runName"]
    artifacts = {a.path for a in MlflowClient(mlflow_uri).list_artifacts(run_id)}
    assert {"leaderboard.csv", "leaderboard.html"} <= artifacts


@pytest.mark.slow
def test_the_compare_command_trains_the_named_recipes_on_one_split(own_store, tmp_path):
    result = run_command(
        "resilience-compare",
        f"input={own_store.world / 'disruptions.parquet'}",
        "recipes=[lightgbm_default,baseline_logistic]",
        f"output_root={tmp_path / 'compare'}",
        "evaluation.n_bootstrap=20",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env=own_store.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [folder] = list((tmp_path / "compare").iterdir())
    table = pd.read_csv(folder / "leaderboard.csv")
    assert set(table["recipe"]) == {"lightgbm_default", "baseline_logistic"}
    assert table["churn_band_changed_share"].notna().all(), "the store's champion is compared"


def test_a_recipe_that_keeps_only_some_rows_is_refused_before_data_are_read(tmp_path):
    result = run_command(
        "resilience-compare",
        "recipes=[lightgbm_default,home_grown_only]",
        "input=/nonexistent/extract.parquet",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "home_grown_only keeps only some rows" in result.stderr


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("snapshots=/some/weekly", "snapshots=/some/weekly"),
        ("rerun=0123abcd", "rerun=0123abcd"),
        ("recipes=[lightgbm_default,sweep_lightgbm]", "sweep.n_trials=12 (sweep_lightgbm)"),
    ],
)
def test_a_training_setting_the_leaderboard_cannot_honour_is_refused_not_ignored(
    tmp_path, setting, named
):
    result = run_command(
        "resilience-compare", setting, "input=/nonexistent/extract.parquet", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert named in line and "resilience-compare does not take it" in line
    assert not list(tmp_path.glob("outputs/compare/labels-to-*"))


def test_labels_that_could_not_be_known_yet_are_refused_as_training_refuses_them(
    tiny_history, tmp_path
):
    extract = tmp_path / "history.parquet"
    tiny_history.to_parquet(extract)
    as_of = (pd.to_datetime(tiny_history["disruption_date"]).max() + pd.Timedelta(days=7)).date()
    result = run_command("resilience-compare", f"input={extract}", f"as_of={as_of}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "cannot be known yet" in result.stderr
    assert not list(tmp_path.glob("outputs/compare/labels-to-*"))


def test_a_champion_that_learnt_from_records_as_they_stood_is_compared_on_final_records(
    tiny_history, contract
):
    """After ``make demo`` the champion reads the record's age; the leaderboard's history holds
    final records without it. Its churn column is measured on them at the complete age instead
    of the command stopping."""
    age = contract.record_age_column
    fast = {"n_estimators": 80, "learning_rate": 0.1}
    rng = np.random.default_rng(5)
    as_they_stood = tiny_history.assign(**{age: rng.integers(0, 13, len(tiny_history))})
    split = SplitConfig(test_weeks=13, min_train_to_test=1.0)
    champion = PersistenceModel(contract, params=fast, early_stopping_rounds=0).fit(
        split_history(as_they_stood, contract, split).train
    )
    assert age in champion.feature_names_ and age not in tiny_history.columns
    board = compare_recipes(
        tiny_history,
        contract,
        {"lightgbm_default": PersistenceModel(contract, params=fast, early_stopping_rounds=0)},
        split,
        EVAL,
        RULE,
        champion_model=champion,
        champion_name="version 1",
    )
    assert board.table["churn_band_changed_share"].notna().all()
