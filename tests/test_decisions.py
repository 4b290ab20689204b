"""Decision log: records append, the chain verifies, edits are detected, concurrent writers lose nothing."""
from __future__ import annotations

import json
import multiprocessing
import sqlite3

import pandas as pd
import pytest

from resilience import decisions
from resilience.errors import ResilienceError


@pytest.fixture()
def week_dir(tmp_path):
    folder = tmp_path / "weekly" / "2026-W47"
    folder.mkdir(parents=True)
    pd.DataFrame({"rank": [2, 1, 3], "disruption_id": ["D1", "D2", "D3"], "line_id": ["L1", "L1", "<b>L2</b>"],
                  "persistence_probability": [0.4, 0.7, 0.2], "yardstick_band": ["realistic possibility", "likely", "unlikely"]}
                 ).to_parquet(folder / "scores.parquet")
    (folder / "manifest.json").write_text(json.dumps({"model": {"identity": "line-resilience/3"}, "input": {"sha256": "ab" * 32}}))
    return folder


def test_append_records_what_the_decision_was_made_on(tmp_path, week_dir):
    log = tmp_path / "decisions.sqlite"
    record = decisions.append(log, week_dir, "L1", "refer to safeguarding hub", "two children identified", "duty-inspector")
    assert record["disruption_id"] == "D2" and record["persistence_probability"] == 0.7  # the line's top-ranked row
    assert record["model"] == "line-resilience/3" and record["input_sha256"] == "ab" * 32
    assert record["prev_hash"] == decisions.GENESIS
    second = decisions.append(log, week_dir, "<b>L2</b>", "no further action", "closed", "analyst")
    assert second["prev_hash"] == record["hash"]
    assert decisions.verify(log).ok and decisions.verify(log).records == 2
    assert [d["line_id"] for d in decisions.decisions_for_week(log, "2026-W47")] == ["L1", "<b>L2</b>"]


def test_unscored_line_or_week_is_refused(tmp_path, week_dir):
    with pytest.raises(ResilienceError, match="was not scored"):
        decisions.append(tmp_path / "d.sqlite", week_dir, "L9", "x", "y", "z")
    with pytest.raises(ResilienceError, match="has not been scored"):
        decisions.append(tmp_path / "d.sqlite", tmp_path / "2026-W01", "L1", "x", "y", "z")
    with pytest.raises(ResilienceError, match="non-empty 'reason'"):
        decisions.append(tmp_path / "d.sqlite", week_dir, "L1", "x", " ", "z")


def test_updates_and_deletes_are_refused(tmp_path, week_dir):
    log = tmp_path / "decisions.sqlite"
    decisions.append(log, week_dir, "L1", "a", "b", "c")
    with sqlite3.connect(log) as connection, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("UPDATE decisions SET decision = 'changed'")
    with sqlite3.connect(log) as connection, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM decisions")


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_tampering_is_detected(tmp_path, week_dir, tamper):
    log = tmp_path / "decisions.sqlite"
    for i in range(4):
        decisions.append(log, week_dir, "L1", f"decision {i}", "reason", "role")
    with sqlite3.connect(log) as connection:  # a tamperer who drops the guards first
        connection.execute("DROP TRIGGER decisions_no_update")
        connection.execute("DROP TRIGGER decisions_no_delete")
        if tamper == "edit":
            connection.execute("UPDATE decisions SET reason = 'rewritten' WHERE seq = 2")
        elif tamper == "delete":
            connection.execute("DELETE FROM decisions WHERE seq = 2")
        else:
            connection.execute("UPDATE decisions SET seq = 99 WHERE seq = 2")
    result = decisions.verify(log)
    assert not result.ok and result.first_bad_seq in (2, 3)


def _writer(args):
    log, week_dir, worker = args
    for i in range(15):
        decisions.append(log, week_dir, "L1", f"worker {worker} decision {i}", "reason", f"role-{worker}")


def test_concurrent_writers_lose_nothing(tmp_path, week_dir):
    log = tmp_path / "decisions.sqlite"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_writer, [(log, week_dir, 0), (log, week_dir, 1)])
    records = decisions.read(log)
    assert len(records) == 30 and records["decision"].nunique() == 30
    assert decisions.verify(log).ok
