"""Decision log: records append signed, the chain verifies, and every way of rewriting it is caught."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import sqlite3

import pandas as pd
import pytest

from resilience.core.errors import ResilienceError
from resilience.governance import decisions

KEY = "test-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    monkeypatch.setenv(decisions.KEY_ENV, KEY)
    return KEY.encode()


@pytest.fixture()
def week_dir(tmp_path):
    folder = tmp_path / "weekly" / "2026-W47"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "rank": [2, 1, 3],
            "disruption_id": ["D1", "D2", "D3"],
            "line_id": ["L1", "L1", "<b>L2</b>"],
            "persistence_probability": [0.4, 0.7, 0.2],
            "yardstick_band": ["realistic possibility", "likely", "unlikely"],
        }
    ).to_parquet(folder / "scores.parquet")
    (folder / "manifest.json").write_text(
        json.dumps({"model": {"identity": "line-resilience/3"}, "input": {"sha256": "ab" * 32}})
    )
    return folder


def _log_with(tmp_path, week_dir, n=4):
    log = tmp_path / "decisions.sqlite"
    for i in range(n):
        decisions.append(log, week_dir, "L1", f"decision {i}", "reason", "role")
    return log


def _verify(log, week_dir):
    return decisions.verify(log, anchors=decisions.week_anchors(week_dir.parent, log))


def _drop_guards(connection):
    connection.execute("DROP TRIGGER decisions_no_update")
    connection.execute("DROP TRIGGER decisions_no_delete")


def _recreate_guards(connection):
    """A careful tamperer puts the triggers back after editing."""
    connection.executescript(decisions.SCHEMA.split(");", 1)[1])


def test_append_records_what_the_decision_was_made_on(tmp_path, week_dir, signing_key):
    log = tmp_path / "decisions.sqlite"
    record = decisions.append(
        log,
        week_dir,
        "L1",
        "refer to safeguarding hub",
        "two children identified",
        "duty-inspector",
    )
    assert (
        record["disruption_id"] == "D2" and record["persistence_probability"] == 0.7
    )  # the line's top-ranked row
    assert record["model"] == "line-resilience/3" and record["input_sha256"] == "ab" * 32
    assert record["prev_hash"] == decisions.GENESIS
    assert record["signature"] == decisions.sign(signing_key, record["hash"])
    second = decisions.append(log, week_dir, "<b>L2</b>", "no further action", "closed", "analyst")
    assert second["prev_hash"] == record["hash"]
    result = _verify(log, week_dir)
    assert result.ok and result.records == 2 and "2 anchor(s)" in result.message
    assert [d["line_id"] for d in decisions.decisions_for_week(log, "2026-W47")] == [
        "L1",
        "<b>L2</b>",
    ]
    anchors = json.loads((week_dir / "manifest.json").read_text())["decision_log_anchors"]
    assert [(a["records"], a["head_hash"]) for a in anchors] == [
        (1, record["hash"]),
        (2, second["hash"]),
    ]


def test_no_key_no_append_and_a_wrong_key_fails_verification(tmp_path, week_dir, monkeypatch):
    log = _log_with(tmp_path, week_dir, 2)
    assert not decisions.verify(log, key=b"another-key-0123456789").ok
    monkeypatch.delenv(decisions.KEY_ENV)
    with pytest.raises(ResilienceError, match="no signing key"):
        decisions.append(log, week_dir, "L1", "x", "y", "z")
    (tmp_path / "short").write_text("abc")
    with pytest.raises(ResilienceError, match="shorter than 16"):
        decisions.signing_key(tmp_path / "short")
    (tmp_path / "keyfile").write_text(KEY + "\n")
    assert decisions.signing_key(tmp_path / "keyfile") == KEY.encode()


def test_unscored_line_or_week_is_refused(tmp_path, week_dir):
    with pytest.raises(ResilienceError, match="was not scored"):
        decisions.append(tmp_path / "d.sqlite", week_dir, "L9", "x", "y", "z")
    with pytest.raises(ResilienceError, match="has not been scored"):
        decisions.append(tmp_path / "d.sqlite", tmp_path / "2026-W01", "L1", "x", "y", "z")
    with pytest.raises(ResilienceError, match="non-empty 'reason'"):
        decisions.append(tmp_path / "d.sqlite", week_dir, "L1", "x", " ", "z")


def test_updates_and_deletes_are_refused(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir, 1)
    with (
        sqlite3.connect(log) as connection,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        connection.execute("UPDATE decisions SET decision = 'changed'")
    with (
        sqlite3.connect(log) as connection,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        connection.execute("DELETE FROM decisions")


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_tampering_is_detected(tmp_path, week_dir, tamper):
    log = _log_with(tmp_path, week_dir)
    with sqlite3.connect(log) as connection:  # a tamperer who drops the guards first
        _drop_guards(connection)
        if tamper == "edit":
            connection.execute("UPDATE decisions SET reason = 'rewritten' WHERE seq = 2")
        elif tamper == "delete":
            connection.execute("DELETE FROM decisions WHERE seq = 2")
        else:
            connection.execute("UPDATE decisions SET seq = 99 WHERE seq = 2")
        _recreate_guards(connection)
    result = _verify(log, week_dir)
    assert not result.ok and result.first_bad_seq in (2, 3)


def test_deleting_the_last_record_is_caught_by_the_anchors(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir)
    with sqlite3.connect(log) as connection:
        _drop_guards(connection)
        connection.execute("DELETE FROM decisions WHERE seq = 4")
        _recreate_guards(connection)
    assert decisions.verify(log).ok, "the chain alone cannot see a missing tail ..."
    result = _verify(log, week_dir)
    assert not result.ok and "removed from the end" in result.message, "... the anchors can"


def test_truncating_the_tail_with_triggers_left_dropped_is_two_failures(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir)
    with sqlite3.connect(log) as connection:
        _drop_guards(connection)
        connection.execute("DELETE FROM decisions WHERE seq > 2")
    result = _verify(log, week_dir)
    assert not result.ok and "trigger" in result.message
    with pytest.raises(
        ResilienceError, match="tampered"
    ):  # and nobody appends to it, nor repairs it
        decisions.append(log, week_dir, "L1", "x", "y", "z")
    with sqlite3.connect(log) as connection:
        names = {
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
    assert not names, "the triggers were not silently re-created"


def test_an_appended_row_with_a_recomputed_hash_is_caught_by_the_signature(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir)
    records = decisions.read(log)
    forged = {k: records.iloc[-1][k] for k in decisions.FIELDS}
    forged["decision"] = "forged: no further action"
    forged["prev_hash"] = records.iloc[-1]["hash"]
    forged["hash"] = decisions.record_hash(forged["prev_hash"], forged)
    forged["signature"] = hashlib.sha256(forged["hash"].encode()).hexdigest()  # no key: a guess
    columns = (*decisions.FIELDS, "prev_hash", "hash", "signature")
    with sqlite3.connect(log) as connection:  # INSERT is allowed by the triggers
        connection.execute(
            f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [forged[c] for c in columns],
        )
    result = _verify(log, week_dir)
    assert not result.ok and result.first_bad_seq == 5 and "not signed" in result.message


def test_a_rewritten_and_rechained_history_is_caught(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir)
    records = decisions.read(log)
    with sqlite3.connect(log) as connection:
        _drop_guards(connection)
        connection.execute("DELETE FROM decisions")
        previous = decisions.GENESIS
        for record in records.to_dict("records"):
            record["reason"] = "rewritten " + record["reason"]
            record["prev_hash"] = previous
            record["hash"] = previous = decisions.record_hash(previous, record)
            record["signature"] = "0" * 64
            columns = (*decisions.FIELDS, "prev_hash", "hash", "signature")
            connection.execute(
                f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [record[c] for c in columns],
            )
        _recreate_guards(connection)
    result = _verify(log, week_dir)
    assert (
        not result.ok
        and "not signed" in result.message
        and "history was rewritten" in result.message
    )


@pytest.mark.parametrize(
    "damage", ["drop table", "empty table", "delete file", "directory", "garbage"]
)
def test_a_missing_or_damaged_log_is_a_failure_not_zero_records(tmp_path, week_dir, damage):
    log = _log_with(tmp_path, week_dir)
    if damage == "drop table":
        with sqlite3.connect(log) as connection:
            connection.execute("DROP TABLE decisions")
    elif damage == "empty table":
        with sqlite3.connect(log) as connection:
            _drop_guards(connection)
            connection.execute("DELETE FROM decisions")
            _recreate_guards(connection)
    elif damage == "delete file":
        log.unlink()
    elif damage == "directory":
        log.unlink()
        log.mkdir()
    else:
        log.write_bytes(b"this is not a database" * 100)
    result = _verify(log, week_dir)
    assert not result.ok and "0 record(s); the chain is intact" not in result.message
    assert str(log) in result.message or "record" in result.message
    if damage in (
        "delete file",
    ):  # a new, empty log must not silently replace the one the week saw
        with pytest.raises(ResilienceError, match="restore the log from backup"):
            decisions.append(log, week_dir, "L1", "x", "y", "z")
    if damage in ("drop table", "garbage", "directory"):
        with pytest.raises(ResilienceError):
            decisions.read(log)


def test_a_restored_backup_copy_still_verifies(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir, 3)
    backup = tmp_path / "backup.sqlite"
    shutil.copy(log, backup)
    assert decisions.verify(backup).ok


def _writer(args):
    log, week_dir, worker = args
    for i in range(15):
        decisions.append(
            log, week_dir, "L1", f"worker {worker} decision {i}", "reason", f"role-{worker}"
        )


def test_concurrent_writers_lose_nothing(tmp_path, week_dir):
    log = tmp_path / "decisions.sqlite"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_writer, [(log, week_dir, 0), (log, week_dir, 1)])
    records = decisions.read(log)
    assert len(records) == 30 and records["decision"].nunique() == 30
    result = _verify(log, week_dir)
    assert result.ok and "30 anchor(s)" in result.message, "no appender lost another's anchor"


def test_mlflow_anchors_catch_a_cut_log_even_when_the_manifests_are_edited_too(
    tmp_path, week_dir, mlflow_uri
):
    from resilience.tracking import weekly_runs

    log = tmp_path / "decisions.sqlite"
    for i in range(3):
        record = decisions.append(log, week_dir, "L1", f"decision {i}", "reason", "role")
        weekly_runs.anchor_decision_log("weekly-scoring", record["anchor"])
    with sqlite3.connect(log) as connection:
        _drop_guards(connection)
        connection.execute("DELETE FROM decisions WHERE seq = 3")
        _recreate_guards(connection)
    manifest = json.loads((week_dir / "manifest.json").read_text())
    manifest["decision_log_anchors"] = manifest["decision_log_anchors"][
        :2
    ]  # the tamperer edits the week too
    (week_dir / "manifest.json").write_text(json.dumps(manifest))
    assert _verify(log, week_dir).ok, (
        "the log and the week's manifest now agree with each other ..."
    )
    anchors = [
        a
        for a in weekly_runs.decision_log_anchors("weekly-scoring")
        if a["log"] == str(log.resolve())
    ]
    assert len(anchors) == 3
    result = decisions.verify(log, anchors=anchors)
    assert (
        not result.ok and "removed from the end" in result.message and "MLflow" in result.message
    ), "... MLflow does not"
