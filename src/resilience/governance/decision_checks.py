"""Verifying the decision log: its file and guards, its identity, the hash chain, every signature,
and every anchor written outside it (:mod:`.anchors`): in the week manifests, in MLflow and any
head hash a person kept (from a printed briefing). A damaged log is reported, never repaired.
"""

from __future__ import annotations

import hmac
import sqlite3
from pathlib import Path

import pandas as pd

from resilience.governance import anchors, decision_store
from resilience.governance.decision_store import GENESIS, failure, open_log
from resilience.governance.decisions import Verification, record_hash, sign, signing_key

MIN_HEAD_CHARS = 12


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
        if failures:
            first_bad = seq
            break
        previous = record["hash"]
    return failures, first_bad


def _identity_failures(identity: dict | None, hashes: list[str], key: bytes) -> list[str]:
    if identity is None:
        return []
    if not identity.get("log_id"):
        return [f"the log's identity table holds {identity.get('rows')} rows, not one: altered"]
    text = decision_store.identity_text(identity)
    if identity["signature"] != decision_store.sign(key, text):
        return ["the log's identity is not signed with its key: forged, or copied from another log"]
    before, head = int(identity["records_before"]), identity["head_before"]
    if before > len(hashes) or (before and hashes[before - 1] != head):
        return ["the records the log held when it was given its identity were changed or removed"]
    return []


def _head_failures(heads: tuple[str, ...] | list[str], hashes: list[str]) -> list[str]:
    """Each head hash given (a prefix of at least 12 characters) must be a record of the log."""
    failures = []
    for given in heads:
        text = str(given).strip().lower()
        if len(text) < MIN_HEAD_CHARS:
            failures.append(
                f"head {text!r}: give at least {MIN_HEAD_CHARS} characters of the head hash"
            )
        elif not any(h.startswith(text) for h in hashes):
            failures.append(
                f"the head {text} given is not in the log: records were removed or history "
                "was rewritten since it was recorded"
            )
    return failures


def _read(path: Path) -> tuple[pd.DataFrame, dict | None]:
    connection = open_log(path)
    try:
        records = pd.read_sql_query("SELECT * FROM decisions ORDER BY seq", connection)
        return records, decision_store.identity(connection)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise failure(path, exc, "read") from exc
    finally:
        connection.close()


def verify(
    log_path: str | Path,
    key: bytes | None = None,
    output_root: str | Path | None = None,
    mlflow: anchors.Place | None = None,
    heads: tuple[str, ...] | list[str] = (),
) -> Verification:
    """Check the file, its guards and identity, the chain, every signature, every anchor in the
    week manifests under ``output_root`` and in ``mlflow`` (each record's own anchor must be there,
    every place's seal must hold) and each head hash in ``heads``."""
    path = Path(log_path)
    key = key or signing_key()
    manifests = anchors.manifest_places(output_root) if output_root is not None else None
    places = [*(manifests or []), *([mlflow] if mlflow is not None else [])]
    if not path.exists():
        seen = [p.where for p in places if p.anchors or (p.scored or {}).get("records")]
        problem = f"decision log {path} does not exist" + (
            f", though {seen[0]} anchors records of a log there: restore it from backup"
            if seen
            else ""
        )
        return Verification(False, 0, None, problem, (problem,))
    try:
        records, identity = _read(path)
    except Exception as exc:  # noqa: BLE001 - a damaged or tampered log is a failed verification
        return Verification(False, 0, None, str(exc), (str(exc),))
    hashes = records["hash"].tolist()
    log_id = (identity or {}).get("log_id")
    failures, first_bad = _chain_failures(records, key)
    failures += _identity_failures(identity, hashes, key)
    failures += anchors.place_failures(places, key, log_id, str(path.resolve()), hashes)
    failures += anchors.other_logs(places, log_id)
    if log_id:
        since = records[records["seq"] > int(identity["records_before"])]
        failures += anchors.witness_failures(
            since.to_dict("records"), log_id, manifests, str(output_root), mlflow
        )
    failures += _head_failures(heads, hashes)
    head = hashes[-1] if hashes else GENESIS
    if failures:
        message = "; ".join(failures)
        return Verification(False, len(records), first_bad, message, tuple(failures), log_id, head)
    checked = sum(len(anchors.of_log(p.anchors, log_id, str(path.resolve()))) for p in places)
    where = f"{checked} anchor(s) in {len(places)} place(s) match" if places else "no anchors given"
    return Verification(
        True,
        len(records),
        None,
        f"{len(records)} record(s) in log {log_id or '(made before identities)'}, head "
        f"{head[:16]}: the chain is intact, every record is signed, {where}"
        + (f", and the {len(heads)} head(s) given are in the log" if heads else ""),
        (),
        log_id,
        head,
    )
