"""Anchors: the decision log's record count and head hash, signed and kept outside the log, so a
log cut back, swapped or rewritten disagrees with them.

An **anchor** says "log ``log_id`` held ``records`` records, the last with hash ``head_hash``"; it
is signed with the log's key (HMAC-SHA256), so it cannot be forged or edited, and it is derived
from the log alone (record k's anchor is the same whenever it is written), so a missing one can be
written again. Every append writes its record's anchor into the week's ``manifest.json``
(``decision_log_anchors``) and ``resilience-decide`` into MLflow (experiment tags); scoring writes
the log's head into each new week's manifest (``decision_log``; signed when the key is at hand).

Each place that holds anchors also holds a **seal** per log: a signature over exactly the anchors
of that log it holds. Removing an anchor from a manifest or from MLflow, without the key to seal
again, breaks the seal. :func:`place_failures` checks anchors and seals; :func:`witness_failures`
checks that every record has its anchor in its week's manifest (and in MLflow when anchoring there
is on), so emptying a place is seen too.

What no signature can show: the log and every place holding its anchors rolled back together to
an earlier state, by someone who holds the key (or kept copies of all of them from that time).
A head hash kept outside the machine (printed in a briefing) shows it: ``verify head=<hash>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from resilience.core.week_files import DECISION_ANCHORS, DECISION_HEAD, DECISION_SEAL, MANIFEST
from resilience.governance.decision_store import canonical, sign
from resilience.tracking.weekly_runs import DECISION_TAG_PREFIX

ANCHOR_FIELDS = ("log_id", "records", "head_hash", "at")
SEAL_TAG = "seal"


@dataclass(frozen=True)
class Place:
    """Where anchors were written: a week's manifest (``week``; ``scored``: the head its scoring
    recorded) or an MLflow experiment. ``anchors``: every log's appended anchors found there;
    ``seals``: log id -> the seal over that log's anchors there."""

    where: str
    anchors: tuple[dict, ...] = ()
    seals: Mapping[str, str] = field(default_factory=dict)
    week: str | None = None
    scored: dict | None = None
    unreadable: str | None = None


def anchor(key: bytes, log_id: str, records: int, head_hash: str, at: str, log: str = "") -> dict:
    """A signed anchor (``log``: the log's path when written, for people; never compared)."""
    body = {"log_id": log_id, "records": int(records), "head_hash": head_hash, "at": at}
    return {**body, "log": log, "signature": sign(key, _anchor_text(body))}


def _anchor_text(body: Mapping) -> str:
    return "decision-log-anchor:" + canonical({k: body.get(k) for k in ANCHOR_FIELDS})


def is_signed(key: bytes, item: Mapping) -> bool:
    return "signature" in item and str(item["signature"]) == sign(key, _anchor_text(item))


def seal(key: bytes, log_id: str, anchors: Iterable[Mapping]) -> str:
    """The seal over exactly these anchors of log ``log_id``."""
    listed = sorted((int(a["records"]), str(a["head_hash"]), str(a["at"])) for a in anchors)
    return sign(key, "decision-log-seal:" + canonical({"log_id": log_id, "anchors": listed}))


def of_log(items: Iterable[Mapping], log_id: str | None, legacy_path: str) -> list[dict]:
    """The anchors of one log: by its id, or (a log made before identities, or anchors written
    before them) by the path they recorded."""
    return [
        dict(a)
        for a in items
        if (log_id and a.get("log_id") == log_id)
        or (not a.get("log_id") and a.get("log") == legacy_path)
    ]


def with_anchors(manifest: dict, new: Iterable[dict], key: bytes) -> dict:
    """A manifest holding also the anchors ``new`` (each once), with its seals written again for
    the logs they belong to; pure."""
    held = [a for a in manifest.get(DECISION_ANCHORS) or [] if isinstance(a, dict)]
    known = {_key(a) for a in held}
    added = [a for a in new if _key(a) not in known]
    anchors = held + added
    seals = dict(manifest.get(DECISION_SEAL) or {})
    for log_id in {a["log_id"] for a in added}:
        seals[log_id] = seal(key, log_id, [a for a in anchors if a.get("log_id") == log_id])
    return {**manifest, DECISION_ANCHORS: anchors, DECISION_SEAL: seals}


def _key(item: Mapping) -> tuple:
    return (item.get("log_id"), item.get("records"), item.get("head_hash"))


# -- where anchors are found ---------------------------------------------------------------------------
def manifest_place(path: Path) -> Place:
    """The anchors of one week's manifest."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Place(str(path), week=path.parent.name, unreadable=type(exc).__name__)
    anchors = tuple(a for a in manifest.get(DECISION_ANCHORS) or [] if isinstance(a, dict))
    scored = manifest.get(DECISION_HEAD)
    seals = manifest.get(DECISION_SEAL)
    return Place(
        str(path),
        anchors,
        dict(seals) if isinstance(seals, dict) else {},
        path.parent.name,
        scored if isinstance(scored, dict) else None,
    )


def manifest_places(output_root: str | Path) -> list[Place]:
    """Every week manifest under ``output_root``."""
    root = Path(output_root)
    return [manifest_place(p) for p in sorted(root.glob(f"*/{MANIFEST}"))] if root.is_dir() else []


def mlflow_place(experiment: str, tags: Mapping[str, str]) -> Place:
    """The anchors kept as tags on an MLflow experiment (``decision_log.<log id>.<count>``, the
    seal ``decision_log.<log id>.seal``; before identities, ``decision_log.anchor.<count>``)."""
    anchors, seals, where = [], {}, f"MLflow experiment '{experiment}'"
    for tag, value in sorted(tags.items()):
        if not tag.startswith(DECISION_TAG_PREFIX):
            continue
        owner, _, last = tag[len(DECISION_TAG_PREFIX) :].rpartition(".")
        if last == SEAL_TAG:
            seals[owner] = value
            continue
        try:
            anchors.append({**json.loads(value), "where": f"{where} tag {tag}"})
        except ValueError:
            anchors.append({"records": None, "where": f"{where} tag {tag} (unreadable)"})
    return Place(where, tuple(anchors), seals)


def mlflow_tags(key: bytes, log_id: str, anchors: list[dict]) -> dict[str, str]:
    """The experiment tags that hold ``anchors`` of log ``log_id`` and their seal."""
    tags = {
        f"{DECISION_TAG_PREFIX}{log_id}.{int(a['records']):06d}": canonical(
            {k: a[k] for k in (*ANCHOR_FIELDS, "log", "signature")}
        )
        for a in anchors
    }
    tags[f"{DECISION_TAG_PREFIX}{log_id}.{SEAL_TAG}"] = seal(key, log_id, anchors)
    return tags


# -- checking a log against its anchors ------------------------------------------------------------
def _counts(items: Iterable[Mapping]) -> str:
    return ", ".join(str(a.get("records")) for a in items)


def place_failures(
    places: Iterable[Place], key: bytes, log_id: str | None, legacy_path: str, hashes: list[str]
) -> list[str]:
    """Each place's anchors of this log: signed with the log's key, sealed as a whole, and never
    ahead of the log or off its history (``hashes``: the log's record hashes in order)."""
    failures = []
    for place in places:
        if place.unreadable:
            failures.append(f"{place.where} cannot be read ({place.unreadable})")
            continue
        mine = of_log(place.anchors, log_id, legacy_path)
        signed = [a for a in mine if "signature" in a]
        forged = [a for a in signed if not is_signed(key, a)]
        if forged:
            failures.append(
                f"the anchor(s) of {_counts(forged)} record(s) in {place.where} are not signed "
                "with the log's key: forged or edited"
            )
        if (
            log_id
            and (signed or log_id in place.seals)
            and (place.seals.get(log_id) != seal(key, log_id, signed))
        ):
            failures.append(
                f"the anchors of this log in {place.where} do not match their seal: anchors were "
                "removed or added without the key"
            )
        scored = of_log([place.scored] if place.scored else [], log_id, legacy_path)
        if [a for a in scored if "signature" in a and not is_signed(key, a)]:
            failures.append(f"the log's head recorded at scoring in {place.where} was edited")
        for item in mine + scored:
            failures += _against_log(item, place.where, hashes)
    return failures


def _against_log(item: Mapping, where: str, hashes: list[str]) -> list[str]:
    count, expected = item.get("records"), item.get("head_hash")
    if not isinstance(count, int):
        return [f"an anchor in {item.get('where', where)} cannot be read"]
    if count > len(hashes):
        return [
            f"{item.get('where', where)} recorded {count} record(s) but the log has {len(hashes)}: "
            "records were removed from the end"
        ]
    if count > 0 and hashes[count - 1] != expected:
        return [
            f"record {count} differs from the head recorded in {item.get('where', where)}: "
            "history was rewritten"
        ]
    return []


def other_logs(places: Iterable[Place], log_id: str | None) -> list[str]:
    """Places that anchor a log other than this one (the log was replaced by another, or lost its
    identity)."""
    found: dict[str, tuple[int, str]] = {}
    for place in places:
        for item in [*place.anchors, *([place.scored] if place.scored else [])]:
            other = item.get("log_id")
            if other and other != log_id and isinstance(item.get("records"), int):
                seen = found.get(other, (0, place.where))
                found[other] = max(seen, (item["records"], place.where))
    return [
        f"{where} anchors another decision log (id {other}, {count} record(s)), not this one "
        f"({'id ' + log_id if log_id else 'which has no identity'}): this file is not the log "
        "those weeks saw (replaced, or its identity removed)"
        for other, (count, where) in sorted(found.items())
    ]


def witness_failures(
    records: list[dict],
    log_id: str,
    manifests: list[Place] | None,
    output_root: str,
    mlflow: Place | None,
) -> list[str]:
    """Every record (of the log's identity) has its anchor in its week's manifest and, when
    anchoring in MLflow is checked, in MLflow: emptying a place of its anchors is seen too."""
    by_week = {p.week: p for p in manifests or []}
    missing: dict[str, list[int]] = {}
    for record in records:
        wanted = (log_id, int(record["seq"]), record["hash"])
        places = [mlflow] if mlflow is not None else []
        if manifests is not None:
            place = by_week.get(record["week"])
            if place is None:
                missing.setdefault(
                    f"week {record['week']}'s manifest (not under {output_root})", []
                ).append(wanted[1])
            else:
                places.append(place)
        for place in places:
            if not any(_key(a) == wanted for a in place.anchors):
                missing.setdefault(place.where, []).append(wanted[1])
    return [
        f"record(s) {', '.join(map(str, seqs))} have no anchor in {where}: anchors were removed, "
        "or the append stopped before writing them (resilience-decide reanchor=true writes the "
        "missing anchors, with the key)"
        for where, seqs in missing.items()
    ]
