"""The decision log: what a person decided about a scored line, append-only and tamper-evident.

Each record carries what the decision was made on — the line's score and band that week, the model
version and the SHA-256 of the scored extract — and four guards:

* a **hash chain**: ``hash = SHA-256(previous hash + canonical JSON of the record)``, so editing,
  deleting or reordering a record breaks every later link;
* a **signature**: ``HMAC-SHA256(key, hash)`` with a key kept *outside* the log
  (``$RESILIENCE_DECISION_KEY`` or a ``key_file``), so someone who can write the file cannot append
  a record or re-chain history with recomputed hashes;
* an **identity**: a random id stored in the log and signed (:mod:`.decision_store`); anchors are
  keyed by it, so a moved project finds them and another log (or an older copy) cannot pass;
* **anchors** outside the database (:mod:`.anchors`): each record's count and head hash, signed,
  in its week's ``manifest.json`` and (by ``resilience-decide``) in MLflow, each place sealed; each
  scored week's manifest records the head too, and the briefing prints it. A log cut back, swapped
  or rewritten disagrees with them; removing anchors unseen takes the key.

**Crash-consistent appends**: the record is committed first, under the week's lock (so no scoring
run rebuilds the week meanwhile), then its anchor is written. A crash in between leaves a record
without its anchor, never an anchor without its record; the next append writes the anchors the
newest records lack (``reanchor`` writes every missing one), so no crash makes later verifications
fail for ever. Appends run in an ``IMMEDIATE`` transaction so concurrent writers queue rather than
fork the chain. Appending and verifying need the key; there is no unsigned mode.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from resilience.core.errors import ResilienceError, escaped, os_error_message
from resilience.core.locks import hold
from resilience.core.paths import DECISION_KEY_ENV
from resilience.core.week_files import MANIFEST, SCORES_PARQUET, lock_file
from resilience.data.io import write_text_atomic
from resilience.governance import anchors, decision_store
from resilience.governance.decision_store import FIELDS, GENESIS, failure, open_log

MAX_TEXT = 2000
KEY_ENV = DECISION_KEY_ENV
MIN_KEY_CHARS = 16
WEEK_WAIT_SECONDS = 120  # an append waits this long for a scoring run to finish with the week


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    message: str = ""
    failures: tuple[str, ...] = field(default_factory=tuple)
    log_id: str | None = None
    head_hash: str = GENESIS


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
    """The signing key: the contents of ``key_file`` if given, else ``$RESILIENCE_DECISION_KEY``.
    No message ever repeats a key: a key pasted where the file's path belongs is not echoed."""
    if key_file:
        path = Path(str(key_file))
        if not path.is_file():
            raise ResilienceError(
                "the key file given as key_file= does not exist (the value is not repeated here, "
                "in case a key was pasted in place of its path); give the path of the file that "
                f"holds the key, or set {KEY_ENV}"
            )
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ResilienceError(
                f"cannot read the decision-log key file {path}: {type(exc).__name__}"
            ) from None
        source = f"key file {path}"
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


def key_if_set() -> bytes | None:
    """The key from ``$RESILIENCE_DECISION_KEY`` when it is set and usable, else None (scoring
    signs the head it records only when it can)."""
    try:
        return signing_key() if os.environ.get(KEY_ENV) else None
    except ResilienceError:
        return None


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


def shown(text: object) -> str:
    """``text`` for one line of a terminal: control characters, line breaks and bidirectional
    overrides written as their escapes (``\\n``, ``\\x1b``, ``\\u202e``), so a decision echoed
    back can neither break the line, send the terminal an escape sequence nor reverse what
    follows it. The log keeps the text as written; the briefing and the explorer escape it."""
    return escaped(text)


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
    signature and the log's new ``anchor``, also written into the week's manifest)."""
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
    with hold(
        lock_file(week_dir.parent, week_dir.name),
        f"week {week_dir.name}",
        WEEK_WAIT_SECONDS,
        "It is being scored: rerun when scoring has finished.",
    ):
        if not path.exists():  # a new log must not silently replace one the week already saw
            _refuse_a_lost_log(path, week_dir / MANIFEST)
        log_id = _commit(path, record, key)
        try:
            _write_week_anchors(path, week_dir, key)  # this week's, under the lock already held
        except OSError as exc:
            raise _recorded_but(exc, record, path, week_dir) from exc
    try:
        _heal_tail(path, week_dir, key)  # other weeks' locks, one at a time: never two held
    except OSError as exc:
        raise _recorded_but(exc, record, path, week_dir) from exc
    record["anchor"] = anchors.anchor(
        key, log_id, record["seq"], record["hash"], record["recorded_utc"], str(path.resolve())
    )
    return record


def _recorded_but(exc: OSError, record: dict, path: Path, week_dir: Path) -> ResilienceError:
    """The record is in, an anchor is not: say both, and how the anchor gets written."""
    return ResilienceError(
        os_error_message(
            exc,
            f"the decision is recorded (record {record['seq']} of {path}), but an anchor was not "
            f"written beside {week_dir} (the next decision, or resilience-decide reanchor=true, "
            "writes it)",
        )
    )


def _commit(path: Path, record: dict, key: bytes) -> str:
    """Chain, sign and commit ``record`` (it gains ``seq``, ``prev_hash``, ``hash`` and
    ``signature``); a log made before identities gets one now. Returns the log's id."""
    connection = open_log(path, key)
    try:
        connection.execute("BEGIN IMMEDIATE")  # one writer at a time: the chain never forks
        count, last = decision_store.head(connection)
        identity = decision_store.identity(connection) or decision_store.add_identity(
            connection, key, count, last
        )
        _check_identity(path, identity, key)
        record["prev_hash"] = last
        record["hash"] = record_hash(last, record)
        record["signature"] = sign(key, record["hash"])
        columns = (*FIELDS, "prev_hash", "hash", "signature")
        connection.execute(
            f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [record[c] for c in columns],
        )
        record["seq"] = count + 1
        connection.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise failure(path, exc, "written") from exc
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return identity["log_id"]


def _check_identity(path: Path, identity: dict, key: bytes) -> None:
    text = decision_store.identity_text(identity) if identity.get("log_id") else ""
    if not text or identity.get("signature") != decision_store.sign(key, text):
        raise ResilienceError(
            f"decision log {path}: its identity is not signed with this key (the wrong key, or "
            "the identity was forged or copied from another log); nothing was written"
        )


def _refuse_a_lost_log(path: Path, manifest_path: Path) -> None:
    """A log that does not exist, but that the week's manifest saw records in, was lost."""
    place = anchors.manifest_place(manifest_path)
    seen = [a for a in [*place.anchors, place.scored or {}] if (a.get("records") or 0) > 0]
    if seen:
        raise ResilienceError(
            f"decision log {path} does not exist, but {manifest_path} records "
            f"{max(a['records'] for a in seen)} decision(s) in it; restore the log from backup"
        )


def log_anchors(log_path: str | Path, key: bytes) -> tuple[str | None, list[dict]]:
    """The log's id and the signed anchor of every record since it had one (record k's anchor
    says "k records, the last with hash h"; the same whenever it is made)."""
    path = Path(log_path)
    connection = open_log(path)
    try:
        identity = decision_store.identity(connection)
        rows = connection.execute(
            "SELECT seq, hash, recorded_utc, week FROM decisions ORDER BY seq"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise failure(path, exc, "read") from exc
    finally:
        connection.close()
    if not identity or not identity.get("log_id"):
        return None, []
    start, where = int(identity["records_before"]), str(path.resolve())
    return identity["log_id"], [
        {**anchors.anchor(key, identity["log_id"], seq, h, at, where), "week": week}
        for seq, h, at, week in rows
        if seq > start
    ]


def _write_week_anchors(log_path: Path, week_dir: Path, key: bytes) -> None:
    """Write into the week's manifest every anchor of the week's records it lacks, sealed (the
    caller holds the week's lock)."""
    _, every = log_anchors(log_path, key)
    wanted = [_plain(a) for a in every if a["week"] == week_dir.name]
    manifest_path = week_dir / MANIFEST
    manifest = _read_manifest(manifest_path)
    updated = anchors.with_anchors(manifest, wanted, key)
    if updated != manifest:
        write_text_atomic(manifest_path, json.dumps(updated, indent=2, default=str))


def _plain(item: dict) -> dict:
    return {k: v for k, v in item.items() if k != "week"}


def _heal_tail(log_path: Path, week_dir: Path, key: bytes) -> None:
    """Anchors the newest records of other weeks lack (an earlier append stopped after its
    commit): from the newest record back to the first one anchored, each week's are written under
    its lock (``week_dir``'s own were just written)."""
    _, every = log_anchors(log_path, key)
    output_root = week_dir.parent
    places = {p.week: p for p in anchors.manifest_places(output_root)}
    weeks = []
    for item in reversed(every):
        place = places.get(item["week"])
        if place is None or item["week"] in weeks or item["week"] == week_dir.name:
            continue
        if any(anchors._key(a) == anchors._key(item) for a in place.anchors):
            break
        weeks.append(item["week"])
    for week in weeks:
        with hold(lock_file(output_root, week), f"week {week}", WEEK_WAIT_SECONDS):
            _write_week_anchors(log_path, output_root / week, key)


def reanchor(log_path: str | Path, output_root: str | Path, key: bytes) -> tuple[str | None, list]:
    """Write every missing anchor of the log into its weeks' manifests (each under its week's
    lock); returns the log's id and all its anchors (for MLflow)."""
    path, root = Path(log_path), Path(output_root)
    log_id, every = log_anchors(path, key)
    for week in sorted({a["week"] for a in every if (root / a["week"] / MANIFEST).is_file()}):
        with hold(lock_file(root, week), f"week {week}", WEEK_WAIT_SECONDS):
            _write_week_anchors(path, root / week, key)
    return log_id, [_plain(a) for a in every]


def head(log_path: str | Path, key: bytes | None = None) -> dict | None:
    """The log's head now (``log_id``, ``records``, ``head_hash``, ``log``), signed when ``key`` is
    given; None when there is no log yet."""
    path = Path(log_path)
    if not path.exists():
        return None
    connection = open_log(path)
    try:
        count, last = decision_store.head(connection)
        identity = decision_store.identity(connection) or {}
    except sqlite3.DatabaseError as exc:
        raise failure(path, exc, "read") from exc
    finally:
        connection.close()
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if key is not None and identity.get("log_id"):
        return anchors.anchor(key, identity["log_id"], count, last, at, str(path.resolve()))
    return {
        "log_id": identity.get("log_id"),
        "records": count,
        "head_hash": last,
        "at": at,
        "log": str(path.resolve()),
    }


def read(log_path: str | Path) -> pd.DataFrame:
    """Every record, in order (an empty frame when there is no log yet). Never creates or repairs."""
    path = Path(log_path)
    if not path.exists():
        return pd.DataFrame(columns=["seq", *FIELDS, "prev_hash", "hash", "signature"])
    connection = open_log(path)
    try:
        return pd.read_sql_query("SELECT * FROM decisions ORDER BY seq", connection)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise failure(path, exc, "read") from exc
    finally:
        connection.close()


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
