"""Known outcomes per disruption: recorded against the last estimate, merged, never contradicted;
shown on the report's line board; written by resilience-outcomes beside outcomes.csv."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_command
from test_report import parse, visible_text, write_fake_week

from resilience.core import week_files
from resilience.core.errors import ResilienceError
from resilience.core.yardstick import band
from resilience.data.contract import load_data_contract
from resilience.governance.outcomes import (
    OutcomeConflict,
    read_labels,
    read_outcomes,
    update_outcomes,
    write_outcomes,
)
from resilience.report import ReportSettings, load_week, render_html, report_context


def write_scores(folder: Path, rows: list[tuple[str, str, float]], ranges: bool = False) -> Path:
    """A minimal scored week: (disruption_id, line_id, probability) rows, ranked."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["disruption_id", "line_id", "persistence_probability"])
    frame = frame.sort_values("persistence_probability", ascending=False).reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame["yardstick_band"] = [band(p) for p in frame["persistence_probability"]]
    if ranges:
        frame["probability_low"] = frame["persistence_probability"] - 0.1
        frame["probability_high"] = frame["persistence_probability"] + 0.1
    frame.to_parquet(folder / week_files.SCORES_PARQUET, index=False)
    return folder


def labels(**outcomes: bool) -> pd.DataFrame:
    return pd.DataFrame({"disruption_id": list(outcomes), "outcome": list(outcomes.values())})


def record(root: Path, known: pd.DataFrame, source: str = "labels.csv") -> tuple[pd.DataFrame, int]:
    frame, added = update_outcomes(root, known, source)
    write_outcomes(frame, root / week_files.OUTCOMES_PARQUET)
    return frame, added


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def disrupted_earlier(folder: Path, weeks: int = 52) -> None:
    """Move a scored week's disruption dates ``weeks`` back, so their outcomes can be known by
    now (a label of a disruption less than the horizon before today is refused)."""
    path = folder / week_files.SCORES_PARQUET
    scores = pd.read_parquet(path)
    dates = pd.to_datetime(scores["disruption_date"]) - pd.Timedelta(weeks=weeks)
    scores.assign(disruption_date=dates.dt.strftime("%Y-%m-%d")).to_parquet(path, index=False)


@pytest.fixture()
def root(tmp_path) -> Path:
    """D1 open in both weeks (estimate moved from 30% to 62%, with a range in the later week);
    D2 only in the first week; D3 only in the second."""
    write_scores(tmp_path / "2026-W45", [("D1", "L1", 0.30), ("D2", "L2", 0.71)])
    write_scores(tmp_path / "2026-W46", [("D1", "L1", 0.62), ("D3", "L3", 0.15)], ranges=True)
    return tmp_path


def test_each_outcome_is_recorded_against_the_last_estimate(root):
    known, added = record(root, labels(D1=True, D2=False, D9=True))
    assert added == 2 and list(known["disruption_id"]) == [
        "D1",
        "D2",
    ]  # D9 was never scored: nothing estimated
    d1, d2 = known.set_index("disruption_id").loc["D1"], known.set_index("disruption_id").loc["D2"]
    assert (d1["week"], d1["persistence_probability"], d1["yardstick_band"]) == (
        "2026-W46",
        0.62,
        "likely",
    )
    assert d1["outcome"] and d1["line_id"] == "L1"
    assert d1["probability_low"] == pytest.approx(0.52) and d1["probability_high"] == pytest.approx(
        0.72
    )
    assert (d2["week"], d2["persistence_probability"], bool(d2["outcome"])) == (
        "2026-W45",
        0.71,
        False,
    )
    assert pd.isna(d2["probability_low"]) and pd.isna(
        d2["probability_high"]
    )  # that week had no ranges
    assert read_outcomes(root / week_files.OUTCOMES_PARQUET).equals(known)


def test_rerun_with_the_same_labels_writes_identical_bytes(root):
    record(root, labels(D1=True, D2=False))
    first = digest(root / week_files.OUTCOMES_PARQUET)
    _, added = record(root, labels(D2=False, D1=True))
    assert added == 0 and digest(root / week_files.OUTCOMES_PARQUET) == first


def test_new_labels_add_rows_and_recorded_estimates_are_kept(root):
    record(root, labels(D1=True))
    # a later week rescores D1 (an extract that lagged): what we had estimated when its outcome
    # became known is not rewritten
    write_scores(root / "2026-W47", [("D1", "L1", 0.10), ("D3", "L3", 0.44)])
    known, added = record(root, labels(D3=False, D1=True))
    assert added == 1 and list(known["disruption_id"]) == ["D1", "D3"]
    rows = known.set_index("disruption_id")
    assert (rows.at["D1", "week"], rows.at["D1", "persistence_probability"]) == ("2026-W46", 0.62)
    assert (rows.at["D3", "week"], rows.at["D3", "persistence_probability"]) == ("2026-W47", 0.44)


def test_a_contradicting_label_is_refused_naming_the_files_and_ids(root):
    record(root, labels(D1=True, D2=False))
    before = digest(root / week_files.OUTCOMES_PARQUET)
    with pytest.raises(OutcomeConflict) as caught:
        update_outcomes(root, labels(D1=False, D2=False, D3=True), "later_labels.csv")
    message = str(caught.value)
    assert "later_labels.csv" in message and str(root / week_files.OUTCOMES_PARQUET) in message
    assert "D1" in message and "D2" not in message and "D3" not in message
    assert digest(root / week_files.OUTCOMES_PARQUET) == before


def test_a_labels_extract_contradicting_itself_is_refused(tmp_path):
    contract = load_data_contract("default")
    path = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "disruption_id": ["D1", "D2", "D1", "D2"],
            "persisted_12w": ["true", "false", "false", "false"],
        }
    ).to_csv(path, index=False)
    with pytest.raises(OutcomeConflict) as caught:
        read_labels(path, contract)
    assert str(caught.value).startswith(  # the file, the column and the rows that disagree
        f"{path}: column 'persisted_12w': disruption(s) D1 labelled both true and false "
        "(D1 in rows 1, 3)"
    )
    path.write_text("disruption_id,persisted_12w\nD1,true\nD1,true\nD2,false\n")
    assert read_labels(path, contract).to_dict("list") == {
        "disruption_id": ["D1", "D2"],
        "outcome": [True, False],
        "row": [1, 3],  # the extract's first row of each (named when a label is refused)
    }


@pytest.mark.parametrize(
    "text", ["disruption_id,persisted_12w\n", "disruption_id,persisted_12w\nD1,\nD2,\n"]
)
def test_a_labels_extract_holding_no_outcome_is_refused(tmp_path, text):
    """A header-only labels file, or one whose labels are all empty, rewrote outcomes.csv and
    logged a run of nothing: refused, naming the file and the label column."""
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ResilienceError, match="no row holds an outcome in 'persisted_12w'") as e:
        read_labels(path, load_data_contract("default"), as_of="unchecked")
    assert str(e.value).startswith(str(path))


def test_a_labels_extract_of_no_scored_disruption_is_refused_and_nothing_written(root, tmp_path):
    """The wrong labels file (another world's ids) recorded nothing and said "0 new": refused,
    naming the file, the column and its first row; one matching id is enough to go on."""
    record(root, labels(D1=True))
    before = digest(root / week_files.OUTCOMES_PARQUET)
    path = tmp_path / "other_labels.csv"
    path.write_text("disruption_id,persisted_12w\nX-D1,true\nX-D2,false\n")
    other = read_labels(path, load_data_contract("default"), as_of="unchecked")
    with pytest.raises(ResilienceError) as caught:
        update_outcomes(root, other, str(path))
    assert str(caught.value).startswith(
        f"{path}: column 'disruption_id': none of its 2 labelled disruption(s) was scored in a "
        f"week under {root} (row 1: 'X-D1')"
    )
    assert digest(root / week_files.OUTCOMES_PARQUET) == before
    assert update_outcomes(root, labels(D9=True, D2=False), "labels.csv")[1] == 1


def test_only_the_asked_ids_are_read_and_a_damaged_file_is_named(root):
    record(root, labels(D1=True, D2=False, D3=False))
    path = root / week_files.OUTCOMES_PARQUET
    assert list(read_outcomes(path, ["D2", "D7"])["disruption_id"]) == ["D2"]
    assert read_outcomes(root / "none.parquet").empty
    path.write_bytes(b"not parquet")
    with pytest.raises(ResilienceError, match="outcomes.parquet: cannot be read as Parquet"):
        update_outcomes(root, labels(D1=True), "labels.csv")


# -- the report's line board ----------------------------------------------------------------------
@pytest.fixture()
def report_weeks(tmp_path) -> tuple[Path, Path]:
    previous = write_fake_week(
        tmp_path / "2026-W46", n_lines=30, seed=1, week="2026-W46", first_line=0
    )
    current = write_fake_week(
        tmp_path / "2026-W47", n_lines=40, seed=2, week="2026-W47", first_line=10
    )
    return current, previous


def board_for(current: Path, previous: Path, **settings) -> tuple[dict, str]:
    context = report_context(
        load_week(current), load_week(previous, previous=True), ReportSettings(**settings)
    )
    return context["board"], visible_text(parse(render_html(context)))


def test_board_says_outcome_now_known_against_the_estimate(report_weeks):
    current, previous = report_weeks
    last_week = pd.read_parquet(previous / week_files.SCORES_PARQUET).set_index("disruption_id")
    ids = list(
        last_week.index[:12]
    )  # the fake weeks share no disruption: all of last week's are closed
    outcomes = {d: i % 3 == 0 for i, d in enumerate(ids)}
    record(current.parent, labels(**outcomes))
    board, text = board_for(current, previous, board_lines=5)
    known = board["outcomes"]
    assert known["count"] == 12 and known["persisted"] == 4 and known["waiting"] == 18
    expected = last_week.loc[ids, "persistence_probability"].sum()
    assert known["expected"] == pytest.approx(expected, abs=0.05)
    assert (
        f"Of the 12 lines whose outcome is now known, 4 persisted (still active 12 weeks after the disruption); "
        f"from our estimates we expected about {expected:.0f} (chance alone gives "
    ) in text
    assert len(known["lines"]) == 5  # bounded by the board's limit
    gaps = []
    for line in known["lines"]:
        row = last_week.loc[line["disruption_id"]]
        percent = f"{row['persistence_probability'] * 100:.0f}%"
        words = "persisted" if outcomes[line["disruption_id"]] else "did not persist"
        assert line["line_id"] == row["line_id"] and line["week"] == "2026-W46"
        assert f"{words} \u2014 we estimated {percent} ({row['yardstick_band']})" == line["text"]
        assert f"{words} we estimated {percent} ({row['yardstick_band']})" in text
        gaps.append(abs(outcomes[line["disruption_id"]] - row["persistence_probability"]))
    assert gaps == sorted(gaps, reverse=True)  # furthest from the estimate first


def test_board_works_without_outcomes_and_escapes_the_file(report_weeks):
    current, previous = report_weeks
    board, text = board_for(current, previous)
    assert board["outcomes"] is None and "Outcomes now known" not in text and board["gone"] == 10
    unrelated = pd.DataFrame(
        {
            "disruption_id": ["OTHER"],
            "line_id": ["L9"],
            "outcome": [True],
            "week": ["2026-W01"],
            "persistence_probability": [0.5],
            "yardstick_band": ["realistic possibility"],
        }
    )
    write_outcomes(unrelated, current.parent / week_files.OUTCOMES_PARQUET)
    board, text = board_for(current, previous)
    assert board["outcomes"]["count"] == 0 and board["outcomes"]["lines"] == []
    assert (
        "30 disruptions from last week are no longer open but no outcome has been recorded yet."
        in text
    )
    hostile = "<script>alert(1)</script>"
    first = pd.read_parquet(previous / week_files.SCORES_PARQUET)["disruption_id"].iloc[0]
    frame = pd.DataFrame(
        {
            "disruption_id": [first],
            "line_id": [hostile],
            "outcome": [True],
            "week": ["2026-W46"],
            "persistence_probability": [0.62],
            "yardstick_band": ["likely<b>"],
            "probability_low": [0.5],
            "probability_high": [0.7],
        }
    )
    write_outcomes(frame, current.parent / week_files.OUTCOMES_PARQUET)
    context = report_context(
        load_week(current), load_week(previous, previous=True), ReportSettings()
    )
    html = render_html(context)
    assert hostile not in html and "&lt;script&gt;" in html and "likely<b>" not in html
    text = visible_text(parse(html))
    assert "The outcome of one line is now known: it persisted \u2014 we estimated 62%." in text
    assert "persisted we estimated 62% (likely<b>; plausible range 50\u201370%)" in text


# -- the command ----------------------------------------------------------------------------------
def test_outcomes_command_writes_metrics_and_per_disruption_outcomes(
    report_weeks, tmp_path, mlflow_uri
):
    import mlflow

    mlflow.search_experiments()  # the store exists (commands that read it never create one)
    current, previous = report_weeks
    root = current.parent
    for week in (previous, current):
        disrupted_earlier(week)
    ids = pd.concat(
        [
            pd.read_parquet(w / week_files.SCORES_PARQUET)["disruption_id"]
            for w in (previous, current)
        ]
    )
    path = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "disruption_id": ids,
            "persisted_12w": ["true" if i % 2 else "false" for i in range(len(ids))],
        }
    ).to_csv(path, index=False)
    env = {"MLFLOW_TRACKING_URI": mlflow_uri}
    result = run_command(
        "resilience-outcomes",
        f"input={path}",
        f"output_root={root}",
        "min_rows=10",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(pd.read_csv(root / week_files.OUTCOMES_CSV)["week"]) == {"2026-W46", "2026-W47"}
    known = pd.read_parquet(root / week_files.OUTCOMES_PARQUET)
    assert len(known) == 70 and set(known["disruption_id"]) == set(ids)
    assert known["outcome"].sum() == 35 and set(known["week"]) == {"2026-W46", "2026-W47"}
    assert "70 disruption outcome(s) with their last estimate (70 new)" in result.stdout
    assert "(each week on every outcome known so far, 70, not only this extract's)" in result.stdout
    before = {
        name: digest(root / name) for name in (week_files.OUTCOMES_CSV, week_files.OUTCOMES_PARQUET)
    }
    flipped = pd.read_csv(path).assign(persisted_12w=lambda f: ~f["persisted_12w"])
    flipped.head(3).to_csv(tmp_path / "wrong.csv", index=False)
    result = run_command(
        "resilience-outcomes",
        f"input={tmp_path / 'wrong.csv'}",
        f"output_root={root}",
        f"hydra.run.dir={tmp_path / 'run2'}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "wrong.csv" in result.stderr and str(ids.iloc[0]) in result.stderr
    assert {name: digest(root / name) for name in before} == before  # nothing written


def test_every_row_of_realised_metrics_counts_the_lines_scored_in_its_cohort(tmp_path):
    """The cohort rows said nothing of how many were scored, and the blanks made the column
    decimal (632.0) in outcomes.csv and on the console."""
    from resilience.governance.outcomes import realised_metrics

    week = write_scores(tmp_path / "2026-W45", [(f"D{i}", f"L{i}", i / 10) for i in range(1, 8)])
    scores = pd.read_parquet(week / week_files.SCORES_PARQUET)
    scores["line_type"] = ["imported"] * 3 + ["home_grown"] * 4
    scores.to_parquet(week / week_files.SCORES_PARQUET, index=False)
    known = labels(D1=True, D2=False, D4=True, D5=True, D6=False)
    table = realised_metrics(tmp_path, known, "line_type", min_rows=1).set_index("cohort")
    assert table["scored"].to_dict() == {"all": 7, "home_grown": 4, "imported": 3}
    assert table["scored"].dtype.kind == "i"
