"""The leaderboard: recipes trained on one split and judged by one protocol.

Every recipe is fitted on the same training span and measured on the same held-out test period
(:func:`resilience.learn.split.split_history`, once), with the same metrics the train command
logs. Differences against the reference recipe (the first listed, or ``reference``) are the
champion rule's own paired bootstrap over lines
(:func:`resilience.governance.champion.paired_comparisons`, with ``mlflow.champion``'s resamples,
seed and one-sided level), so a leaderboard and a promotion never disagree about method. Churn is
measured against the registered champion on the same test rows, when there is one (the share of
lines whose yardstick band would change, and the median move in points): it says how much a
commander's list would move, not which model is better. Training time is the fit's wall time on
this machine, for comparison between rows of one leaderboard only.

:func:`compare_recipes` is pure (frames in, a table out); :func:`track_leaderboard` writes the
table and its page beside each other and logs both, with each row's metrics, to MLflow.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.weeks import iso_week
from resilience.data.contract import DataContract
from resilience.data.io import write_frame_atomic, write_text_atomic
from resilience.data.record_age import as_complete_records
from resilience.governance.champion import ChampionConfig, churn, paired_comparisons
from resilience.learn.evaluation import PROBABILITY, EvaluationConfig, fit_and_evaluate
from resilience.learn.split import SplitConfig, split_history
from resilience.report.leaderboard import render_leaderboard
from resilience.tracking import runs
from resilience.tracking.store import TrackingConfig

TABLE, PAGE = "leaderboard.csv", "leaderboard.html"
DIFFERENCES = ("roc_auc", "brier", "ece")  # what the champion rule's bootstrap can compare


@dataclass
class Leaderboard:
    """One row per recipe; ``reference`` is the recipe the differences are against."""

    table: pd.DataFrame
    reference: str
    split: dict
    labels_to: str
    capacity_k: int
    champion: str | None = None
    notes: list[str] = field(default_factory=list)


def _row(name: str, evaluation, seconds: float, k: int) -> dict:
    metrics = evaluation.metrics
    return {
        "recipe": name,
        "family": evaluation.model.family,
        "roc_auc": metrics.get("roc_auc"),
        "pr_auc": metrics.get("pr_auc"),
        "calibration_error": metrics.get("ece"),
        "brier": metrics.get("brier"),
        f"precision_at_{k}": metrics.get(f"precision_at_{k}"),
        "training_seconds": seconds,
    }


def _differences(y, p, p_reference, lines, config: ChampionConfig) -> dict:
    """The paired line-bootstrap difference against the reference (positive = better), with its
    one-sided bound, per metric."""
    out = {}
    for metric, comparison in paired_comparisons(
        y, p, p_reference, lines, config, DIFFERENCES
    ).items():
        # + 0.0: the reference against itself is 0, never "-0.0" (a loss-type metric's negated 0)
        out[f"{metric}_vs_reference"] = comparison.improvement + 0.0
        out[f"{metric}_vs_reference_lower"] = comparison.lower + 0.0
    return out


def compare_recipes(
    history: pd.DataFrame,
    contract: DataContract,
    recipes: dict[str, object],
    split_config: SplitConfig,
    evaluation_config: EvaluationConfig,
    champion_config: ChampionConfig,
    reference: str | None = None,
    champion_model=None,
    champion_name: str | None = None,
) -> Leaderboard:
    """Fit every recipe (unfitted models, by name) on one split and tabulate them."""
    split = split_history(history, contract, split_config)
    k = evaluation_config.capacity_k
    reference = reference or next(iter(recipes))
    rows, probabilities = [], {}
    for name, recipe in recipes.items():
        started = time.perf_counter()
        evaluation = fit_and_evaluate(split, contract, recipe, evaluation_config)
        rows.append(_row(name, evaluation, time.perf_counter() - started, k))
        probabilities[name] = evaluation.test_predictions[PROBABILITY].to_numpy(float)
    y = split.test[contract.label].astype(int).to_numpy()
    lines = split.test[contract.line_column].astype(str).to_numpy()
    champion_p = (  # the test rows are final records (a champion may read their record's age)
        champion_model.predict_proba(as_complete_records(split.test, contract))[:, 1]
        if champion_model
        else None
    )
    for row in rows:
        row.update(
            _differences(
                y, probabilities[row["recipe"]], probabilities[reference], lines, champion_config
            )
        )
        if champion_p is not None:
            moved = churn(probabilities[row["recipe"]], champion_p)
            row["churn_band_changed_share"] = moved["band_changed_share"]
            row["churn_median_move_points"] = moved["median_move_points"]
    table = pd.DataFrame(rows).sort_values("roc_auc", ascending=False, kind="stable")
    labels_to = iso_week(pd.to_datetime(history[contract.date_column]).max())
    return Leaderboard(
        table.reset_index(drop=True),
        reference,
        split.summary.as_dict(),
        labels_to,
        k,
        champion_name,
    )


def track_leaderboard(
    board: Leaderboard, folder: Path, tracking: TrackingConfig, data_name: str
) -> str:
    """Write ``leaderboard.csv`` and ``leaderboard.html`` into ``folder`` and log them, with each
    row's metrics (``leaderboard/<recipe>/<metric>``), as one MLflow run; returns its id."""
    folder.mkdir(parents=True, exist_ok=True)
    write_frame_atomic(board.table, folder / TABLE)
    write_text_atomic(folder / PAGE, render_leaderboard(board))
    name = f"compare · {data_name} · labels to {board.labels_to}"
    with runs.start_run(tracking, run_name=name, tags={"kind": "leaderboard"}) as run:
        runs.log_params(
            {
                "recipes": ",".join(board.table["recipe"]),
                "reference": board.reference,
                "champion": board.champion,
                **{f"split.result.{k}": v for k, v in board.split.items()},
            }
        )
        for row in board.table.to_dict("records"):
            numbers = {
                k: v for k, v in row.items() if isinstance(v, int | float) and np.isfinite(v)
            }
            runs.log_metrics(numbers, prefix=f"leaderboard/{row['recipe']}/")
        runs.log_file(folder / TABLE)
        runs.log_file(folder / PAGE)
        runs.log_text(json.dumps(board.split, indent=2), runs.SPLIT_ARTIFACT)
        runs.set_tags({"mlflow.note.content": board_summary(board)})
    return run.info.run_id


def board_summary(board: Leaderboard) -> str:
    """One paragraph: the recipes, the split and the best by ROC AUC."""
    best = board.table.iloc[0]
    return (
        f"{len(board.table)} recipes on one split (test period {board.split.get('test_start')} to "
        f"{board.split.get('test_end')}, {board.split.get('test_rows')} disruptions, labels to "
        f"{board.labels_to}); highest ROC AUC: {best['recipe']} ({best['roc_auc']:.3f}). "
        f"Differences against {board.reference} by the champion rule's paired bootstrap over lines."
    )
