"""Decision log: records append signed, the chain verifies, and every way of rewriting, cutting or
swapping it is caught, anchors removed included (issue 22, item 3)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sqlite3

import pandas as pd
import pytest

from resilience.core.errors import ResilienceError
from resilience.governance import anchors, decision_checks, decision_store, decisions

KEY = "test-key-0123456789abcdef"
COLUMNS = (*decisions.FIELDS, "prev_hash", "hash", "signature")


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    monkeypatch.setenv(decisions.KEY_ENV, KEY)
    return KEY.encode()


@pytest.fixture()
def week_dir(tmp_path):
    return scored_week(tmp_path / "weekly", "2026-W47")


def scored_week(root, week):
    folder = root / week
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


def _verify(log, week_dir, **kwargs):
    return decision_checks.verify(log, output_root=week_dir.parent, **kwargs)


def _manifest(week_dir):
    return json.loads((week_dir / "manifest.json").read_text())


def _edit_manifest(week_dir, change):
    manifest = _manifest(week_dir)
    change(manifest)
    (week_dir / "manifest.json").write_text(json.dumps(manifest))


def _drop_guards(connection):
    connection.execute("DROP TRIGGER decisions_no_update")
    connection.execute("DROP TRIGGER decisions_no_delete")


def _recreate_guards(connection):
    """A careful tamperer puts the triggers back after editing."""
    connection.executescript(decision_store.GUARDS)


def _delete_last(log, n=1):
    with sqlite3.connect(log) as connection:
        _drop_guards(connection)
        connection.execute(
            "DELETE FROM decisions WHERE seq > (SELECT MAX(seq) FROM decisions) - ?", (n,)
        )
        _recreate_guards(connection)


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
    assert record["disruption_id"] == "D2" and record["persistence_probability"] == 0.7
    assert record["model"] == "line-resilience/3" and record["input_sha256"] == "ab" * 32
    assert record["prev_hash"] == decisions.GENESIS
    assert record["signature"] == decisions.sign(signing_key, record["hash"])
    second = decisions.append(log, week_dir, "<b>L2</b>", "no further action", "closed", "analyst")
    assert second["prev_hash"] == record["hash"]
    result = _verify(log, week_dir)
    assert result.ok and result.records == 2 and "2 anchor(s) in 1 place(s) match" in result.message
    assert [d["line_id"] for d in decisions.decisions_for_week(log, "2026-W47")] == [
        "L1",
        "<b>L2</b>",
    ]
    manifest = _manifest(week_dir)
    stored = manifest["decision_log_anchors"]
    assert [(a["records"], a["head_hash"]) for a in stored] == [
        (1, record["hash"]),
        (2, second["hash"]),
    ]
    assert {a["log_id"] for a in stored} == {result.log_id} and all(a["signature"] for a in stored)
    assert manifest["decision_log_seal"] == {
        result.log_id: anchors.seal(signing_key, result.log_id, stored)
    }


def test_no_key_no_append_and_a_wrong_key_fails_verification(tmp_path, week_dir, monkeypatch):
    log = _log_with(tmp_path, week_dir, 2)
    assert not decision_checks.verify(log, key=b"another-key-0123456789").ok
    monkeypatch.delenv(decisions.KEY_ENV)
    with pytest.raises(ResilienceError, match="no signing key"):
        decisions.append(log, week_dir, "L1", "x", "y", "z")
    (tmp_path / "short").write_text("abc")
    with pytest.raises(ResilienceError, match="shorter than 16"):
        decisions.signing_key(tmp_path / "short")
    (tmp_path / "keyfile").write_text(KEY + "\n")
    assert decisions.signing_key(tmp_path / "keyfile") == KEY.encode()
    with pytest.raises(ResilienceError, match="wrong key"):  # appending with another key
        decisions.append(log, week_dir, "L1", "x", "y", "z", key=b"another-key-0123456789")


def test_a_key_pasted_in_place_of_its_file_is_never_repeated(tmp_path):
    pasted = "s3cr3t-decision-key-pasted-here"
    with pytest.raises(ResilienceError) as caught:
        decisions.signing_key(pasted)
    assert pasted not in str(caught.value) and "key_file=" in str(caught.value)


def test_unscored_line_or_week_is_refused(tmp_path, week_dir):
    with pytest.raises(ResilienceError, match="was not scored"):
        decisions.append(tmp_path / "d.sqlite", week_dir, "L9", "x", "y", "z")
    with pytest.raises(ResilienceError, match="has not been scored"):
        decisions.append(tmp_path / "d.sqlite", tmp_path / "2026-W01", "L1", "x", "y", "z")
    with pytest.raises(ResilienceError, match="non-empty 'reason'"):
        decisions.append(tmp_path / "d.sqlite", week_dir, "L1", "x", " ", "z")


def test_updates_and_deletes_are_refused(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir, 1)
    for statement in (
        "UPDATE decisions SET decision = 'changed'",
        "DELETE FROM decisions",
        "UPDATE log_identity SET log_id = 'other'",
        "DELETE FROM log_identity",
    ):
        with (
            sqlite3.connect(log) as connection,
            pytest.raises(sqlite3.DatabaseError, match="append-only"),
        ):
            connection.execute(statement)


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


def test_deleting_the_last_record_and_its_anchors_everywhere_is_caught(
    tmp_path, week_dir, mlflow_uri
):
    """The attack: delete the last record, remove the anchors with more records from the week's
    manifest and from MLflow. The seals (which take the key to write again) and the remaining
    records' own anchors give it away."""
    from resilience.tracking import weekly_runs

    log = _log_with(tmp_path, week_dir)
    log_id, every = decisions.reanchor(log, week_dir.parent, KEY.encode())
    weekly_runs.write_experiment_tags(
        "weekly-scoring", anchors.mlflow_tags(KEY.encode(), log_id, every)
    )
    _delete_last(log)
    assert decision_checks.verify(log).ok, "the chain alone cannot see a missing tail ..."
    _edit_manifest(week_dir, lambda m: m["decision_log_anchors"].pop())
    result = _verify(log, week_dir)
    assert (
        not result.ok
        and "do not match their seal" in result.message
        and "manifest.json" in result.message
    )
    _edit_manifest(week_dir, lambda m: (m.pop("decision_log_anchors"), m.pop("decision_log_seal")))
    result = _verify(log, week_dir)
    assert not result.ok and "record(s) 1, 2, 3 have no anchor in" in result.message
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name("weekly-scoring")
    tags = weekly_runs.decision_log_tags("weekly-scoring")
    client.delete_experiment_tag(experiment.experiment_id, f"decision_log.{log_id}.000004")
    place = anchors.mlflow_place("weekly-scoring", weekly_runs.decision_log_tags("weekly-scoring"))
    result = decision_checks.verify(log, mlflow=place)
    assert (
        not result.ok
        and "MLflow experiment 'weekly-scoring' do not match their seal" in result.message
    )
    for tag in tags:
        if tag != f"decision_log.{log_id}.000004":
            client.delete_experiment_tag(experiment.experiment_id, tag)
    place = anchors.mlflow_place("weekly-scoring", weekly_runs.decision_log_tags("weekly-scoring"))
    result = decision_checks.verify(log, mlflow=place)
    assert (
        not result.ok and "have no anchor in MLflow experiment 'weekly-scoring'" in result.message
    )


def test_a_log_swapped_for_an_older_copy_fails_and_a_moved_project_still_verifies(
    tmp_path, week_dir
):
    log = _log_with(tmp_path, week_dir, 2)
    older = tmp_path / "older.sqlite"
    shutil.copy(log, older)
    decisions.append(log, week_dir, "L1", "third", "reason", "role")
    log.unlink()
    log.symlink_to(older)  # the log's path now shows the older copy
    result = _verify(log, week_dir)
    assert not result.ok and "recorded 3 record(s) but the log has 2" in result.message
    moved = tmp_path / "moved"  # the project moved, the log and its weeks whole
    shutil.copytree(week_dir.parent, moved / "weekly")
    shutil.copy(older, moved / "decisions.sqlite")
    log.unlink()
    shutil.copy(tmp_path / "moved" / "decisions.sqlite", log)
    result = _verify(log, week_dir)  # still the older copy, wherever it lives
    assert not result.ok and "recorded 3 record(s) but the log has 2" in result.message
    fresh = _log_with(tmp_path / "fresh", scored_week(tmp_path / "fresh" / "weekly", "2026-W47"), 2)
    shutil.copytree(tmp_path / "fresh", tmp_path / "elsewhere")
    shutil.rmtree(tmp_path / "fresh")
    assert fresh.parent.name == "fresh"
    assert decision_checks.verify(
        tmp_path / "elsewhere" / "decisions.sqlite", output_root=tmp_path / "elsewhere" / "weekly"
    ).ok


def test_a_log_replaced_by_another_or_stripped_of_its_identity_fails(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir, 2)
    other_week = scored_week(tmp_path / "other", "2026-W47")
    other = _log_with(tmp_path / "other", other_week, 3)
    result = _verify(other, week_dir)
    assert not result.ok and "anchors another decision log" in result.message
    with sqlite3.connect(log) as connection:
        connection.execute("DROP TABLE log_identity")
    result = _verify(log, week_dir)
    assert not result.ok and "which has no identity" in result.message


def test_a_crash_between_the_commit_and_the_anchor_heals(tmp_path, week_dir, monkeypatch):
    """A record committed whose anchor was never written: verify says so and how to mend it; the
    next append (or reanchor) writes it, and every later verification passes."""
    log = _log_with(tmp_path, week_dir, 2)
    real = decisions._write_week_anchors

    def crash(*args):
        raise KeyboardInterrupt  # the process stops right after the commit

    monkeypatch.setattr(decisions, "_write_week_anchors", crash)
    with pytest.raises(KeyboardInterrupt):
        decisions.append(log, week_dir, "L1", "third", "reason", "role")
    monkeypatch.setattr(decisions, "_write_week_anchors", real)
    result = _verify(log, week_dir)
    assert not result.ok and "record(s) 3 have no anchor" in result.message
    assert "reanchor=true" in result.message
    decisions.append(log, week_dir, "L1", "fourth", "reason", "role")
    assert _verify(log, week_dir).ok
    later = scored_week(week_dir.parent, "2026-W48")
    monkeypatch.setattr(decisions, "_write_week_anchors", crash)
    with pytest.raises(KeyboardInterrupt):
        decisions.append(log, later, "L1", "fifth", "reason", "role")
    monkeypatch.setattr(decisions, "_write_week_anchors", real)
    decisions.append(log, week_dir, "L1", "sixth", "another week's", "role")  # heals W48 too
    assert _verify(log, week_dir).ok
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(decisions, "_write_week_anchors", crash)
        decisions.append(log, later, "L1", "seventh", "reason", "role")
    monkeypatch.setattr(decisions, "_write_week_anchors", real)
    decisions.reanchor(log, week_dir.parent, KEY.encode())
    assert _verify(log, week_dir).ok


def test_a_head_hash_kept_from_a_briefing_is_checked(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir, 3)
    head = decisions.head(log)
    assert head["records"] == 3 and _verify(log, week_dir, heads=[head["head_hash"][:12]]).ok
    _delete_last(log)  # and, with the key, every anchor rolled back too: only the kept head sees it
    result = decision_checks.verify(log, heads=[head["head_hash"][:16]])
    assert not result.ok and "is not in the log" in result.message
    assert "at least 12" in decision_checks.verify(log, heads=["abc"]).message


def test_an_older_log_without_an_identity_gets_one_on_its_next_append(tmp_path, week_dir):
    log = tmp_path / "old.sqlite"
    with sqlite3.connect(log) as connection:
        connection.executescript(decision_store.SCHEMA)
    record = {
        **decisions.scored_line(week_dir, "L1"),
        "recorded_utc": "2026-11-20T10:00:00.000000Z",
    }
    record.update(week="2026-W47", line_id="L1", decision="d", reason="r", by_role="b")
    record["prev_hash"] = decisions.GENESIS
    record["hash"] = decisions.record_hash(decisions.GENESIS, record)
    record["signature"] = decisions.sign(KEY.encode(), record["hash"])
    with sqlite3.connect(log) as connection:
        connection.execute(
            f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [record[c] for c in COLUMNS],
        )
    assert decision_checks.verify(log).ok
    decisions.append(log, week_dir, "L1", "after the upgrade", "reason", "role")
    result = _verify(log, week_dir)
    assert result.ok and result.log_id and result.records == 2


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
    assert names == set(decision_store.IDENTITY_TRIGGERS), (
        "the triggers were not silently re-created"
    )


def test_an_appended_row_with_a_recomputed_hash_is_caught_by_the_signature(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir)
    records = decisions.read(log)
    forged = {k: records.iloc[-1][k] for k in decisions.FIELDS}
    forged["decision"] = "forged: no further action"
    forged["prev_hash"] = records.iloc[-1]["hash"]
    forged["hash"] = decisions.record_hash(forged["prev_hash"], forged)
    forged["signature"] = hashlib.sha256(forged["hash"].encode()).hexdigest()  # no key: a guess
    with sqlite3.connect(log) as connection:  # INSERT is allowed by the triggers
        connection.execute(
            f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [forged[c] for c in COLUMNS],
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
            connection.execute(
                f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [record[c] for c in COLUMNS],
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
    assert not result.ok and "the chain is intact" not in result.message
    assert str(log) in result.message or "record" in result.message
    if damage == "delete file":  # a new, empty log must not silently replace the one the week saw
        with pytest.raises(ResilienceError, match="restore the log from backup"):
            decisions.append(log, week_dir, "L1", "x", "y", "z")
    if damage == "garbage":
        assert "is damaged" in result.message and "restore it from backup" in result.message
    if damage in ("drop table", "garbage", "directory"):
        with pytest.raises(ResilienceError):
            decisions.read(log)


def test_a_restored_backup_copy_still_verifies(tmp_path, week_dir):
    log = _log_with(tmp_path, week_dir, 3)
    backup = tmp_path / "backup.sqlite"
    shutil.copy(log, backup)
    assert decision_checks.verify(backup).ok


def test_a_locked_log_or_a_full_disk_is_said_as_such_never_as_damage(
    tmp_path, week_dir, monkeypatch
):
    log = _log_with(tmp_path, week_dir, 1)
    monkeypatch.setattr(decision_store, "BUSY_SECONDS", 0.2)
    holder = sqlite3.connect(log, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        with pytest.raises(ResilienceError) as caught:
            decisions.append(log, week_dir, "L1", "x", "y", "z")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked by another process" in str(caught.value) and "restore" not in str(caught.value)
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"
    message = str(decision_store.failure(log, full, "written"))
    assert "disk holding decision log" in message and "full" in message and "restore" not in message
    assert _verify(log, week_dir).ok


def test_an_append_waits_for_the_week_being_scored(tmp_path, week_dir, monkeypatch):
    from resilience.core.locks import hold
    from resilience.core.week_files import lock_file

    monkeypatch.setattr(decisions, "WEEK_WAIT_SECONDS", 0.3)
    with hold(lock_file(week_dir.parent, week_dir.name), "scoring"):
        with pytest.raises(ResilienceError, match="in use by another process.*being scored"):
            decisions.append(tmp_path / "d.sqlite", week_dir, "L1", "x", "y", "z")
    assert not (tmp_path / "d.sqlite").exists() or decisions.read(tmp_path / "d.sqlite").empty


def _writer(args):
    log, week_dir, worker = args
    os.environ[decisions.KEY_ENV] = KEY
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


def test_the_confirmation_of_a_hostile_decision_is_one_inert_line(tmp_path, week_dir):
    """What resilience-decide prints back: the text as stored, its line breaks, terminal escapes
    and right-to-left overrides written as escapes, so the terminal shows one plain line."""
    from resilience.cli.decide import confirmation

    typed = "joint\nvisit \x1b[2J\x1b[31mnow \u202eexe.txt <b>=cmd|' /C calc'!A0"
    record = decisions.append(tmp_path / "log.sqlite", week_dir, "L1", typed, "r", "duty\nrole")
    assert record["decision"] == typed, "the log keeps the text as written"
    line = confirmation(record)
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert (
        "decided 'joint\\nvisit \\x1b[2J\\x1b[31mnow \\u202eexe.txt <b>=cmd|' /C calc'!A0'" in line
    )
    assert line.startswith("recorded: duty\\nrole decided")
