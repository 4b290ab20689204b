"""A review's record: its summary, and its folder (``tactics.csv``, ``review.json``,
``review.html``) written whole or not at all.

A review lives in ``<root>/<reviewed_on>/``: the folder is built beside it under a temporary name
and renamed into place, so a reader (the briefing) sees the previous review or the new one, never
half of one; a rerun on the same day replaces that day's folder the same way.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.data.contract import DataContract
from resilience.data.csv_safety import append_csv
from resilience.tactics.displacement import displacement
from resilience.tactics.files import ALL, CSV_COLUMNS, REVIEW_HTML, REVIEW_JSON, TACTICS_CSV
from resilience.tactics.render import render_review
from resilience.tactics.review import ReviewResult
from resilience.tactics.settings import ReviewSettings


def _population(settings: ReviewSettings) -> str:
    return (
        "for each tactic and cohort, the disruptions with a known outcome whose estimated chance of "
        f"receiving the tactic lay between {settings.trim:.0%} and {1 - settings.trim:.0%} (the "
        "others, with no comparable lines given the other choice, are trimmed and counted per row): "
        "each figure is the average over the disruptions it kept, not over every disruption."
    )


def review_summary(
    frame: pd.DataFrame,
    contract: DataContract,
    settings: ReviewSettings,
    result: ReviewResult,
    source: str,
    reviewed_on: str,
) -> dict:
    """What the page, the JSON record and the briefing say about a review besides its rows."""
    labelled = frame[frame[contract.label].notna()]
    dates = pd.to_datetime(labelled[contract.date_column])
    rows = result.rows
    gauges = rows.drop_duplicates("cohort")[["cohort"]].assign(
        gauge=[
            rows.loc[rows["cohort"] == c, "gauge"].dropna().max()
            for c in rows.drop_duplicates("cohort")["cohort"]
        ]
    )
    levels = contract.column(contract.cohort_column).allowed if contract.cohort_column else ()
    first = rows[rows["cohort"] == ALL].iloc[0]
    return {
        "reviewed_on": reviewed_on,
        "source": source,
        "data_config": contract.name,
        "n_disruptions": int(len(labelled)),
        "n_lines": int(labelled[contract.line_column].nunique()),
        "first_date": str(dates.min().date()),
        "last_date": str(dates.max().date()),
        "weeks": int(contract.horizon_weeks),
        "population": _population(settings),
        "settings": asdict(settings),
        "cohort_labels": {
            str(v): f"{str(v).replace('_', '-').capitalize()} lines" for v in levels or ()
        },
        "gauges": [
            {"cohort": c, "gauge": None if pd.isna(g) else float(g)}
            for c, g in gauges.itertuples(index=False)
        ],
        "adjusted_for": [c for c in first["adjusted_for"] if c not in contract.tactics],
        "displacement": displacement(labelled, contract),
        "library": {"doubleml": version("doubleml"), "lightgbm": version("lightgbm")},
    }


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_review(root: Path, summary: dict, result: ReviewResult) -> Path:
    """Write a review's folder ``<root>/<reviewed_on>/`` atomically; returns the folder."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / summary["reviewed_on"]
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        table = result.rows.reindex(columns=list(CSV_COLUMNS))
        with open(building / TACTICS_CSV, "w", encoding="utf-8", newline="") as handle:
            append_csv(handle, table.round(3), header=True)  # no cell can start a formula
        record = {
            "summary": summary,
            "rows": result.rows.to_dict("records"),
            "overlap": result.overlap.to_dict("records"),
        }
        (building / REVIEW_JSON).write_text(
            json.dumps(_json_ready(record), indent=1), encoding="utf-8"
        )
        (building / REVIEW_HTML).write_text(
            render_review(summary, result.rows, result.overlap), encoding="utf-8"
        )
        os.chmod(building, 0o755)
        old = None
        if target.exists():
            old = root / f".{target.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(building, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target
