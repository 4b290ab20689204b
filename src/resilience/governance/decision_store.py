"""The decision log's SQLite file: its tables and append-only guards, its identity, and what to say
when the file cannot be used.

The log is one SQLite file with two tables, both append-only (triggers refuse UPDATE and DELETE):
``decisions`` (the hash-chained, signed records) and ``log_identity`` (one row: the log's random
``log_id``, when it was made and, for a log made before identities existed, how many records it
held then; signed with the log's key). Anchors are keyed by that id, not by the file's path, so
a moved project still finds its anchors and a log swapped for another (or an older copy) cannot
pass for the one the anchors saw. A new log is created whole (built beside its name and linked
into place). A log whose tables or triggers are missing is reported, never silently repaired.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from resilience.core.errors import ResilienceError, sqlite_cause

GENESIS = "0" * 64
BUSY_SECONDS = 60
FIELDS = (
    "recorded_utc",
    "week",
    "line_id",
    "disruption_id",
    "decision",
    "reason",
    "by_role",
    "persistence_probability",
    "yardstick_band",
    "model",
    "input_sha256",
)
RECORD_TABLE = """
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_utc TEXT NOT NULL, week TEXT NOT NULL, line_id TEXT NOT NULL, disruption_id TEXT NOT NULL,
    decision TEXT NOT NULL, reason TEXT NOT NULL, by_role TEXT NOT NULL,
    persistence_probability REAL NOT NULL, yardstick_band TEXT NOT NULL,
    model TEXT NOT NULL, input_sha256 TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, signature TEXT NOT NULL
);
"""
GUARDS = """
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
"""
# one statement each: they also run inside an append's transaction (executescript would commit it)
IDENTITY_STATEMENTS = (
    """CREATE TABLE log_identity (
    log_id TEXT PRIMARY KEY, created_utc TEXT NOT NULL,
    records_before INTEGER NOT NULL, head_before TEXT NOT NULL, signature TEXT NOT NULL
)""",
    """CREATE TRIGGER log_identity_no_update BEFORE UPDATE ON log_identity
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END""",
    """CREATE TRIGGER log_identity_no_delete BEFORE DELETE ON log_identity
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END""",
)
SCHEMA = RECORD_TABLE + GUARDS  # what logs made before identities hold
TRIGGERS = ("decisions_no_update", "decisions_no_delete")
IDENTITY_TRIGGERS = ("log_identity_no_update", "log_identity_no_delete")


def sign(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` with the log's key."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def failure(path: Path, exc: BaseException, doing: str = "used") -> ResilienceError:
    """One message for an SQLite failure on the log, with the right cause: only a damaged file is
    worth restoring from backup; a locked log, a full disk or a read-only folder is not damage."""
    cause = sqlite_cause(exc)
    if cause == "locked":
        return ResilienceError(
            f"decision log {path} is locked by another process (waited {BUSY_SECONDS} s); nothing "
            "was written. Rerun when that process has finished"
        )
    if cause == "full":
        return ResilienceError(
            f"the disk holding decision log {path} is full; nothing was written. Free some space "
            "and rerun"
        )
    if cause == "damaged":
        return ResilienceError(
            f"decision log {path} is damaged ({exc}); restore it from backup (and run "
            "resilience-decide verify=true on the copy)"
        )
    if cause in ("read-only", "cannot open"):
        return ResilienceError(
            f"decision log {path} cannot be {doing}: the file or its folder is {cause} for this "
            "user (check permissions and the path); nothing was written"
        )
    return ResilienceError(f"decision log {path} cannot be {doing} ({exc}); nothing was written")


def structure_problems(connection: sqlite3.Connection) -> list[str]:
    """Missing table, columns or triggers: evidence of tampering, reported and never repaired."""
    objects = dict(connection.execute("SELECT name, type FROM sqlite_master").fetchall())
    if objects.get("decisions") != "table":
        return ["the 'decisions' table is missing (dropped?)"]
    problems = []
    columns = {row[1] for row in connection.execute("PRAGMA table_info(decisions)")}
    missing = [c for c in (*FIELDS, "seq", "prev_hash", "hash", "signature") if c not in columns]
    if missing:
        problems.append(
            f"column(s) {', '.join(missing)} are missing (a log from an older version, or altered)"
        )
    guards = TRIGGERS + (IDENTITY_TRIGGERS if objects.get("log_identity") == "table" else ())
    gone = [t for t in guards if objects.get(t) != "trigger"]
    if gone:
        problems.append(f"the append-only trigger(s) {', '.join(gone)} were removed")
    return problems


def open_log(path: Path, key: bytes | None = None) -> sqlite3.Connection:
    """An existing log that is whole, or (given the ``key``) a new one. Never repairs a damaged log."""
    if path.is_dir():
        raise ResilienceError(
            f"decision log {path} is a folder, not a file; set log_path to the log's file"
        )
    if not path.exists() and key is None:
        raise ResilienceError(f"decision log {path} does not exist")
    try:
        if not path.exists():
            _create(path, key)
        connection = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
        problems = structure_problems(connection)
    except sqlite3.DatabaseError as exc:
        raise failure(path, exc, "opened") from exc
    except OSError as exc:
        raise ResilienceError(
            f"cannot open decision log {path}: {exc.strerror or exc}; check the path"
        ) from exc
    if problems:
        connection.close()
        raise ResilienceError(
            f"decision log {path} has been tampered with: {'; '.join(problems)}. Nothing was "
            "written; restore it from backup and run resilience-decide verify=true"
        )
    return connection


def _create(path: Path, key: bytes) -> None:
    """A new, empty log with its tables, triggers and signed identity, put in place whole: built
    beside ``path`` and linked to its name, so a concurrent appender never opens a log whose
    tables are not there yet; when another creates it first, theirs is used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        connection = sqlite3.connect(staging, isolation_level=None)
        try:
            connection.executescript(SCHEMA)
            add_identity(connection, key, 0, GENESIS)
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        os.unlink(staging)


def add_identity(connection: sqlite3.Connection, key: bytes, records: int, head: str) -> dict:
    """Give a log its identity (a new log, or one made before identities, inside the caller's
    transaction): a random id, signed with the records it already holds."""
    if not has_identity_table(connection):
        for statement in IDENTITY_STATEMENTS:
            connection.execute(statement)
    row = {
        "log_id": uuid.uuid4().hex,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "records_before": int(records),
        "head_before": head,
    }
    row["signature"] = sign(key, identity_text(row))
    connection.execute(
        "INSERT INTO log_identity (log_id, created_utc, records_before, head_before, signature) "
        "VALUES (:log_id, :created_utc, :records_before, :head_before, :signature)",
        row,
    )
    return row


def identity_text(row: dict) -> str:
    return "decision-log-identity:" + canonical(
        {k: row[k] for k in ("log_id", "created_utc", "records_before", "head_before")}
    )


def has_identity_table(connection: sqlite3.Connection) -> bool:
    return bool(
        connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log_identity'"
        ).fetchone()
    )


def identity(connection: sqlite3.Connection) -> dict | None:
    """The log's identity row, or None for a log made before identities."""
    if not has_identity_table(connection):
        return None
    rows = connection.execute(
        "SELECT log_id, created_utc, records_before, head_before, signature FROM log_identity"
    ).fetchall()
    keys = ("log_id", "created_utc", "records_before", "head_before", "signature")
    return dict(zip(keys, rows[0])) if len(rows) == 1 else {"log_id": None, "rows": len(rows)}


def head(connection: sqlite3.Connection) -> tuple[int, str]:
    """The number of records and the newest record's hash."""
    count, last = connection.execute(
        "SELECT COUNT(*), (SELECT hash FROM decisions ORDER BY seq DESC LIMIT 1) FROM decisions"
    ).fetchone()
    return int(count), last or GENESIS
