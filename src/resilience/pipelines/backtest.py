"""A backtest of the weekly decision: replay the weekly extracts after a cutoff as they were known
then, with the model trained as of the cutoff, and judge it on the outcomes known now.

**As of the cutoff** (an ISO week, ``cutoff``): training sees only what was known at the end of
that week (its Sunday, the as-of date): labels of disruptions at least ``horizon_weeks`` older
(younger ones were not yet known, :mod:`resilience.data.asof`) and the weekly extracts of weeks up
to the cutoff (:func:`train_as_of`, the training pipeline's :func:`~resilience.pipelines.train.
train` with ``as_of`` and the snapshots cut there). **Replay**: every weekly extract after the
cutoff is scored as it was (records as they stood that week, ages derived from its as-of date)
and each scored row is joined to its outcome as known now (rows whose outcome is not yet known
are scored but not judged).

**Reported**, per replayed week: lines, judged lines, mean estimate against the share that
persisted (bias, points), ECE, range coverage of the truth (synthetic worlds) and median width, and
the week's **shortlist** (top ``capacity_k`` by priority, as scoring ranks it: probability x
harm) — the share that persisted against the share its estimates expected. Per **record age**
(pooled over the replayed weeks: each disruption once per age), the training evaluation's table
(:func:`~resilience.learn.by_age.by_record_age`). With ``compare`` the same recipe is also trained
as of the cutoff on final records only (what training did before records as they stood) and the
two are compared on the replayed rows with the champion rule's paired line bootstrap
(:func:`~resilience.governance.champion.paired_comparisons`): one protocol serves both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from resilience.core.errors import ResilienceError
from resilience.core.progress import Stages
from resilience.core.weeks import check_week, week_monday
from resilience.data.asof import AsOf
from resilience.data.contract import DataContract
from resilience.data.io import write_text_atomic
from resilience.data.snapshots import SnapshotFolder, iter_snapshots
from resilience.governance.champion import ChampionConfig, paired_comparisons
from resilience.learn.by_age import age_metric_names, by_record_age
from resilience.learn.evaluation import true_probabilities
from resilience.learn.metrics import expected_calibration_error
from resilience.learn.ranges import interval_table
from resilience.pipelines.train import Trained, TrainingData, TrainSettings, train
from resilience.report.backtest import render_backtest
from resilience.tracking import runs
from resilience.weekly.priority import HarmPolicy, priority_ranks


@dataclass(frozen=True)
class BacktestConfig:
    """What to replay (``configs/backtest.yaml``)."""

    cutoff: str  # the ISO week the model is trained as of (YYYY-Www); later weeks are replayed
    weeks: int | None = None  # replay at most this many weeks after the cutoff (None: all)
    capacity_k: int = 10  # the weekly shortlist: lines a force can act on
    compare: bool = True  # also train on final records as of the cutoff and compare the two

    def __post_init__(self) -> None:
        check_week(self.cutoff)
        if self.weeks is not None and self.weeks < 1:
            raise ResilienceError(f"backtest weeks must be at least 1 (or null), not {self.weeks}")
        if self.capacity_k < 1:  # a shortlist of no lines judges nothing, and says nothing
            raise ResilienceError(f"backtest capacity_k must be at least 1, not {self.capacity_k}")


@dataclass
class Backtest:
    """The replay's tables and the comparison (empty without ``compare``)."""

    cutoff: str
    as_of: pd.Timestamp
    by_week: pd.DataFrame
    by_age: pd.DataFrame
    comparison: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def cutoff_as_of(cutoff: str) -> pd.Timestamp:
    """The as-of date of a cutoff week: its Sunday (what was known at the end of the week)."""
    return week_monday(cutoff) + pd.Timedelta(days=6)


def train_as_of(
    data: TrainingData, recipe, settings: TrainSettings, cutoff: str, stages: Stages
) -> Trained:
    """The training pipeline as of ``cutoff``: labels known by then, extracts up to that week."""
    as_of = cutoff_as_of(cutoff)
    contract = data.contract
    dates = pd.to_datetime(data.history[contract.date_column])
    known = data.history[dates <= as_of - pd.Timedelta(weeks=contract.horizon_weeks)]
    if known.empty:
        raise ResilienceError(
            f"no outcome was known by the end of {cutoff} in {data.input_path}: choose a later cutoff"
        )
    snapshots = data.snapshots
    if snapshots is not None:
        snapshots = replace(snapshots, files=tuple(f for f in snapshots.files if f.week <= cutoff))
    when = AsOf(date=as_of, source=f"the backtest's cutoff, the end of {cutoff}")
    cut = replace(data, history=known.reset_index(drop=True), as_of=when, snapshots=snapshots)
    return train(cut, recipe, settings, stages)


def replayed_weeks(found: SnapshotFolder, cutoff: str, weeks: int | None) -> SnapshotFolder:
    """The extracts after ``cutoff`` (at most ``weeks`` of them)."""
    after = tuple(f for f in found.files if f.week > cutoff)
    if not after:
        raise ResilienceError(f"{found.folder} holds no weekly extract after {cutoff} to replay")
    return replace(found, files=after[:weeks] if weeks else after)


def replay(
    models: dict, found: SnapshotFolder, contract: DataContract, history: pd.DataFrame
) -> pd.DataFrame:
    """Every row of every replayed extract, as it stood that week, with ``week``, the outcome as
    known now (the label; missing when not yet known) and each model's ``p_<name>`` and range."""
    label = history.set_index(history[contract.id_column].astype(str))[contract.label]
    frames = []
    for snapshot in iter_snapshots(found, contract):
        frame = snapshot.frame.drop(columns=[contract.label], errors="ignore").copy()
        frame[contract.label] = frame[contract.id_column].astype(str).map(label).to_numpy()
        frame["week"] = snapshot.file.week
        for name, model in models.items():
            probability = model.persistence_probability(frame)
            frame[f"p_{name}"] = probability
            for column, values in interval_table(model, frame, probability).items():
                frame[f"{column}_{name}"] = values.to_numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _week_row(rows: pd.DataFrame, contract, policy, capacity: int, truth) -> dict:
    """One replayed week's measures of the backtested model (``p_model``)."""
    p = rows["p_model"].to_numpy(float)
    harm = policy.columns(rows)["harm_index"].to_numpy(float) if policy else np.ones(len(rows))
    floor = policy.harm_floor if policy else 0.0
    shortlist = priority_ranks(p, harm, floor) <= capacity
    judged = rows[contract.label].notna().to_numpy()
    y = rows[contract.label].to_numpy()[judged].astype(float)
    listed = shortlist & judged
    out = {
        "week": rows["week"].iat[0],
        "lines": int(len(rows)),
        "judged": int(judged.sum()),
        "mean_estimate": float(p[judged].mean()) if judged.any() else np.nan,
        "observed_rate": float(y.mean()) if judged.any() else np.nan,
        "bias_points": float(100 * (p[judged].mean() - y.mean())) if judged.any() else np.nan,
        "ece": float(expected_calibration_error(y, p[judged])) if judged.any() else np.nan,
        "shortlist_judged": int(listed.sum()),
        "shortlist_persisted": float(rows[contract.label].to_numpy()[listed].astype(float).mean())
        if listed.any()
        else np.nan,
        "shortlist_expected": float(p[listed].mean()) if listed.any() else np.nan,
    }
    if "probability_low_model" in rows:
        low, high = rows["probability_low_model"], rows["probability_high_model"]
        out["median_width"] = float(np.median(high - low))
        true = true_probabilities(rows, truth, contract.id_column)
        out["coverage"] = (
            float(((true >= low.to_numpy()) & (true <= high.to_numpy())).mean())
            if true is not None
            else np.nan
        )
    return out


def by_week(rows: pd.DataFrame, contract, policy: HarmPolicy | None, capacity: int, truth):
    """One row per replayed week (:func:`_week_row`)."""
    return pd.DataFrame(
        [_week_row(week, contract, policy, capacity, truth) for _, week in rows.groupby("week")]
    )


def compare_models(rows: pd.DataFrame, contract, config: ChampionConfig) -> dict:
    """The backtested model against the final-records one on the judged replayed rows, with the
    champion rule's paired line bootstrap: {metric: PairedComparison as a dict}."""
    judged = rows[rows[contract.label].notna()]
    comparisons = paired_comparisons(
        judged[contract.label].astype(int),
        judged["p_model"],
        judged["p_final_records"],
        judged[contract.line_column],
        config,
    )
    return {
        metric: {
            **vars(c),
            "improvement": c.improvement,
            "significantly_worse": c.significantly_worse,
        }
        for metric, c in comparisons.items()
    }


def run_backtest(
    data: TrainingData,
    recipe,
    settings: TrainSettings,
    config: BacktestConfig,
    policy: HarmPolicy | None = None,
    champion: ChampionConfig | None = None,
) -> tuple[Backtest, dict]:
    """Train as of the cutoff (and, with ``compare``, on final records too), replay the weeks
    after it, and measure them (see the module docstring); returns the backtest and the models."""
    if data.snapshots is None:
        raise ResilienceError("a backtest replays weekly extracts: give snapshots=<folder>")
    stages = Stages("backtest", enabled=settings.progress)
    models = {"model": train_as_of(data, clone(recipe), settings, config.cutoff, stages).model}
    if config.compare:
        final = replace(data, snapshots=None)
        trained = train_as_of(final, clone(recipe), settings, config.cutoff, stages)
        models["final_records"] = trained.model
    contract = data.contract
    with stages.stage("replay", "score the weekly extracts after the cutoff as they stood"):
        rows = replay(
            models,
            replayed_weeks(data.snapshots, config.cutoff, config.weeks),
            contract,
            data.history,
        )
    judged = rows[rows[contract.label].notna()].reset_index(drop=True)
    judged[contract.label] = judged[contract.label].astype(bool)
    backtest = Backtest(
        config.cutoff,
        cutoff_as_of(config.cutoff),
        by_week(rows, contract, policy, config.capacity_k, data.truth),
        by_record_age(models["model"], judged, contract, data.truth),
        compare_models(judged, contract, champion or ChampionConfig()) if config.compare else {},
        {
            "weeks_replayed": int(rows["week"].nunique()),
            "rows_replayed": int(len(rows)),
            "rows_judged": int(len(judged)),
            "disruptions_judged": int(judged[contract.id_column].nunique()),
            "horizon_weeks": int(contract.horizon_weeks),  # the ages a line can be judged at
        },
    )
    return backtest, models


def backtest_and_track(
    data: TrainingData,
    recipe,
    settings: TrainSettings,
    config: BacktestConfig,
    output: Path,
    experiment: str,
    policy: HarmPolicy | None = None,
) -> tuple[Backtest, str]:
    """:func:`run_backtest`, its page written to ``output`` (atomically) and one MLflow run in
    ``experiment`` (metrics by record age, the comparison, both tables and the page); returns the
    backtest and the run id."""
    backtest, _ = run_backtest(data, recipe, settings, config, policy, settings.champion)
    write_text_atomic(output, render_backtest(backtest))
    tags = {"data_sha256": data.input_sha256, "input": str(data.input_path), "kind": "backtest"}
    with runs.start_run(
        settings.tracking,
        f"backtest · as of {config.cutoff}",
        experiment_name=experiment,
        tags=tags,
    ) as run:
        runs.log_params({f"backtest.{k}": v for k, v in vars(config).items()})
        runs.log_params({f"backtest.result.{k}": v for k, v in backtest.summary.items()})
        runs.log_metrics(age_metric_names(backtest.by_age))
        runs.log_metrics(
            {
                f"vs_final_records.{metric}.{key}": float(c[key])
                for metric, c in backtest.comparison.items()
                for key in ("challenger", "champion", "improvement", "lower", "upper")
            }
        )
        runs.log_frame(backtest.by_week, "tables/by_week.csv")
        runs.log_frame(backtest.by_age, "tables/by_record_age.csv")
        runs.log_file(output)
    return backtest, run.info.run_id
