"""The decision log: what a person decided about a scored line, append-only and tamper-evident.

Each record carries what the decision was made on — the line's score and band that week, the model
version and the SHA-256 of the scored extract — and three guards:

* a **hash chain**: ``hash = SHA-256(previous hash + canonical JSON of the record)``, so editing,
  deleting or reordering a record breaks every later link;
* a **signature**: ``HMAC-SHA256(key, hash)`` with a key kept *outside* the log
  (``$RESILIENCE_DECISION_KEY`` or a ``key_file``), so someone who can write the file cannot append
  a record or re-chain history with recomputed hashes;
* **anchors** outside the database: after every append the record count and head hash are written
  into the week's ``manifest.json`` (``decision_log_anchors``) and, by ``resilience-decide``, as an
  MLflow experiment tag; scoring writes the same into each week's manifest (``decision_log``). A log
  cut back (last records deleted, tail truncated, table emptied, file deleted) disagrees with them.

SQLite triggers refuse UPDATE and DELETE; appends run in an ``IMMEDIATE`` transaction so concurrent
writers queue rather than fork the chain. The schema is created only for a new file: a log whose
table or triggers are missing is reported, never silently repaired. Appending and verifying need
the key; a log without it cannot be trusted, so there is no unsigned mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.core.week_files import MANIFEST, SCORES_PARQUET
from resilience.data.io import write_text_atomic

GENESIS = "0" * 64
MAX_TEXT = 2000
KEY_ENV = "RESILIENCE_DECISION_KEY"
MIN_KEY_CHARS = 16
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
TRIGGERS = ("decisions_no_update", "decisions_no_delete")

SCHEMA = """
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_utc TEXT NOT NULL, week TEXT NOT NULL, line_id TEXT NOT NULL, disruption_id TEXT NOT NULL,
    decision TEXT NOT NULL, reason TEXT NOT NULL, by_role TEXT NOT NULL,
    persistence_probability REAL NOT NULL, yardstick_band TEXT NOT NULL,
    model TEXT NOT NULL, input_sha256 TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, signature TEXT NOT NULL
);
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
"""


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    message: str = ""
    failures: tuple[str, ...] = field(default_factory=tuple)


def record_hash(prev_hash: str, record: dict) -> str:
    """The chained hash of one record (canonical JSON: sorted keys, no spaces)."""
    body = json.dumps(
        {k: record[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def sign(key: bytes, chained_hash: str) -> str:
    """HMAC-SHA256 of a record's chained hash with the log's key."""
    return hmac.new(key, chained_hash.encode("ascii"), hashlib.sha256).hexdigest()


def signing_key(key_file: str | Path | None = None) -> bytes:
    """The signing key: the contents of ``key_file`` if given, else ``$RESILIENCE_DECISION_KEY``."""
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ResilienceError(
                f"cannot read the decision-log key file {key_file}: {exc}"
            ) from exc
        source = f"key file {key_file}"
    else:
        text = os.environ.get(KEY_ENV, "").strip()
        source = f"${KEY_ENV}"
    if not text:
        raise ResilienceError(
            f"no signing key for the decision log: set {KEY_ENV} or key_file=<path> to a secret "
            "kept outside the log (e.g. in the force's secret store); the log is never unsigned"
        )
    if len(text) < MIN_KEY_CHARS:
        raise ResilienceError(
            f"the decision-log key from {source} is shorter than {MIN_KEY_CHARS} characters"
        )
    return text.encode("utf-8")


def _damaged(path: Path, reason: object) -> ResilienceError:
    return ResilienceError(
        f"decision log {path} cannot be read ({reason}); restore it from backup "
        "(and run resilience-decide verify=true on the copy)"
    )


def _structure_problems(connection: sqlite3.Connection) -> list[str]:
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
    gone = [t for t in TRIGGERS if objects.get(t) != "trigger"]
    if gone:
        problems.append(f"the append-only trigger(s) {', '.join(gone)} were removed")
    return problems


def _open(path: Path, create: bool = False) -> sqlite3.Connection:
    """An existing log that is whole, or (``create``) a new one. Never repairs a damaged log."""
    if path.is_dir():
        raise ResilienceError(
            f"decision log {path} is a folder, not a file; set log_path to the log's file"
        )
    if not path.exists() and not create:
        raise ResilienceError(f"decision log {path} does not exist")
    try:
        if not path.exists():
            _create(path)
        connection = sqlite3.connect(path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 60000")
        problems = _structure_problems(connection)
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from exc
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


def _create(path: Path) -> None:
    """A new, empty log with its tables and triggers, put in place whole: built beside ``path`` and
    linked to its name, so a concurrent appender never opens a log whose tables are not there yet
    (and read that as tampering); when another creates it first, theirs is used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        connection = sqlite3.connect(staging, isolation_level=None)
        try:
            connection.executescript(SCHEMA)
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        os.unlink(staging)


def scored_line(week_dir: Path, line_id: str) -> dict:
    """What the week's scoring said about a line (its highest-ranked disruption that week)."""
    scores_path, manifest_path = week_dir / SCORES_PARQUET, week_dir / MANIFEST
    if not scores_path.is_file() or not manifest_path.is_file():
        raise ResilienceError(f"week {week_dir.name} has not been scored (no {scores_path})")
    try:
        scores = pd.read_parquet(
            scores_path,
            columns=[
                "rank",
                "disruption_id",
                "line_id",
                "persistence_probability",
                "yardstick_band",
            ],
        )
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise ResilienceError(
            f"{scores_path} cannot be read ({type(exc).__name__}); rescore week "
            f"{week_dir.name} with resilience-score ... overwrite=true"
        ) from exc
    rows = scores[scores["line_id"] == str(line_id)].sort_values("rank")
    if rows.empty:
        raise ResilienceError(f"line {line_id!r} was not scored in week {week_dir.name}")
    manifest = _read_manifest(manifest_path)
    row = rows.iloc[0]
    try:
        model, sha = str(manifest["model"]["identity"]), str(manifest["input"]["sha256"])
    except (KeyError, TypeError) as exc:
        raise ResilienceError(
            f"{manifest_path} lacks the model or input record; rescore week {week_dir.name} "
            "with resilience-score ... overwrite=true"
        ) from exc
    return {
        "disruption_id": str(row["disruption_id"]),
        "persistence_probability": float(row["persistence_probability"]),
        "yardstick_band": str(row["yardstick_band"]),
        "model": model,
        "input_sha256": sha,
    }


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResilienceError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); rescore the week with "
            "resilience-score ... overwrite=true"
        ) from exc
    if not isinstance(manifest, dict):
        raise ResilienceError(
            f"{path} is not a manifest (a JSON object); rescore the week with overwrite=true"
        )
    return manifest


def _check_text(decision: str, reason: str, by_role: str) -> None:
    for name, text in (("decision", decision), ("reason", reason), ("by", by_role)):
        if not str(text or "").strip():
            raise ResilienceError(f"a decision needs a non-empty '{name}'")
        if len(str(text)) > MAX_TEXT:
            raise ResilienceError(f"'{name}' is longer than {MAX_TEXT} characters")


def append(
    log_path: str | Path,
    week_dir: str | Path,
    line_id: str,
    decision: str,
    reason: str,
    by_role: str,
    now: datetime | None = None,
    key: bytes | None = None,
) -> dict:
    """Append one signed decision about a scored line; returns the stored record (with its hash,
    signature and the log's new ``anchor``). The anchor is also added to the week's manifest."""
    week_dir, path = Path(week_dir), Path(log_path)
    _check_text(decision, reason, by_role)
    key = key or signing_key()
    record = {
        "recorded_utc": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "week": week_dir.name,
        "line_id": str(line_id),
        "decision": str(decision).strip(),
        "reason": str(reason).strip(),
        "by_role": str(by_role).strip(),
        **scored_line(week_dir, line_id),
    }
    manifest_path = week_dir / MANIFEST
    if not path.exists():  # a new log must not silently replace one the week already saw
        _refuse_a_lost_log(path, _read_manifest(manifest_path), manifest_path)
    connection = _open(path, create=True)
    try:
        connection.execute("BEGIN IMMEDIATE")  # one writer at a time: the chain never forks
        _insert(connection, record, key, path)
        # under the log's write lock, so concurrent appenders do not lose each other's anchors
        manifest = _read_manifest(manifest_path)
        manifest.setdefault("decision_log_anchors", []).append(record["anchor"])
        write_text_atomic(manifest_path, json.dumps(manifest, indent=2, default=str))
        connection.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise _damaged(path, exc) from exc
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return record


def _refuse_a_lost_log(path: Path, manifest: dict, manifest_path: Path) -> None:
    """A log that does not exist, but that the week's manifest saw records in, was lost."""
    known = [
        a for a in _manifest_anchors(manifest, manifest_path, path) if (a.get("records") or 0) > 0
    ]
    if known:
        raise ResilienceError(
            f"decision log {path} does not exist, but {known[-1]['where']} records "
            f"{known[-1]['records']} decision(s) in it; restore the log from backup"
        )


def _insert(connection: sqlite3.Connection, record: dict, key: bytes, path: Path) -> None:
    """Chain, sign and insert ``record`` (inside the caller's transaction); it gains ``prev_hash``,
    ``hash``, ``signature`` and the log's new ``anchor``."""
    count, last = connection.execute(
        "SELECT COUNT(*), (SELECT hash FROM decisions ORDER BY seq DESC LIMIT 1) FROM decisions"
    ).fetchone()
    record["prev_hash"] = last or GENESIS
    record["hash"] = record_hash(record["prev_hash"], record)
    record["signature"] = sign(key, record["hash"])
    columns = (*FIELDS, "prev_hash", "hash", "signature")
    connection.execute(
        f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [record[c] for c in columns],
    )
    record["anchor"] = {
        "log": str(path.resolve()),
        "records": int(count) + 1,
        "head_hash": record["hash"],
        "at": record["recorded_utc"],
    }


def head(log_path: str | Path) -> dict | None:
    """The log's anchor now: ``{"log", "records", "head_hash"}``; None when there is no log yet."""
    path = Path(log_path)
    if not path.exists():
        return None
    connection = _open(path)
    try:
        count, last = connection.execute(
            "SELECT COUNT(*), (SELECT hash FROM decisions ORDER BY seq DESC LIMIT 1) FROM decisions"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from exc
    finally:
        connection.close()
    return {"log": str(path.resolve()), "records": int(count), "head_hash": last or GENESIS}


def read(log_path: str | Path) -> pd.DataFrame:
    """Every record, in order (an empty frame when there is no log yet). Never creates or repairs."""
    path = Path(log_path)
    if not path.exists():
        return pd.DataFrame(columns=["seq", *FIELDS, "prev_hash", "hash", "signature"])
    connection = _open(path)
    try:
        return pd.read_sql_query("SELECT * FROM decisions ORDER BY seq", connection)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise _damaged(path, exc) from exc
    finally:
        connection.close()


def _manifest_anchors(manifest: dict, where: Path, log_path: Path) -> list[dict]:
    """Anchors of ``log_path`` in one week manifest (from scoring and from appends)."""
    found = []
    scored = manifest.get("decision_log")
    entries = ([("scoring", scored)] if isinstance(scored, dict) else []) + [
        ("append", a) for a in manifest.get("decision_log_anchors") or [] if isinstance(a, dict)
    ]
    target = str(log_path.resolve())
    for kind, anchor in entries:
        if anchor.get("log") == target:
            found.append({**anchor, "where": f"{where} ({kind})"})
    return found


def week_anchors(output_root: str | Path, log_path: str | Path) -> list[dict]:
    """Every anchor of ``log_path`` recorded in the week manifests under ``output_root``."""
    root, anchors = Path(output_root), []
    if not root.is_dir():
        return anchors
    for manifest_path in sorted(root.glob(f"*/{MANIFEST}")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            anchors.append(
                {"records": None, "head_hash": None, "where": f"{manifest_path} (unreadable)"}
            )
            continue
        if isinstance(manifest, dict):
            anchors += _manifest_anchors(manifest, manifest_path, Path(log_path))
    return anchors


def _chain_failures(records: pd.DataFrame, key: bytes) -> tuple[list[str], int | None]:
    failures, first_bad, previous = [], None, GENESIS
    for record in records.to_dict("records"):
        seq = int(record["seq"])
        if record["prev_hash"] != previous:
            failures.append(
                f"record {seq} does not follow the record before it (a record was removed or reordered)"
            )
        elif record_hash(previous, record) != record["hash"]:
            failures.append(f"record {seq} was changed after it was written")
        elif not hmac.compare_digest(str(record["signature"] or ""), sign(key, record["hash"])):
            failures.append(f"record {seq} is not signed with the log's key (forged or re-chained)")
        if failures and first_bad is None:
            first_bad = seq
        if failures:
            break
        previous = record["hash"]
    return failures, first_bad


def _anchor_failures(records: pd.DataFrame, anchors: list[dict]) -> list[str]:
    failures = []
    hashes = records["hash"].tolist()
    for anchor in anchors:
        count, expected = anchor.get("records"), anchor.get("head_hash")
        if count is None:
            failures.append(f"anchor {anchor.get('where')} cannot be read")
        elif count > len(hashes):
            failures.append(
                f"{anchor['where']} recorded {count} record(s) but the log has {len(hashes)}: "
                "records were removed from the end"
            )
        elif count > 0 and hashes[count - 1] != expected:
            failures.append(
                f"record {count} differs from the head recorded in {anchor['where']}: history was rewritten"
            )
    return failures


def verify(
    log_path: str | Path, key: bytes | None = None, anchors: list[dict] | tuple = ()
) -> Verification:
    """Check the file, the table and triggers, the chain, every signature and every anchor."""
    path = Path(log_path)
    key = key or signing_key()
    if not path.exists():
        return Verification(
            False,
            0,
            None,
            f"decision log {path} does not exist",
            (f"decision log {path} does not exist",),
        )
    try:
        connection = _open(path)
    except ResilienceError as exc:
        return Verification(False, 0, None, str(exc), (str(exc),))
    try:
        records = pd.read_sql_query("SELECT * FROM decisions ORDER BY seq", connection)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        message = str(_damaged(path, exc))
        return Verification(False, 0, None, message, (message,))
    finally:
        connection.close()
    failures, first_bad = _chain_failures(records, key)
    failures += _anchor_failures(records, list(anchors))
    if failures:
        return Verification(False, len(records), first_bad, "; ".join(failures), tuple(failures))
    checked = f", matching {len(anchors)} anchor(s)" if anchors else ", no anchors to compare with"
    return Verification(
        True,
        len(records),
        None,
        f"{len(records)} record(s); the chain is intact and every record is signed{checked}",
    )


def decisions_for_week(log_path: str | Path, week: str) -> list[dict]:
    """The decisions recorded about a week's lines (for the next week's report)."""
    records = read(log_path)
    if records.empty:
        return []
    chosen = records[records["week"] == week]
    return [
        {
            "line_id": r["line_id"],
            "decision": r["decision"],
            "reason": r["reason"],
            "by": r["by_role"],
            "at": r["recorded_utc"],
        }
        for r in chosen.to_dict("records")
    ]
