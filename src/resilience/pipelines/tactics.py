"""resilience-tactics' work: read the labelled history, review every tactic, write the review's
folder, and log it as an MLflow run (params, a metric per tactic and cohort, the folder's files)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from resilience.data.contract import DataContract
from resilience.data.io import file_sha256
from resilience.data.validate import load_extract
from resilience.tactics.publish import (
    REVIEW_HTML,
    REVIEW_JSON,
    TACTICS_CSV,
    review_summary,
    write_review,
)
from resilience.tactics.review import review_tactics
from resilience.tactics.settings import ReviewSettings
from resilience.tracking.runs import (
    flatten,
    git_commit,
    log_file,
    log_metrics,
    log_params,
    start_run,
)
from resilience.tracking.store import TrackingConfig

METRICS = ("estimate_points", "ci_low_points", "ci_high_points", "naive_points", "trimmed")


@dataclass(frozen=True)
class TacticsRun:
    """Where the review was written and logged, and its rows."""

    folder: Path
    run_id: str
    rows: pd.DataFrame


def _metrics(rows: pd.DataFrame) -> dict[str, float]:
    out = {"fragile_estimates": float(rows["fragile"].fillna(False).astype(bool).sum())}
    for row in rows.to_dict("records"):
        for name in METRICS:
            if row.get(name) is not None:
                out[f"{name}.{row['tactic']}.{row['cohort']}"] = row[name]
    return out


def run_tactics_review(
    input_path: str | Path,
    contract: DataContract,
    settings: ReviewSettings,
    output_root: Path,
    tracking: TrackingConfig,
    experiment: str,
    reviewed_on: date | None = None,
) -> TacticsRun:
    """Review every tactic of ``contract`` on a labelled extract; write and log the review."""
    extract = load_extract(input_path, contract, require_label=True)
    result = review_tactics(extract.frame, contract, settings)
    day = (reviewed_on or date.today()).isoformat()
    summary = review_summary(extract.frame, contract, settings, result, str(input_path), day)
    folder = write_review(Path(output_root), summary, result)
    sha256 = file_sha256(input_path)
    tags = {"kind": "tactics-review", "data_config": contract.name, "input_sha256": sha256}
    with start_run(
        tracking, f"tactics-review · {contract.name} · {day}", None, experiment, tags
    ) as run:
        params = flatten({"review": asdict(settings)}) | {
            "input": str(input_path),
            "data_config": contract.name,
            "reviewed_on": day,
            "n_disruptions": summary["n_disruptions"],
            "git_commit": git_commit(),
        }
        log_params(params)
        log_metrics(_metrics(result.rows))
        for name in (TACTICS_CSV, REVIEW_JSON, REVIEW_HTML):
            log_file(folder / name, "tactics")
        return TacticsRun(folder=folder, run_id=run.info.run_id, rows=result.rows)
