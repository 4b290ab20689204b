"""MLflow runs of the weekly work: each scored week, the outcomes as they become known, and the
decision log's anchors (experiment tags ``decision_log.*``, made and checked by
:mod:`resilience.governance.anchors`, so a log later cut back or rewritten disagrees with them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from resilience.core import week_files
from resilience.data.contract import DataContract
from resilience.data.io import read_extract, read_json
from resilience.data.record_age import with_record_age
from resilience.tracking.runs import log_dataset, log_file, log_metrics, log_params, start_run
from resilience.tracking.store import TrackingConfig, ensure_experiment

DECISION_TAG_PREFIX = "decision_log."
# What a scoring run keeps of its week (the rest is in the week's folder).
LOGGED_WEEK_FILES = (
    week_files.MANIFEST,
    week_files.DRIFT,
    week_files.SAFEGUARDING,
    week_files.REPORT_HTML,
    week_files.REPORT_PDF,
)


def log_scoring_run(
    config: TrackingConfig, experiment_name: str, folder: Path, manifest: Mapping[str, Any]
) -> str:
    """Log a scored week to MLflow: the manifest, summary metrics, drift and report files."""
    counts = manifest.get("counts", {})
    rows = max(int(counts.get("rows", 0)), 1)
    with start_run(
        config,
        run_name=f"score {manifest['week']}",
        experiment_name=experiment_name,
        tags={
            "week": manifest["week"],
            "model": manifest["model"]["identity"],
            "input_sha256": manifest["input"]["sha256"] or "",
        },
    ) as run:
        log_params(
            {
                "week": manifest["week"],
                "model_uri": manifest["model"]["uri"],
                "model_version": manifest["model"]["version"],
                "config_hash": manifest["config_hash"],
                "input": manifest["input"]["path"],
            }
        )
        metrics = {
            "rows": counts.get("rows", 0),
            "lines": counts.get("lines", 0),
            "drift_alerts": counts.get("drift_alerts", 0),
        }
        for band, count in (counts.get("bands") or {}).items():
            metrics[f"share_{band.replace(' ', '_')}"] = count / rows
        for stage, seconds in (manifest.get("timings") or {}).items():
            metrics[f"seconds_{stage}"] = seconds
        log_metrics(metrics)
        extract = _week_extract(manifest)
        if extract is not None:  # the week's input, as a dataset (schema, digest, profile)
            log_dataset(
                extract, f"week {manifest['week']} extract", "scoring", extract.attrs["path"]
            )
        log_metrics(week_estimates(folder, extract))
        for name in (
            "manifest.json",
            "drift.json",
            "drift.html",
            "safeguarding.json",
            "report.html",
            "report.pdf",
        ):
            if (folder / name).is_file():
                mlflow.log_artifact(str(folder / name))
        return run.info.run_id


PROBABILITY = "persistence_probability"
RECORD_AGE = "record_age"  # a column derived as the record's age (``derived: record_age``)


def _grouping_columns(folder: Path) -> tuple[DataContract | None, list[str]]:
    """The data contract the week was scored with, its cohort column and, when it has one, its
    record-age input."""
    path = folder / week_files.CONTRACT
    if not path.is_file():
        return None, []
    config = read_json(path)
    contract = DataContract.from_dict(config)
    columns = [contract.cohort_column] if contract.cohort_column else []
    ages = [
        name
        for name, spec in (config.get("columns") or {}).items()
        if isinstance(spec, Mapping) and spec.get("derived") == RECORD_AGE
    ]
    return contract, columns + ages


def week_estimates(folder: Path, extract: pd.DataFrame | None = None) -> dict[str, float]:
    """The week's mean estimate, overall (``mean_estimate``) and by cohort and record age
    (``by_<column>/<value>/mean_estimate`` and ``/rows``), from its scores and, for a column the
    scores do not keep, the extract's row it came from (``input_row``)."""
    path = folder / week_files.SCORES_PARQUET
    if not path.is_file():
        return {}
    scores = pd.read_parquet(path)
    out = {"mean_estimate": float(scores[PROBABILITY].mean())} if len(scores) else {}
    contract, columns = _grouping_columns(folder)
    if extract is not None and contract is not None:  # a derived age is in no extract: derive it
        extract = with_record_age(extract, contract) if len(extract) else extract
    for column in columns:
        if column not in scores.columns:
            if extract is None or column not in extract.columns:
                continue
            rows = scores[week_files.INPUT_ORDER_COLUMN].to_numpy(int) - 1
            scores[column] = extract[column].to_numpy()[rows]
        for value, group in scores.groupby(column, observed=True):
            name = str(value).replace(" ", "_")
            out[f"by_{column}/{name}/mean_estimate"] = float(group[PROBABILITY].mean())
            out[f"by_{column}/{name}/rows"] = float(len(group))
    return out


def _week_extract(manifest: Mapping[str, Any]) -> pd.DataFrame | None:
    """The week's extract, when it is still where it was scored from (None otherwise)."""
    path = Path(str(manifest["input"]["path"]))
    if not path.is_file():
        return None
    extract = read_extract(path)
    extract.attrs["path"] = str(path)
    return extract


def log_outcomes(
    config: TrackingConfig,
    experiment_name: str,
    table: pd.DataFrame,
    path: Path,
    other_files: Sequence[Path] = (),
) -> str:
    """One run per scoring week with realised metrics per cohort (``<metric>_<cohort>``), and a
    summary run holding ``path`` and ``other_files``."""
    run_id = ""
    for week, group in table.groupby("week"):
        with start_run(
            config,
            run_name=f"outcomes {week}",
            experiment_name=experiment_name,
            tags={"week": week},
        ) as run:
            for row in group.to_dict("records"):
                if row.get("suppressed"):
                    continue
                cohort = str(row["cohort"]).replace(" ", "_")
                log_metrics(
                    {
                        k: row[k]
                        for k in row
                        if k not in ("week", "cohort", "scored", "model", "suppressed")
                        and isinstance(row[k], (int, float))
                    },
                    prefix=f"{cohort}_",
                )
            run_id = run.info.run_id
    with start_run(config, run_name="outcomes summary", experiment_name=experiment_name) as run:
        for file in (path, *other_files):
            log_file(file)
        run_id = run.info.run_id
    return run_id


def write_experiment_tags(experiment_name: str, tags: Mapping[str, str]) -> int:
    """Set the experiment tags among ``tags`` that it lacks or holds with another value (the
    decision log's anchors and seal); returns how many were written."""
    experiment_id = ensure_experiment(experiment_name)
    held = MlflowClient().get_experiment(experiment_id).tags or {}
    changed = {k: v for k, v in tags.items() if held.get(k) != v}
    for key, value in changed.items():
        MlflowClient().set_experiment_tag(experiment_id, key, value)
    return len(changed)


def decision_log_tags(experiment_name: str) -> dict[str, str]:
    """The decision log's tags on ``experiment_name`` (none if it does not exist)."""
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        return {}
    return {k: v for k, v in (experiment.tags or {}).items() if k.startswith(DECISION_TAG_PREFIX)}
