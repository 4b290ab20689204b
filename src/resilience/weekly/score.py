"""Weekly batch scoring: validated, explained, drift-checked, atomic and repeatable.

:func:`score_week` streams an extract in chunks (Parquet row groups / CSV chunks), validates each
against the data contract stored **with the model**, scores and explains it
(:mod:`resilience.weekly.chunks`), and writes the week's folder ``<output_root>/<week>/`` in one
transaction (:mod:`resilience.weekly.transaction`); the files are named in
:mod:`resilience.core.week_files`:

* ``scores.parquet`` (input order) / ``scores.csv`` (sorted by ``priority_rank``) — one row per disruption:
  ``input_row`` (its position in the extract), ``rank`` (1 = most likely to persist; ties broken by
  input order), ``priority_rank`` and ``harm_index`` (likelihood x harm, :mod:`resilience.weekly.
  priority`, when a harm policy exists for the data config), the harm components read, the
  playbook's options (``option_<rule>``, :mod:`resilience.weekly.playbook`), the record's
  fingerprint, ids, slices, the group id, calibrated ``persistence_probability``, ``percent``, yardstick band, the range, top three
  reasons for and against, a one-sentence ``summary``;
* ``explanations.parquet`` — the contribution of every input feature in percentage points of
  probability (columns named as in the extract), ``disruption_id`` and ``baseline_probability``;
* ``drift.json`` — feature, missing-value and explanation drift against the training reference;
* ``safeguarding.json`` — totals of the protect/prevent columns across the week's lines;
* ``contract.json`` — the data contract the model was trained with;
* ``extract.<suffix>`` — the extract it scored, its bytes as they were (:mod:`resilience.weekly.
  kept`; not with ``keep_extract=False``), so training can learn from records as they stood;
* ``manifest.json`` — model name/version/run id, input SHA-256 (and the kept copy's name),
  config hash, toolkit version, row counts, timings, warnings.

A model that reads the record's age (``derived: record_age`` in its data contract) gets each
row's age counted to the extract's as-of date (:func:`~resilience.data.record_age.extract_as_of`:
its ``as_of_column``, else its latest disruption date, the date the week is named after).

**Atomic** (a killed run leaves earlier output as it was) and **repeatable**: the same input and
model give a byte-identical ``scores.csv``. A week already scored by a *different* model — another
registry, version or artifact digest — is only replaced with ``overwrite=True``. A run that fails
(bad input, a full disk, a file in the way) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from resilience import __version__
from resilience.core.errors import ResilienceError, os_error_message
from resilience.core.week_files import (
    CONTRACT,
    DECISION_ANCHORS,
    DECISION_SEAL,
    DRIFT,
    EXPLANATIONS,
    KEPT_KEY,
    MANIFEST,
    SAFEGUARDING,
    SCORES_PARQUET,
    WeekManifest,
)
from resilience.core.weeks import check_week, find_previous_week, iso_week
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256, read_json, write_text_atomic
from resilience.data.record_age import extract_file_as_of
from resilience.data.validate import check_week_holds
from resilience.governance.fairness import flagged_groups, plain_findings
from resilience.learn.evidence import ModelEvidence
from resilience.weekly.chunks import WeekScores, score_chunks
from resilience.weekly.drift import DriftConfig
from resilience.weekly.kept import keep_extract
from resilience.weekly.playbook import load_playbook
from resilience.weekly.priority import load_priority_policy
from resilience.weekly.shortlist import DrawSettings
from resilience.weekly.transaction import WeekTransaction


@dataclass(frozen=True)
class ModelRef:
    """Which model scored a week: what the manifest records and the overwrite rule compares.

    The identity is the registry, the registered name and version *and* the SHA-256 of the model's
    artifact directory, so another store's "version 1" or a look-alike directory is a different model.
    """

    uri: str
    name: str | None
    version: str | None
    run_id: str | None
    registry: str | None = None
    sha256: str | None = None
    warning: str | None = None

    @property
    def identity(self) -> str:
        """Short display name (``line-resilience/3``); :attr:`fingerprint` is the full identity."""
        return f"{self.name}/{self.version}" if self.version else (self.run_id or self.uri)

    @property
    def described(self) -> str:
        """The model in words, for a refusal: ``model line-resilience/3 (<digest>) from <registry>``."""
        return (
            f"model {self.identity} ({self.sha256 or 'no digest'}) from {self.registry or self.uri}"
        )

    @property
    def fingerprint(self) -> dict:
        return {
            "registry": self.registry,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
        }


@dataclass
class WeekResult:
    week: str
    folder: Path
    rows: int
    band_counts: dict
    manifest: dict = field(default_factory=dict)
    # the week's drift findings by level, alerts first ({} when there are none)
    drift_levels: dict = field(default_factory=dict)


def config_hash(settings: dict) -> str:
    """Short SHA-256 of the scoring settings that shape the output."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_summary(evidence: ModelEvidence) -> dict:
    """What a week's manifest and report say about the model (``fairness_findings``: one plain
    sentence per group whose estimates run high or low)."""
    return {
        "family": evidence.family,
        "training": dict(evidence.split),
        "test_metrics": dict(evidence.test_metrics),
        "test_metrics_by_cohort": dict(evidence.test_metrics_by_cohort),
        "calibration_table": list(evidence.calibration_table),
        "fairness": list(evidence.fairness),
        "fairness_findings": plain_findings(evidence.fairness),
        "fairness_flags": flagged_groups(evidence.fairness),
        "fairness_tolerance": next(
            (row.get("tolerance") for row in evidence.fairness if "tolerance" in row), None
        ),
        "refit_on_all": evidence.refit_on_all,
        "by_record_age": list(evidence.by_record_age),
        "cohort_drift": dict(evidence.cohort_drift),
    }


def score_week(
    input_path: str | Path,
    model,
    model_ref: ModelRef,
    output_root: str | Path,
    week: str | None = None,
    overwrite: bool = False,
    chunk_rows: int = 50_000,
    drift_config: DriftConfig | None = None,
    settings: dict | None = None,
    after_build: Callable[[Path, Path | None], None] | None = None,
    today: pd.Timestamp | None = None,
    evidence: ModelEvidence | None = None,
    priority: str | None = None,
    manifest_extra: dict | None = None,
    draws: DrawSettings | None = None,
    playbook: str | None = None,
    keep: bool = True,
) -> WeekResult:
    """Score one week's extract with ``model`` and write ``<output_root>/<week>/`` atomically.

    ``evidence``: the model's :class:`~resilience.learn.evidence.ModelEvidence` (default: what the
    model carries). ``after_build(tmp_folder, previous_week_folder)`` runs before the swap (the
    report is built inside the transaction). ``priority``, ``playbook``: the harm policy and the
    options under the four Ps (None: those named after the model's data config, if any);
    ``manifest_extra`` is merged into the manifest; ``keep``: keep the extract's bytes in the week
    (:mod:`resilience.weekly.kept`); ``draws``: how the week's probabilities are drawn jointly
    (:mod:`resilience.weekly.shortlist`).
    A file-system failure is one :class:`~resilience.core.errors.ResilienceError` naming the file.
    (Over 60 lines: its keyword settings and their account; the body is 45 lines.)
    """
    contract: DataContract = model.contract
    policy, options = load_priority_policy(priority, contract), load_playbook(playbook, contract)
    input_path, output_root = Path(input_path), Path(output_root)
    evidence = evidence or ModelEvidence.from_model(model)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    sha256 = file_sha256(input_path) if input_path.is_file() else None
    as_of = extract_file_as_of(input_path, contract) if contract.record_age_column else None
    week = check_week(week) if week else None
    try:
        with WeekTransaction(output_root) as transaction:
            scores = score_chunks(
                transaction.folder,
                input_path,
                model,
                drift_config or DriftConfig(),
                chunk_rows,
                timings,
                today,
                evidence.drift_reference,
                policy,
                options,
                as_of,
                draws,
            )
            week = week or iso_week(scores.last_date)
            check_week_holds(week, scores.last_date, str(input_path))
            final = transaction.claim(week, model_ref.fingerprint, model_ref.described, overwrite)
            manifest = _manifest(week, input_path, sha256, settings, model_ref, evidence, scores)
            if keep:
                manifest.input[KEPT_KEY] = keep_extract(input_path, transaction.folder, sha256)
            manifest.priority = policy.to_dict() if policy is not None else {}
            manifest.playbook = options.to_dict() if options is not None else {}
            manifest.extra = {**carried_anchors(final), **(manifest_extra or {})}
            if scores.draws:  # how the shortlist's shares were drawn
                manifest.extra["draws"] = scores.draws
            _commit(transaction, manifest, after_build, timings, started)
    except OSError as exc:
        raise ResilienceError(
            os_error_message(
                exc, f"scoring {input_path} into {output_root} failed and nothing was changed"
            )
        ) from exc
    found = [a["level"] for a in scores.drift["alerts"]]  # each "alert" or "warning"
    levels = {level: found.count(level) for level in ("alert", "warning") if level in found}
    return WeekResult(week, final, scores.rows, scores.band_counts, manifest.to_dict(), levels)


def carried_anchors(final: Path) -> dict:
    """The decision-log anchors a rescored week keeps: the decisions recorded about it stay
    witnessed (read under the week's lock, so no append is lost in between)."""
    try:
        old = json.loads((final / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(old, dict):
        return {}
    return {k: old[k] for k in (DECISION_ANCHORS, DECISION_SEAL) if k in old}


def _commit(
    transaction: WeekTransaction,
    manifest: WeekManifest,
    after_build: Callable[[Path, Path | None], None] | None,
    timings: dict,
    started: float,
) -> None:
    """Write the manifest (``after_build`` adds the report beside it), time the run, swap it in."""
    if after_build is not None:
        start = time.perf_counter()
        write_text_atomic(transaction.folder / MANIFEST, manifest.to_json())
        after_build(transaction.folder, find_previous_week(transaction.final))
        timings["report"] = time.perf_counter() - start
    timings["total"] = time.perf_counter() - started
    manifest.timings = {k: round(v, 3) for k, v in timings.items()}
    write_text_atomic(transaction.folder / MANIFEST, manifest.to_json())
    transaction.commit()


def _manifest(
    week: str,
    input_path: Path,
    sha256: str | None,
    settings: dict | None,
    model_ref: ModelRef,
    evidence: ModelEvidence,
    scores: WeekScores,
) -> WeekManifest:
    """What the week records about how it was produced (timings and extras added by the caller)."""
    return WeekManifest(
        week=week,
        created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        toolkit_version=__version__,
        input={"path": str(input_path), "sha256": sha256, "rows": scores.rows},
        config_hash=config_hash(settings or {}),
        settings=settings or {},
        model={
            **asdict(model_ref),
            "identity": model_ref.identity,
            "fingerprint": model_ref.fingerprint,
            **model_summary(evidence),
        },
        counts={
            "rows": scores.rows,
            "lines": scores.lines,
            "bands": scores.band_counts,
            "drift_alerts": len(scores.drift["alerts"]),
        },
        warnings=([model_ref.warning] if model_ref.warning else [])
        + [f"the model's training: {w}" for w in evidence.warnings]
        + scores.warnings
        + [a["message"] for a in scores.drift["alerts"]],
    )


WEEK_JSON = (MANIFEST, CONTRACT, DRIFT, SAFEGUARDING)
WEEK_PARQUET = (SCORES_PARQUET, EXPLANATIONS)


def check_week_folder(folder: Path) -> None:
    """A scored week's files are all present and readable; otherwise one error naming the file."""
    advice = (
        f"rescore week {folder.name} with resilience-score ... week={folder.name} overwrite=true"
    )
    if not folder.is_dir():
        raise ResilienceError(f"week {folder.name} has not been scored: {folder} is not a folder")
    for name in WEEK_JSON:
        read_json(folder / name, advice)
    for name in WEEK_PARQUET:
        try:
            pq.read_metadata(folder / name)
        except FileNotFoundError as exc:
            raise ResilienceError(f"{folder / name} is missing; {advice}") from exc
        except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
            raise ResilienceError(
                f"{folder / name} cannot be read ({type(exc).__name__}); {advice}"
            ) from exc
