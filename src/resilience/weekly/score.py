"""Weekly batch scoring: validated, explained, drift-checked, atomic and repeatable.

:func:`score_week` streams an extract in chunks (Parquet row groups / CSV chunks), validates each
against the data contract stored **with the model**, scores and explains it, and writes the week's
folder ``<output_root>/<week>/``:

* ``scores.parquet`` (input order) / ``scores.csv`` (sorted by ``rank``) — one row per disruption:
  ``input_row`` (its position in the extract), ``rank`` (1 = most likely to persist; ties broken by
  input order), ``priority_rank`` and ``harm_index`` (likelihood x harm, :mod:`resilience.weekly.priority`,
  when a harm policy exists for the data config), the harm components read, ids, slices, calibrated
  ``persistence_probability``, ``percent``, yardstick band, top three reasons for and against,
  a one-sentence ``summary``;
* ``explanations.parquet`` — the contribution of every input feature in percentage points of
  probability (columns named as in the extract), ``disruption_id`` and ``baseline_probability``;
* ``drift.json`` — feature, missing-value and explanation drift against the training reference;
* ``safeguarding.json`` — totals of the protect/prevent columns across the week's lines;
* ``contract.json`` — the data contract the model was trained with;
* ``manifest.json`` — model name/version/run id, input SHA-256, config hash, toolkit version,
  row counts, timings, warnings.

**Atomic**: everything is built in a hidden temporary folder beside the week's and renamed into
place; a run killed at any point leaves earlier output as it was. Temporary and set-aside folders
carry their owner's pid (``.<week>.tmp-<pid>``, ``.<week>.old-<pid>``); the next run removes those
of *dead* owners and restores a week caught mid-swap, never touching a live process's folders.
SIGTERM removes the run's temporary folder before the process ends; the swap itself is not
interrupted. The commit's steps are named fault points (:mod:`resilience.weekly.faults`) so tests
kill it at each one. **Repeatable**: the same input and model give a byte-identical
``scores.csv``. A week already scored by a *different* model — another registry, version or
artifact digest — is only replaced with ``overwrite=True``. A run that fails (bad input, a full
disk, a file in the way) leaves nothing behind, not even an empty ``output_root``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from resilience import __version__
from resilience.core.errors import (
    ContractError,
    Problem,
    ResilienceError,
    Terminated,
    os_error_message,
)
from resilience.core.weeks import WEEK_PATTERN, check_week, find_previous_week, iso_week
from resilience.core.yardstick import BAND_NAMES
from resilience.data.contract import DataContract
from resilience.data.io import atomic_path, file_sha256, iter_extract, write_text_atomic
from resilience.data.validate import check_week_holds, validate_frame
from resilience.explain import REASON_COLUMNS, explain
from resilience.learn.evidence import ModelEvidence
from resilience.learn.ranges import interval_table
from resilience.weekly.drift import DriftAccumulator, DriftConfig
from resilience.weekly.faults import checkpoint
from resilience.weekly.layout import INPUT_ORDER_COLUMN, WeekManifest
from resilience.weekly.priority import HarmPolicy, load_priority_policy, priority_ranks

log = logging.getLogger(__name__)


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
    alerts: int
    manifest: dict = field(default_factory=dict)


def config_hash(settings: dict) -> str:
    """Short SHA-256 of the scoring settings that shape the output."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _alive(pid: str) -> bool:
    """Is process ``pid`` still running (so its folders are in use)?"""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _ours_to_tidy(folder: Path, own: bool) -> bool:
    """A hidden ``.<name>.tmp-<pid>`` / ``.<name>.old-<pid>`` folder of this process (``own``) or of a
    process that is no longer running."""
    pid = folder.name.rsplit("-", 1)[-1]
    if not folder.is_dir() or not pid.isdigit():
        return False
    return int(pid) == os.getpid() if own else int(pid) != os.getpid() and not _alive(pid)


def _recover(output_root: Path, own: bool = False) -> None:
    """Tidy after killed runs: drop dead owners' temporary folders, restore a week caught mid-swap.

    Only folders whose owner (the pid in the name) is dead are touched: a live scorer's temporary
    or set-aside folder is its own business. ``own=True`` tidies this process's own leftovers
    (after a failed run).
    """
    for stale in output_root.glob(".*.tmp-*"):
        if _ours_to_tidy(stale, own):
            shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(output_root.glob(".*.old-*")):
        week = old.name[1:].rsplit(".old-", 1)[0]
        if not WEEK_PATTERN.match(week) or not _ours_to_tidy(old, own):
            continue
        final = output_root / week
        if not final.exists():
            old.rename(final)
            log.warning("restored %s, left aside by a run that was killed mid-swap", final)
        else:
            shutil.rmtree(old, ignore_errors=True)


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished folder onto the week's; the old one is kept until the new one is in.

    SIGTERM is held back for the few renames, so a terminated run never stops half-way here.
    """
    blocked = threading.current_thread() is threading.main_thread()
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        checkpoint("before_swap")
        if not final.exists():
            tmp.rename(final)
            checkpoint("after_swap")
            return
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
        checkpoint("during_swap")
        try:
            tmp.rename(final)
        except BaseException:
            if not final.exists():
                old.rename(final)
            raise
        checkpoint("after_swap")
        try:
            _remove_tree(old)
        except OSError as exc:  # the new week is in; the next run removes the rest
            log.warning("could not remove %s: %s", old, exc)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _remove_tree(folder: Path) -> None:
    """Delete a set-aside week (a checkpoint half-way, so tests can die mid-cleanup)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for number, file in enumerate(files):
        if number == len(files) // 2:
            checkpoint("during_cleanup")
        file.unlink()
    shutil.rmtree(folder, ignore_errors=True)


def _previous_fingerprint(final: Path) -> tuple[dict | None, str]:
    """The fingerprint of the model that scored an existing week folder, or why it is unknown."""
    if not final.exists() and not final.is_symlink():
        return None, "nothing"
    if not final.is_dir():
        raise ResilienceError(
            f"{final} is in the way: it is a file, not a week folder; nothing was changed. "
            "Move it elsewhere and rerun"
        )
    manifest = final / "manifest.json"
    try:
        model = json.loads(manifest.read_text(encoding="utf-8"))["model"]
        fingerprint = model.get("fingerprint")
        return (
            fingerprint,
            f"model {model.get('identity', 'unknown')} ({(fingerprint or {}).get('sha256') or 'no digest'})",
        )
    except FileNotFoundError:
        return None, f"an unknown model (no {manifest})"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"an unknown model ({manifest} cannot be read: {type(exc).__name__})"


def _check_output_root(output_root: Path) -> list[Path]:
    """Make ``output_root`` (and missing parents); returns the folders created, to undo on failure."""
    created = []
    for folder in reversed([output_root, *output_root.parents]):
        if folder.exists():
            if not folder.is_dir():
                raise ResilienceError(
                    f"output_root {output_root}: {folder} is a file, not a folder; "
                    "choose another output_root"
                )
            continue
        try:
            folder.mkdir()
        except OSError as exc:
            _remove_if_empty(created)
            raise ResilienceError(
                os_error_message(exc, f"cannot create output_root {output_root}")
            ) from exc
        created.append(folder)
    if not os.access(output_root, os.W_OK | os.X_OK):
        _remove_if_empty(created)
        raise ResilienceError(
            f"output_root {output_root} is not writable; choose a folder you can write to"
        )
    return created


def _remove_if_empty(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return


def _raise_on_sigterm():
    """While scoring, SIGTERM raises :class:`Terminated`, so ``finally`` blocks remove temporary
    files; returns the previous handler (None off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise Terminated(
            "terminated (SIGTERM) while scoring; the week was not changed and temporary files "
            "were removed"
        )

    return signal.signal(signal.SIGTERM, stop)


def _output_frame(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """The ids and slices of a chunk under the toolkit's standard output names."""
    out = pd.DataFrame(
        {
            "disruption_id": frame[contract.id_column].astype(str).to_numpy(),
            "line_id": frame[contract.line_column].astype(str).to_numpy(),
            "disruption_date": pd.to_datetime(frame[contract.date_column])
            .dt.strftime("%Y-%m-%d")
            .to_numpy(),
        }
    )
    for name in contract.slices:
        out[name] = frame[name].astype(object).where(frame[name].notna(), "").astype(str).to_numpy()
    return out


def _protect_columns(contract: DataContract) -> list[str]:
    columns = []
    for name in contract.features:
        spec = contract.column(name)
        if spec.dtype in ("int", "float", "bool") and contract.concept_of(name).four_ps in (
            "protect",
            "prevent",
        ):
            columns.append(name)
    return columns


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
) -> WeekResult:
    """Score one week's extract with ``model`` and write ``<output_root>/<week>/`` atomically.

    ``evidence`` is the model's :class:`~resilience.learn.evidence.ModelEvidence` (drift reference, test
    metrics, fairness: ``tracking.load_evidence``); without it, what the model itself carries.

    ``after_build(tmp_folder, previous_week_folder)`` runs before the swap (the report is built
    there, so it is part of the atomic folder). ``priority`` names the harm policy
    (``configs/priority/<name>.yaml``; None = the one named after the model's data config, if any).
    ``manifest_extra`` is merged into the manifest
    (e.g. the decision log's anchor). A file-system failure (full disk, no permission, a file in
    the way) is one :class:`~resilience.core.errors.ResilienceError` naming the file; on any failure
    nothing is left behind, not even an ``output_root`` this run created. (A little over 60 lines:
    the commit's steps read best in one place.)
    """
    contract: DataContract = model.contract
    policy = load_priority_policy(priority, contract)
    input_path = Path(input_path)
    output_root = Path(output_root)
    drift_config = drift_config or DriftConfig()
    evidence = evidence or ModelEvidence.from_model(model)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    sha256 = file_sha256(input_path) if input_path.is_file() else None
    week = check_week(week) if week else None
    created = _check_output_root(output_root)

    # Everything goes into a temporary folder first; only a finished week is renamed into place.
    tmp = output_root / f".scoring.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    committed, sigterm = False, _raise_on_sigterm()
    try:
        tmp.mkdir(parents=True)
        result = _score_into(
            tmp,
            input_path,
            model,
            contract,
            drift_config,
            chunk_rows,
            timings,
            today,
            evidence.drift_reference,
            policy,
        )
        week = week or iso_week(result["last_date"])
        check_week_holds(week, result["last_date"], str(input_path))
        _recover(output_root)
        final = output_root / week
        previous_identity, described = _previous_fingerprint(final)
        if final.exists() and previous_identity != model_ref.fingerprint and not overwrite:
            raise ResilienceError(
                f"week {week} in {output_root} was scored with {described}, not with model {model_ref.identity} "
                f"({model_ref.sha256 or 'no digest'}) from {model_ref.registry or model_ref.uri}; nothing was "
                "changed. Rerun with overwrite=true to replace it."
            )
        week_tmp = output_root / f".{week}.tmp-{os.getpid()}"
        tmp.rename(week_tmp)
        tmp = week_tmp
        manifest = WeekManifest(
            week=week,
            created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            toolkit_version=__version__,
            input={"path": str(input_path), "sha256": sha256, "rows": result["rows"]},
            config_hash=config_hash(settings or {}),
            settings=settings or {},
            model={
                **asdict(model_ref),
                "identity": model_ref.identity,
                "fingerprint": model_ref.fingerprint,
                **model_summary(model, evidence),
            },
            counts={
                "rows": result["rows"],
                "lines": result["lines"],
                "bands": result["band_counts"],
                "drift_alerts": len(result["drift"]["alerts"]),
            },
            warnings=([model_ref.warning] if model_ref.warning else [])
            + result["warnings"]
            + [a["message"] for a in result["drift"]["alerts"]],
            priority=policy.to_dict() if policy is not None else {},
            extra=dict(manifest_extra or {}),
        )
        previous = find_previous_week(output_root / week)
        if after_build is not None:
            start = time.perf_counter()
            write_text_atomic(tmp / "manifest.json", manifest.to_json())
            after_build(tmp, previous)
            timings["report"] = time.perf_counter() - start
        timings["total"] = time.perf_counter() - started
        manifest.timings = {k: round(v, 3) for k, v in timings.items()}
        write_text_atomic(tmp / "manifest.json", manifest.to_json())
        _swap_into_place(tmp, final)
        committed = True
    except OSError as exc:
        raise ResilienceError(
            os_error_message(
                exc, f"scoring {input_path} into {output_root} failed and nothing was changed"
            )
        ) from exc
    finally:
        _recover(
            output_root, own=True
        )  # this run's temporary or set-aside folders, whatever happened
        if not committed:
            _remove_if_empty(created)
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)
    return WeekResult(
        week,
        final,
        result["rows"],
        result["band_counts"],
        len(result["drift"]["alerts"]),
        manifest.to_dict(),
    )


def _score_into(
    folder: Path,
    input_path: Path,
    model,
    contract: DataContract,
    drift_config: DriftConfig,
    chunk_rows: int,
    timings: dict,
    today: pd.Timestamp | None,
    reference: dict,
    policy: HarmPolicy | None = None,
) -> dict:
    """Pass 1: validate, score, explain chunk by chunk (parts on disk). Pass 2: rank and write."""
    drift = DriftAccumulator(reference, drift_config)
    problems: list[Problem] = []
    warnings: list[str] = []
    probabilities: list[np.ndarray] = []
    harms: list[np.ndarray] = []
    id_hashes: list[np.ndarray] = []
    protect = _protect_columns(contract)
    protect_totals = {c: 0.0 for c in protect}
    # distinct lines are counted from 8-byte hashes, not held as Python strings (flat memory)
    protect_lines: dict[str, list[np.ndarray]] = {c: [] for c in protect}
    line_hashes: list[np.ndarray] = []
    last_date = None
    parts = folder / "parts"
    parts.mkdir()
    explanation_writer = None
    rows = 0
    t_validate = t_explain = 0.0
    for number, chunk in enumerate(iter_extract(input_path, chunk_rows)):
        start = time.perf_counter()
        try:
            extract = validate_frame(
                chunk, contract, source=str(input_path), first_row=rows + 1, today=today
            )
        except ContractError as exc:
            problems += exc.problems
            rows += len(chunk)
            continue
        frame = extract.frame
        warnings += [str(w) for w in extract.warnings if str(w) not in warnings]
        t_validate += time.perf_counter() - start
        start = time.perf_counter()
        scored = explain(model, frame)
        ranges = interval_table(
            model, frame, scored.probability
        )  # no columns for a model without intervals
        t_explain += time.perf_counter() - start
        out = _output_frame(frame, contract)
        out["persistence_probability"] = np.round(scored.probability, 6)
        out["percent"] = np.rint(scored.probability * 100).astype(int)
        out["yardstick_band"] = scored.bands
        out["band_in_gap"] = scored.in_gap
        for column in ranges.columns:
            out[column] = (
                ranges[column].to_numpy()
                if column == "band_uncertain"
                else np.round(ranges[column].to_numpy(), 6)
            )
        for column in REASON_COLUMNS:
            out[column] = scored.reasons[column]
        out["summary"] = scored.summary
        out.insert(0, INPUT_ORDER_COLUMN, np.arange(rows + 1, rows + len(out) + 1))
        if policy is not None:  # harm: a policy from config, never a model input
            out = pd.concat([out, policy.columns(frame)], axis=1)
            harms.append(out["harm_index"].to_numpy())
        out.to_parquet(parts / f"{number:06d}.parquet", index=False)
        matrix = scored.shown_points()  # unearned features summed as other_factors
        matrix.insert(0, "disruption_id", out["disruption_id"].to_numpy())
        matrix["baseline_probability"] = scored.baseline_probability
        table = pa.Table.from_pandas(matrix, preserve_index=False)
        if explanation_writer is None:
            explanation_writer = pq.ParquetWriter(folder / "explanations.parquet", table.schema)
        explanation_writer.write_table(table)
        probabilities.append(scored.probability)
        id_hashes.append(pd.util.hash_pandas_object(out["disruption_id"], index=False).to_numpy())
        drift.update(frame, scored.top_concepts)
        hashed_lines = pd.util.hash_pandas_object(out["line_id"], index=False).to_numpy()
        line_hashes.append(np.unique(hashed_lines))
        for c in protect:
            values = pd.to_numeric(frame[c].astype(float), errors="coerce").fillna(0)
            protect_totals[c] += float(values.sum())
            protect_lines[c].append(np.unique(hashed_lines[values.to_numpy() > 0]))
        chunk_last = pd.to_datetime(frame[contract.date_column]).max()
        last_date = chunk_last if last_date is None else max(last_date, chunk_last)
        rows += len(chunk)
    if explanation_writer is not None:
        explanation_writer.close()
    checkpoint("build")
    if rows == 0:
        problems.append(
            Problem(str(input_path), None, "the extract has no rows", "at least one data row")
        )
    problems += _duplicate_problems(id_hashes, str(input_path), contract.id_column)
    if problems:
        raise ContractError(problems)
    timings["validate"], timings["score_and_explain"] = t_validate, t_explain

    start = time.perf_counter()
    probability = np.concatenate(probabilities)
    order = np.lexsort(
        (np.arange(len(probability)), -probability)
    )  # highest first, ties by input order
    rank = np.empty(len(probability), dtype=np.int64)
    rank[order] = np.arange(1, len(probability) + 1)
    harm = np.concatenate(harms) if harms else np.zeros(len(probability))
    priority_rank = (
        priority_ranks(probability, harm, policy.harm_floor) if policy is not None else rank
    )
    band_counts = _write_scores(folder, parts, rank, priority_rank)
    shutil.rmtree(parts)
    concept_labels = {c.name: c.label_text for c in contract.concepts}
    drift_report = drift.report(concept_labels)
    write_text_atomic(folder / "drift.json", json.dumps(drift_report, indent=2, default=float))
    safeguarding = [
        {
            "column": c,
            "label_text": contract.describe(c),
            "concept": contract.concept_of(c).name,
            "concept_label": contract.concept_of(c).label_text,
            "four_ps": contract.concept_of(c).four_ps,
            "total": int(round(protect_totals[c])),
            "lines_with_any": _distinct(protect_lines[c]),
        }
        for c in protect
    ]
    write_text_atomic(folder / "safeguarding.json", json.dumps(safeguarding, indent=2))
    write_text_atomic(folder / "contract.json", json.dumps(contract.to_dict(), indent=2))
    timings["write"] = time.perf_counter() - start
    return {
        "rows": rows,
        "lines": _distinct(line_hashes),
        "band_counts": band_counts,
        "drift": drift_report,
        "warnings": warnings,
        "last_date": last_date,
    }


def _distinct(hashes: list[np.ndarray]) -> int:
    return int(len(np.unique(np.concatenate(hashes)))) if hashes else 0


def _duplicate_problems(id_hashes: list[np.ndarray], source: str, column: str) -> list[Problem]:
    """Duplicate ids across chunks (each chunk already checked itself)."""
    if not id_hashes:
        return []
    hashes = np.concatenate(id_hashes)
    values, counts = np.unique(hashes, return_counts=True)
    if not (counts > 1).any():
        return []
    duplicated = np.flatnonzero(np.isin(hashes, values[counts > 1]))
    rows = tuple(int(r) + 1 for r in duplicated[:5])
    return [
        Problem(
            source,
            column,
            "duplicate value",
            "every value unique",
            rows,
            ("",) * len(rows),
            len(duplicated),
        )
    ]


def _write_scores(
    folder: Path,
    parts: Path,
    rank: np.ndarray,
    priority_rank: np.ndarray | None = None,
    bucket_rows: int = 50_000,
) -> dict:
    """Pass 2: stream the parts, add the global ranks, write scores.parquet (input order) and
    scores.csv sorted by rank (``input_row`` keeps the input order). The CSV is sorted by buckets of
    ``bucket_rows`` ranks, so memory stays bounded by a bucket, not the week."""
    writer = None
    band_counts: dict[str, int] = {}
    position = 0
    buckets = parts / "by_rank"
    buckets.mkdir()
    for number, part in enumerate(sorted(parts.glob("*.parquet"))):
        frame = pd.read_parquet(part)
        frame.insert(0, "rank", rank[position : position + len(frame)])
        if priority_rank is not None:
            frame["priority_rank"] = priority_rank[position : position + len(frame)]
        position += len(frame)
        for band, count in frame["yardstick_band"].value_counts().items():
            band_counts[band] = band_counts.get(band, 0) + int(count)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(folder / "scores.parquet", table.schema)
        writer.write_table(table)
        for bucket, rows in frame.groupby((frame["rank"].to_numpy() - 1) // bucket_rows):
            rows.to_parquet(buckets / f"{bucket:06d}-{number:06d}.parquet", index=False)
    if writer is not None:
        writer.close()
    # scores.csv quotes every text field and passes it through _csv_safe (in _append_csv), so no
    # cell can start a formula or break a row, whatever text reached it.
    with (
        atomic_path(folder / "scores.csv") as csv_tmp,
        open(csv_tmp, "w", encoding="utf-8", newline="") as handle,
    ):
        names = sorted(buckets.glob("*.parquet"))
        for i, bucket in enumerate(sorted({p.name.split("-")[0] for p in names})):
            frame = pd.concat(
                [pd.read_parquet(p) for p in names if p.name.startswith(bucket + "-")]
            )
            _append_csv(handle, frame.sort_values("rank", kind="stable"), header=i == 0)
    # bands in yardstick order (remote chance first), so summaries read low to high
    return {
        band: band_counts[band]
        for band in (*BAND_NAMES, *sorted(set(band_counts) - set(BAND_NAMES)))
        if band in band_counts
    }


def _append_csv(handle, frame: pd.DataFrame, header: bool) -> None:
    """Append rows to scores.csv: every text field quoted and through :func:`_csv_safe` (numbers and
    booleans as they are), so no cell can start a formula or break a row."""
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            safe[column] = series.astype(object).map(_csv_safe)
    names = [_csv_safe(str(c)) for c in safe.columns] if header else False
    safe.to_csv(
        handle, index=False, header=names, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC
    )


# Characters that would end a CSV row for some reader (CR, LF, the Unicode line and paragraph
# separators), other controls, and bidirectional overrides: none may reach scores.csv.
_CSV_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What a spreadsheet reads as the start of a formula (after NFKC folding: fullwidth ＝ is =).
_FORMULA_START = frozenset("=+-@\u2212")


def _csv_safe(value: object) -> object:
    """Make a text cell inert in a spreadsheet and unable to break a CSV row.

    * control characters, line/paragraph separators and bidi overrides become U+FFFD (validation
      already refuses them in ids and text, so this only guards text made later);
    * a cell whose first visible character, after any leading whitespace, control, format or
      no-break characters and after NFKC folding (fullwidth ``＝`` is ``=``), is ``= + - @`` or a
      minus sign gets a leading apostrophe, which spreadsheets show as text.
    """
    if not isinstance(value, str):
        return value
    text = _CSV_BREAKING.sub("\ufffd", value)
    return "'" + text if _first_visible(text) in _FORMULA_START else text


def _first_visible(text: str) -> str:
    """The first character a spreadsheet would read, NFKC-folded ('' if there is none)."""
    for ch in unicodedata.normalize("NFKC", text):
        if not (
            ch.isspace()
            or ch == "\ufffd"
            or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")
        ):
            return ch
    return ""


WEEK_JSON = ("manifest.json", "contract.json", "drift.json", "safeguarding.json")
WEEK_PARQUET = ("scores.parquet", "explanations.parquet")


def check_week_folder(folder: Path) -> None:
    """A scored week's files are all present and readable; otherwise one error naming the file."""
    from resilience.data.io import read_json

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


def model_summary(model, evidence: ModelEvidence | None = None) -> dict:
    """What a report needs to know about the model (its evidence; older models carry it themselves)."""
    return (evidence or ModelEvidence.from_model(model)).summary()
