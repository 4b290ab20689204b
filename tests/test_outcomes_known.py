"""resilience-outcomes records only what can be known, and reports on everything known so far.

* A label of a disruption dated less than the horizon (12 weeks) before the labels' as-of date
  is refused, as training refuses it (the same rule, the same as-of date: ``world.json`` beside
  the extract, else today), naming the extract, the label column, the rows and the dates, and
  nothing is written.
* Each week's realised metrics (``outcomes.csv``) rest on every outcome recorded so far
  (``outcomes.parquet``) plus the new labels: a rerun with a partial labels extract never shrinks
  what a week reports, and the order in which extracts arrive does not change the result.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_command
from test_outcomes import disrupted_earlier
from test_report import write_fake_week

from resilience.core import week_files
from resilience.data.asof import censored_problems
from resilience.data.contract import load_data_contract
from resilience.governance.outcomes import OutcomeConflict
from resilience.tracking.store import TrackingConfig

AS_OF = pd.Timestamp("2026-11-22")  # the world's end_date, beside the labels extract
CUTOFF = AS_OF - pd.Timedelta(weeks=12)  # 2026-08-30: the last day whose outcome is known by then
WRITTEN = (week_files.OUTCOMES_CSV, week_files.OUTCOMES_PARQUET, week_files.OUTCOMES_FAIRNESS_CSV)


@pytest.fixture()
def weeks(tmp_path) -> Path:
    """Two scored weeks of 60 lines, every disruption dated a year before its week."""
    root = tmp_path / "weekly"
    for seed, week in enumerate(("2026-W46", "2026-W47")):
        disrupted_earlier(write_fake_week(root / week, n_lines=60, seed=seed, week=week))
    return root


def scored(root: Path) -> pd.DataFrame:
    """Every scored row (week, id, date), oldest week first."""
    return pd.concat(
        [
            pd.read_parquet(w / week_files.SCORES_PARQUET).assign(week=w.name)
            for w in sorted(root.glob("2026-W*"))
        ],
        ignore_index=True,
    )


def outcomes_of(ids, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    ids = pd.Series(list(ids)).drop_duplicates().reset_index(drop=True)
    return pd.Series(rng.random(len(ids)) < 0.5, index=ids)


def write_labels(path: Path, truth: pd.Series, ids) -> Path:
    """A labels extract (id and label) of ``ids`` with the outcomes in ``truth``; ``world.json``
    beside it says when it was taken (``AS_OF``), as a synthetic world's does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = list(ids)
    pd.DataFrame({"disruption_id": ids, "persisted_12w": truth.loc[ids].to_numpy()}).to_csv(
        path, index=False
    )
    (path.parent / "world.json").write_text(json.dumps({"end_date": str(AS_OF.date())}))
    return path


def record(root: Path, labels: Path, uri: str):
    """What resilience-outcomes does (its pipeline, in process)."""
    from resilience.pipelines.outcomes import record_outcomes

    return record_outcomes(
        labels, root, TrackingConfig(tracking_uri=uri), "weekly-outcomes", 10, 10
    )


def digests(root: Path) -> dict[str, str | None]:
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        if (root / name).is_file()
        else None
        for name in WRITTEN
    }


@pytest.fixture()
def store(mlflow_uri) -> str:
    import mlflow

    mlflow.search_experiments()  # the store exists (commands that read it never create one)
    return mlflow_uri


# -- labels that cannot be known yet --------------------------------------------------------------
def test_a_label_younger_than_the_horizon_is_refused_naming_rows_and_dates(weeks, store, tmp_path):
    path = weeks / "2026-W47" / week_files.SCORES_PARQUET
    scores = pd.read_parquet(path)
    # three disruptions whose outcome cannot be known by AS_OF (one a single day too young), one
    # exactly on the last day that can be
    young = {2: "2026-08-31", 5: "2026-10-04", 7: "2026-11-16"}
    for i, day in {**young, 9: str(CUTOFF.date())}.items():
        scores.loc[i, "disruption_date"] = day
    scores.to_parquet(path, index=False)
    rows = scored(weeks)
    truth = outcomes_of(rows["disruption_id"])
    labels = write_labels(tmp_path / "extracts" / "labels.csv", truth, truth.index)
    result = run_command(
        "resilience-outcomes",
        f"input={labels}",
        f"output_root={weeks}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": store},
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    message = result.stderr
    line_of = {d: i + 1 for i, d in enumerate(truth.index)}  # the extract's data rows
    assert str(labels) in message and "column 'persisted_12w'" in message
    assert "3 offending rows" in message and f"on or before {CUTOFF.date()}" in message
    for i, day in young.items():
        assert f"row {line_of[scores.loc[i, 'disruption_id']]} ('{day}')" in message
    assert digests(weeks) == dict.fromkeys(WRITTEN), "nothing written"

    # training's own check refuses exactly the same labels, on the same dates, as of the same day
    contract = load_data_contract("default")
    history = pd.DataFrame(
        {
            "disruption_date": pd.to_datetime(rows["disruption_date"]),
            "persisted_12w": truth.loc[rows["disruption_id"]].to_numpy(),
        }
    )
    (problem,) = censored_problems(history, contract, AS_OF, "training extract")
    assert problem.count == 3 and set(problem.values) == set(young.values())

    # without those three labels, the rest (the boundary day's included) is recorded
    kept = [d for d in truth.index if d not in set(scores.loc[list(young), "disruption_id"])]
    record(weeks, write_labels(tmp_path / "extracts" / "labels.csv", truth, kept), store)
    known = pd.read_parquet(weeks / week_files.OUTCOMES_PARQUET)
    assert set(known["disruption_id"]) == set(kept)
    assert scores.loc[9, "disruption_id"] in set(known["disruption_id"])


def test_labels_of_disruptions_a_week_never_scored_are_not_judged(weeks, store, tmp_path):
    """A label the command cannot use (no scored week holds the disruption) has no date here;
    it is neither recorded nor refused."""
    truth = pd.concat([outcomes_of(scored(weeks)["disruption_id"]), pd.Series({"ELSEWHERE": True})])
    outcomes = record(weeks, write_labels(tmp_path / "labels.csv", truth, truth.index), store)
    assert "ELSEWHERE" not in set(outcomes.known["disruption_id"])
    assert outcomes.added == len(truth) - 1
    assert outcomes.unmatched == 1, "counted, for the command's line, not dropped unsaid"


# -- every outcome known so far -------------------------------------------------------------------
def labelled(root: Path) -> dict[str, int]:
    table = pd.read_csv(root / week_files.OUTCOMES_CSV)
    return table[table["cohort"] == "all"].set_index("week")["labelled"].to_dict()


def test_a_partial_labels_extract_never_shrinks_what_a_week_reports(weeks, store, tmp_path):
    rows = scored(weeks)
    truth = outcomes_of(rows["disruption_id"])
    ids = list(truth.index)
    first, second = ids[::2], ids[1::2]
    record(weeks, write_labels(tmp_path / "a" / "labels.csv", truth, first), store)
    after_first = labelled(weeks)
    # the same week's labels again, but only ten of them: the week still reports all it knows
    record(weeks, write_labels(tmp_path / "b" / "labels.csv", truth, first[:10]), store)
    assert labelled(weeks) == after_first
    # the other half arrives: each week now reports on every outcome known
    record(weeks, write_labels(tmp_path / "c" / "labels.csv", truth, second[:25]), store)
    record(weeks, write_labels(tmp_path / "d" / "labels.csv", truth, second[25:]), store)
    known = set(pd.read_parquet(weeks / week_files.OUTCOMES_PARQUET)["disruption_id"])
    assert known == set(ids)
    per_week = rows.groupby("week")["disruption_id"].apply(lambda d: int(d.isin(known).sum()))
    assert labelled(weeks) == per_week.to_dict() == {"2026-W46": 60, "2026-W47": 60}

    # the same outcomes in one extract give the same metrics, whatever order they came in
    at_once = tmp_path / "at_once"
    for week in sorted(weeks.glob("2026-W*")):
        shutil.copytree(week, at_once / week.name)
    record(at_once, write_labels(tmp_path / "e" / "labels.csv", truth, ids), store)
    pd.testing.assert_frame_equal(
        pd.read_csv(weeks / week_files.OUTCOMES_CSV), pd.read_csv(at_once / week_files.OUTCOMES_CSV)
    )


def test_a_label_contradicting_an_earlier_one_is_refused_and_nothing_is_written(
    weeks, store, tmp_path
):
    truth = outcomes_of(scored(weeks)["disruption_id"])
    ids = list(truth.index)
    record(weeks, write_labels(tmp_path / "a" / "labels.csv", truth, ids), store)
    before = digests(weeks)
    flipped = truth.copy()
    flipped.iloc[3] = not flipped.iloc[3]
    later = write_labels(tmp_path / "b" / "later.csv", flipped, ids[:10])
    with pytest.raises(OutcomeConflict, match=rf"{later}: 1 label\(s\) contradict .*{ids[3]}"):
        record(weeks, later, store)
    assert digests(weeks) == before


def test_a_labels_id_with_spaces_around_it_is_refused_not_dropped(tmp_path):
    """Scoring refuses an id with spaces around it; a labels file's would match no scored
    disruption and be dropped without a word, so it is refused, naming the row."""
    from resilience.core.errors import ResilienceError
    from resilience.governance.outcomes import read_labels

    contract = load_data_contract("default")
    path = tmp_path / "labels.csv"
    pd.DataFrame({contract.id_column: ["SYN-D1", "SYN-D2 "], contract.label: [True, False]}).to_csv(
        path, index=False
    )
    with pytest.raises(ResilienceError, match=r"spaces before or after it in row\(s\) 2"):
        read_labels(path, contract, as_of="unchecked")
