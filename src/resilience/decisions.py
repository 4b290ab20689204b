"""The decision log: what a person decided about a scored line, append-only and tamper-evident.

Each record carries what the decision was made on — the line's score and band that week, the model
version and the SHA-256 of the scored extract — and a hash chained to the previous record:
``hash = SHA-256(previous hash + canonical JSON of the record)``. Editing, deleting or reordering
any record breaks every later hash, which :func:`verify` detects. SQLite triggers refuse UPDATE and
DELETE, and appends run in an ``IMMEDIATE`` transaction so concurrent writers (two processes) queue
rather than lose or fork records.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from resilience.errors import ResilienceError

GENESIS = "0" * 64
MAX_TEXT = 2000
FIELDS = ("recorded_utc", "week", "line_id", "disruption_id", "decision", "reason", "by_role",
          "persistence_probability", "yardstick_band", "model", "input_sha256")

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_utc TEXT NOT NULL, week TEXT NOT NULL, line_id TEXT NOT NULL, disruption_id TEXT NOT NULL,
    decision TEXT NOT NULL, reason TEXT NOT NULL, by_role TEXT NOT NULL,
    persistence_probability REAL NOT NULL, yardstick_band TEXT NOT NULL,
    model TEXT NOT NULL, input_sha256 TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE
);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
"""


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    message: str = ""


def record_hash(prev_hash: str, record: dict) -> str:
    """The chained hash of one record (canonical JSON: sorted keys, no spaces)."""
    body = json.dumps({k: record[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    connection.execute("PRAGMA busy_timeout = 60000")
    connection.executescript(SCHEMA)
    return connection


def scored_line(week_dir: Path, line_id: str) -> dict:
    """What the week's scoring said about a line (its highest-ranked disruption that week)."""
    scores_path, manifest_path = week_dir / "scores.parquet", week_dir / "manifest.json"
    if not scores_path.is_file() or not manifest_path.is_file():
        raise ResilienceError(f"week {week_dir.name} has not been scored (no {scores_path})")
    scores = pd.read_parquet(scores_path, columns=["rank", "disruption_id", "line_id", "persistence_probability",
                                                   "yardstick_band"])
    rows = scores[scores["line_id"] == str(line_id)].sort_values("rank")
    if rows.empty:
        raise ResilienceError(f"line {line_id!r} was not scored in week {week_dir.name}")
    manifest = json.loads(manifest_path.read_text())
    row = rows.iloc[0]
    return {"disruption_id": str(row["disruption_id"]), "persistence_probability": float(row["persistence_probability"]),
            "yardstick_band": str(row["yardstick_band"]), "model": str(manifest["model"]["identity"]),
            "input_sha256": str(manifest["input"]["sha256"])}


def append(log_path: str | Path, week_dir: str | Path, line_id: str, decision: str, reason: str, by_role: str,
           now: datetime | None = None) -> dict:
    """Append one decision about a scored line; returns the stored record with its hash."""
    week_dir = Path(week_dir)
    for name, text in (("decision", decision), ("reason", reason), ("by", by_role)):
        if not str(text or "").strip():
            raise ResilienceError(f"a decision needs a non-empty '{name}'")
        if len(str(text)) > MAX_TEXT:
            raise ResilienceError(f"'{name}' is longer than {MAX_TEXT} characters")
    record = {
        "recorded_utc": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "week": week_dir.name, "line_id": str(line_id), "decision": str(decision).strip(),
        "reason": str(reason).strip(), "by_role": str(by_role).strip(), **scored_line(week_dir, line_id),
    }
    connection = _connect(Path(log_path))
    try:
        connection.execute("BEGIN IMMEDIATE")  # one writer at a time: the chain never forks
        last = connection.execute("SELECT hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
        record["prev_hash"] = last[0] if last else GENESIS
        record["hash"] = record_hash(record["prev_hash"], record)
        columns = (*FIELDS, "prev_hash", "hash")
        connection.execute(f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                           [record[c] for c in columns])
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return record


def read(log_path: str | Path) -> pd.DataFrame:
    """Every record, in order."""
    path = Path(log_path)
    if not path.is_file():
        return pd.DataFrame(columns=["seq", *FIELDS, "prev_hash", "hash"])
    connection = _connect(path)
    try:
        return pd.read_sql_query("SELECT * FROM decisions ORDER BY seq", connection)
    finally:
        connection.close()


def verify(log_path: str | Path) -> Verification:
    """Recompute the chain; the first record whose hash or link does not match is reported."""
    records = read(log_path)
    previous = GENESIS
    for record in records.to_dict("records"):
        if record["prev_hash"] != previous:
            return Verification(False, len(records), int(record["seq"]),
                                f"record {record['seq']} does not follow record before it (a record was removed or reordered)")
        if record_hash(previous, record) != record["hash"]:
            return Verification(False, len(records), int(record["seq"]),
                                f"record {record['seq']} was changed after it was written")
        previous = record["hash"]
    return Verification(True, len(records), None, f"{len(records)} record(s); the chain is intact")


def decisions_for_week(log_path: str | Path, week: str) -> list[dict]:
    """The decisions recorded about a week's lines (for the next week's report)."""
    records = read(log_path)
    if records.empty:
        return []
    chosen = records[records["week"] == week]
    return [{"line_id": r["line_id"], "decision": r["decision"], "reason": r["reason"], "by": r["by_role"],
             "at": r["recorded_utc"]} for r in chosen.to_dict("records")]
