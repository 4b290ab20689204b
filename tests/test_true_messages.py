"""Messages that are true (issue 22, item 6): a locked store is "locked by another process", a full
disk is a full disk, a restore is advised only for a damaged file, and no message repeats a key."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_store, run_command, run_score
from test_score_faults import small_filesystem

from resilience.core.errors import ResilienceError


def small_disk(folder: Path, size: str = "2m"):
    """A tmpfs of ``size`` at ``folder`` (root only), yielding whether it could be mounted."""
    return small_filesystem(folder, f"size={size}")


def fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 65536)


def test_a_store_locked_by_another_process_is_said_as_such(tmp_path, monkeypatch):
    from resilience.tracking import store

    database = tmp_path / "mlflow.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE experiments (x)")
    monkeypatch.setattr(store, "STORE_WAIT_SECONDS", 0.2)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing
    try:
        with pytest.raises(ResilienceError) as caught:
            store.check_store(f"sqlite:///{database}")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(caught.value)
    assert "locked by another process" in message and str(database) in message
    assert "restore" not in message and "damaged" not in message


def test_each_store_failure_gets_its_own_cause_and_only_damage_a_restore():
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import OperationalError

    from resilience.tracking.store import mlflow_failure_message

    def wrapped(text: str, name: str) -> OperationalError:
        error = sqlite3.OperationalError(text)
        error.sqlite_errorname = name
        return OperationalError("INSERT INTO runs ...", {}, error)

    uri = "sqlite:////srv/mlflow.db"
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        full = mlflow_failure_message(wrapped("database or disk is full", "SQLITE_FULL"))
        locked = mlflow_failure_message(
            MlflowException("(sqlite3.OperationalError) database is locked")
        )
        damaged = mlflow_failure_message(wrapped("file is not a database", "SQLITE_NOTADB"))
        other = mlflow_failure_message(wrapped("no such column: runs.x", "SQLITE_ERROR"))
    finally:
        mlflow.set_tracking_uri(None)
    assert "is full" in full and "restore" not in full and "/srv/mlflow.db" in full
    assert "locked by another process" in locked and "restore" not in locked
    assert "damaged" in damaged and "restore mlflow.db from backup" in damaged
    assert "restore" not in other and "could not be used" in other
    assert mlflow_failure_message(ValueError("x")) is None


def test_a_full_disk_under_the_decision_log_is_a_full_disk(tmp_path, monkeypatch):
    from resilience.governance import decisions

    monkeypatch.setenv(decisions.KEY_ENV, "test-key-0123456789abcdef")
    with small_disk(tmp_path / "disk") as mounted:
        if not mounted:
            pytest.skip("mounting a small file system needs root")
        week = tmp_path / "disk" / "weekly" / "2026-W47"
        week.mkdir(parents=True)
        pd.DataFrame(
            {
                "rank": [1],
                "disruption_id": ["D1"],
                "line_id": ["L1"],
                "persistence_probability": [0.5],
                "yardstick_band": ["realistic possibility"],
            }
        ).to_parquet(week / "scores.parquet")
        (week / "manifest.json").write_text(
            json.dumps({"model": {"identity": "m/1"}, "input": {"sha256": "ab"}})
        )
        log = tmp_path / "disk" / "decisions.sqlite"
        decisions.append(log, week, "L1", "first", "reason", "role")
        fill(tmp_path / "disk")
        with pytest.raises(ResilienceError) as caught:
            decisions.append(log, week, "L1", "x" * 1900, "y" * 1900, "role")
        message = str(caught.value)
        assert "full" in message and "restore" not in message and "damaged" not in message
        assert str(log) in message or "manifest.json" in message
        (tmp_path / "disk" / "filler").unlink()
        assert decisions.read(log).shape[0] in (1, 2)  # the first decision, whole


def test_a_key_pasted_into_key_file_is_never_echoed(tmp_path):
    secret = "pasted-decision-key-0123456789"
    result = run_command(
        "resilience-decide",
        "verify=true",
        f"key_file={secret}",
        f"log_path={tmp_path / 'decisions.sqlite'}",
        "anchor_in_mlflow=false",
        cwd=tmp_path,
        env={"RESILIENCE_DECISION_KEY": ""},
    )
    assert result.returncode == 2 and "key_file=" in result.stderr
    assert secret not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_full_disk_under_the_store_is_one_true_line_and_the_week_is_complete(
    shared_store, tmp_path
):
    latest = shared_store.weeks()[-1]
    with small_disk(tmp_path / "disk", "64m") as mounted:
        if not mounted:
            pytest.skip("mounting a small file system needs root")
        store = copy_store(shared_store, tmp_path / "disk" / "store")
        fill(tmp_path / "disk")
        result = run_score(store, latest, tmp_path / "weekly", cwd=tmp_path)
        (tmp_path / "disk" / "filler").unlink()
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, lines[
        :5
    ]
    assert "is full" in lines[0] and "restore" not in lines[0] and "not damaged" in lines[0]
    assert f"week {latest.stem} was scored into" in lines[0] and "(complete)" in lines[0]
    assert (tmp_path / "weekly" / latest.stem / "scores.csv").is_file()
