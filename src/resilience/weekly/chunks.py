"""The week's files, built chunk by chunk in the transaction's folder (memory set by the chunk).

Pass 1 (:func:`score_chunks`) validates each chunk of the extract against the model's data
contract, scores, explains and gives it ranges and harm, and writes it as a part; only small
per-row arrays (probabilities, harm, 8-byte id and line hashes) are kept. Pass 2 ranks every row
and writes ``scores.parquet`` (input order) and ``scores.csv`` (sorted by priority, bucket by
bucket), then ``drift.json``, ``safeguarding.json`` and ``contract.json``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from resilience.core.errors import ContractError, Problem
from resilience.core.week_files import (
    CONTRACT,
    DRIFT,
    EXPLANATIONS,
    INPUT_ORDER_COLUMN,
    RECORD_FINGERPRINT,
    SAFEGUARDING,
    SCORES_CSV,
    SCORES_PARQUET,
)
from resilience.core.yardstick import BAND_NAMES, percent
from resilience.data.contract import DataContract
from resilience.data.csv_safety import append_csv
from resilience.data.io import atomic_path, iter_extract, write_text_atomic
from resilience.data.line_checks import LineRecords, conflicts_across_chunks
from resilience.data.lookalikes import is_lookalike
from resilience.data.record_age import with_record_age
from resilience.data.text_checks import lookalikes_in_file
from resilience.data.validate import validate_frame
from resilience.explain import REASON_COLUMNS, explain
from resilience.learn.ranges import draw_groups, interval_table, range_components
from resilience.weekly.drift import DriftAccumulator, DriftConfig
from resilience.weekly.faults import checkpoint
from resilience.weekly.playbook import Playbook
from resilience.weekly.priority import HarmPolicy, priority_ranks
from resilience.weekly.shortlist import (
    DEFAULT_CAPACITY,
    NEARLY_EVERY_DRAW,
    DrawSettings,
    shortlist_draws,
)

DECIMALS = 6  # probabilities and their ranges are written rounded to this many places


@dataclass
class WeekScores:
    """What pass 1 and 2 learned about the week: rows, distinct lines, band counts, the drift
    report, validation warnings and the latest disruption date."""

    rows: int
    lines: int
    band_counts: dict
    drift: dict
    warnings: list[str]
    last_date: pd.Timestamp | None
    draws: dict = field(default_factory=dict)  # how the week was drawn (empty: no joint draws)


@dataclass
class _Tally:
    """Pass 1's running state: small per-row arrays, never the rows themselves."""

    contract: DataContract
    drift: DriftAccumulator
    protect: list[str]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    harms: list[np.ndarray] = field(default_factory=list)
    id_hashes: list[np.ndarray] = field(default_factory=list)
    # distinct lines are counted from 8-byte hashes, not held as Python strings (flat memory)
    line_hashes: list[np.ndarray] = field(default_factory=list)
    # the ranges' components and groups of every row, for the week's joint draws (pass 2)
    components: list[pd.DataFrame] = field(default_factory=list)
    groups: list[np.ndarray] = field(default_factory=list)
    protect_totals: dict = field(default_factory=dict)
    protect_lines: dict = field(default_factory=dict)
    last_date: pd.Timestamp | None = None
    rows: int = 0
    seconds: dict = field(default_factory=lambda: {"validate": 0.0, "score_and_explain": 0.0})
    lines: LineRecords = field(init=False)  # each line's per_line values, chunk by chunk (hashes)

    def __post_init__(self) -> None:
        self.lines = LineRecords(self.contract)

    def count(self, frame: pd.DataFrame, out: pd.DataFrame, scored, components) -> None:
        self.probabilities.append(scored.probability)
        self.components.append(components)
        column = self.contract.cohort_column
        cohort = frame[column].to_numpy() if column and column in frame.columns else None
        self.groups.append(draw_groups(cohort, scored.probability))
        self.id_hashes.append(
            pd.util.hash_pandas_object(out["disruption_id"], index=False).to_numpy()
        )
        self.drift.update(frame, scored.top_concepts)
        hashed_lines = pd.util.hash_pandas_object(out["line_id"], index=False).to_numpy()
        self.line_hashes.append(np.unique(hashed_lines))
        for c in self.protect:
            values = pd.to_numeric(frame[c].astype(float), errors="coerce").fillna(0)
            self.protect_totals[c] = self.protect_totals.get(c, 0.0) + float(values.sum())
            self.protect_lines.setdefault(c, []).append(
                np.unique(hashed_lines[values.to_numpy() > 0])
            )
        chunk_last = pd.to_datetime(frame[self.contract.date_column]).max()
        self.last_date = chunk_last if self.last_date is None else max(self.last_date, chunk_last)


def output_frame(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
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
    for name in (*contract.slices, *([contract.group_column] if contract.group_column else [])):
        if name in frame.columns:  # the group id: context for the briefing's group view
            out[name] = (
                frame[name].astype(object).where(frame[name].notna(), "").astype(str).to_numpy()
            )
    return out


def record_fingerprints(frame: pd.DataFrame, contract: DataContract) -> np.ndarray:
    """Per row, 16 hex digits that change when any model input of the record changes."""
    hashed = pd.util.hash_pandas_object(frame[list(contract.features)], index=False).to_numpy()
    return np.array([f"{value:016x}" for value in hashed.tolist()], dtype=object)


def protect_columns(contract: DataContract) -> list[str]:
    """The numeric features of protect and prevent concepts: totalled in ``safeguarding.json``."""
    return [
        name
        for name in contract.features
        if contract.column(name).dtype in ("int", "float", "bool")
        and contract.concept_of(name).four_ps in ("protect", "prevent")
    ]


def _scored_chunk(
    model, frame: pd.DataFrame, first_row: int, policy: HarmPolicy | None, playbook: Playbook | None
):
    """One validated chunk's score rows (without ranks) and its explanation."""
    contract = model.contract
    scored = explain(model, frame)
    ranges = interval_table(model, frame, scored.probability)  # none without ranges
    out = output_frame(frame, contract)
    out["persistence_probability"] = np.round(scored.probability, DECIMALS)
    out["percent"] = percent(scored.probability)
    out["yardstick_band"] = scored.bands
    out["band_in_gap"] = scored.in_gap
    for column in ranges.columns:
        values = ranges[column].to_numpy()
        out[column] = values if column == "band_uncertain" else np.round(values, DECIMALS)
    for column in REASON_COLUMNS:
        out[column] = scored.reasons[column]
    out["summary"] = scored.summary
    out.insert(0, INPUT_ORDER_COLUMN, np.arange(first_row, first_row + len(out)))
    out[RECORD_FINGERPRINT] = record_fingerprints(frame, contract)
    if policy is not None:  # harm: a policy from config, never a model input
        out = pd.concat([out, policy.columns(frame)], axis=1)
    if playbook is not None:  # options under the four Ps: a policy from config, never a model input
        out = pd.concat([out, playbook.columns(frame)], axis=1)
    return out, scored, range_components(model, frame, scored.probability)


def _validated_chunk(
    chunk: pd.DataFrame, contract: DataContract, source: str, tally: _Tally, today
) -> pd.DataFrame | None:
    """The chunk checked against the contract; None when it has problems (kept in ``tally``, with
    its rows counted, so every problem of the extract is reported at once)."""
    start = time.perf_counter()
    try:
        extract = validate_frame(
            chunk, contract, source=source, first_row=tally.rows + 1, today=today, scoring=True
        )
    except ContractError as exc:
        tally.problems += exc.problems
        tally.rows += len(chunk)
        return None
    tally.warnings += [str(w) for w in extract.warnings if str(w) not in tally.warnings]
    tally.lines.add(extract.frame)
    tally.seconds["validate"] += time.perf_counter() - start
    return extract.frame


def _explanation_table(out: pd.DataFrame, scored) -> pa.Table:
    """The chunk's shown points (unearned features summed as other_factors) and baseline, keyed by
    disruption: its rows of ``explanations.parquet``."""
    matrix = scored.shown_points()
    matrix.insert(0, "disruption_id", out["disruption_id"].to_numpy())
    matrix["baseline_probability"] = scored.baseline_probability
    return pa.Table.from_pandas(matrix, preserve_index=False)


def score_chunks(
    folder: Path,
    input_path: Path,
    model,
    drift_config: DriftConfig,
    chunk_rows: int,
    timings: dict,
    today: pd.Timestamp | None,
    reference: dict,
    policy: HarmPolicy | None = None,
    playbook: Playbook | None = None,
    as_of: pd.Timestamp | None = None,
    draws: DrawSettings | None = None,
) -> WeekScores:
    """Pass 1: validate, score, explain chunk by chunk (parts on disk). Pass 2: rank, draw the week
    jointly (:mod:`resilience.weekly.shortlist`; ``draws`` None: the defaults) and write.

    ``as_of``: the extract's as-of date (:func:`~resilience.data.record_age.extract_as_of`), each
    record's age is counted to it when the contract derives one."""
    contract: DataContract = model.contract
    tally = _Tally(contract, DriftAccumulator(reference, drift_config), protect_columns(contract))
    parts = folder / "parts"
    parts.mkdir()
    explanation_writer, number = None, 0
    for number, chunk in enumerate(iter_extract(input_path, chunk_rows)):
        validated = _validated_chunk(chunk, contract, str(input_path), tally, today)
        if validated is None:
            continue
        start = time.perf_counter()
        frame = with_record_age(validated, contract, as_of)  # unchanged without one
        out, scored, components = _scored_chunk(model, frame, tally.rows + 1, policy, playbook)
        tally.seconds["score_and_explain"] += time.perf_counter() - start
        if policy is not None:
            tally.harms.append(out["harm_index"].to_numpy())
        out.to_parquet(parts / f"{number:06d}.parquet", index=False)
        table = _explanation_table(out, scored)
        if explanation_writer is None:
            explanation_writer = pq.ParquetWriter(folder / EXPLANATIONS, table.schema)
        explanation_writer.write_table(table)
        tally.count(frame, out, scored, components)
        tally.rows += len(chunk)
    if explanation_writer is not None:
        explanation_writer.close()
    checkpoint("build")
    if number > 0:  # ids that look alike are judged on the whole file's ids, as if unchunked
        found = lookalikes_in_file(input_path, contract)
        tally.problems = [p for p in tally.problems if not is_lookalike(p)] + found
    _refuse_problems(tally, str(input_path), contract.id_column)
    timings.update(tally.seconds)
    start = time.perf_counter()
    scores = _finish(folder, parts, tally, policy, draws or DrawSettings())
    timings["write"] = time.perf_counter() - start
    return scores


def _refuse_problems(tally: _Tally, source: str, id_column: str) -> None:
    if tally.rows == 0:
        tally.problems.append(
            Problem(source, None, "the extract has no rows", "at least one data row")
        )
    tally.problems += _duplicate_problems(tally.id_hashes, source, id_column)
    # a line holding one value in one chunk and another in the next (each chunk checked its own)
    errors, warned = conflicts_across_chunks(source, tally.lines)
    tally.problems += errors
    tally.warnings += [str(w) for w in warned]
    if tally.problems:
        raise ContractError(tally.problems)


def _week_draws(
    tally: _Tally, probability, harm, priority_rank, policy: HarmPolicy | None, settings
) -> tuple[dict, dict]:
    """The shortlist's columns from the week's joint draws, and how they were drawn; none when
    the model's ranges do not keep their components (or ``settings.draws`` is 0)."""
    if not settings.draws or any(c.empty for c in tally.components) or not tally.components:
        return {}, {}
    capacity = policy.capacity if policy is not None else DEFAULT_CAPACITY
    table = shortlist_draws(
        probability,
        harm if policy is not None else None,
        policy.harm_floor if policy is not None else 0.0,
        capacity,
        priority_rank,
        pd.concat(tally.components, ignore_index=True),
        np.concatenate(tally.groups),
        settings,
    )
    summary = {
        "draws": settings.draws,
        "nearly_every": settings.nearly_every,
        "seed": settings.seed,
        "capacity": capacity,
        "nearly_every_draw": int((table["shortlist_group"] == NEARLY_EVERY_DRAW).sum()),
    }
    return {c: table[c].to_numpy() for c in table.columns}, summary


def _finish(
    folder: Path, parts: Path, tally: _Tally, policy: HarmPolicy | None, draws: DrawSettings
) -> WeekScores:
    """Pass 2: the global ranks, the week's joint draws and the week's files."""
    contract = tally.contract
    probability = np.concatenate(tally.probabilities)
    # highest first, ties by input order
    order = np.lexsort((np.arange(len(probability)), -probability))
    rank = np.empty(len(probability), dtype=np.int64)
    rank[order] = np.arange(1, len(probability) + 1)
    harm = np.concatenate(tally.harms) if tally.harms else np.zeros(len(probability))
    priority_rank = (
        priority_ranks(probability, harm, policy.harm_floor) if policy is not None else rank
    )
    columns, drawn = _week_draws(tally, probability, harm, priority_rank, policy, draws)
    band_counts = _write_scores(folder, parts, rank, priority_rank, columns)
    shutil.rmtree(parts)
    concept_labels = {c.name: c.label_text for c in contract.concepts}
    drift_report = tally.drift.report(concept_labels)
    write_text_atomic(folder / DRIFT, json.dumps(drift_report, indent=2, default=float))
    safeguarding = [
        {
            "column": c,
            "label_text": contract.describe(c),
            "concept": contract.concept_of(c).name,
            "concept_label": contract.concept_of(c).label_text,
            "four_ps": contract.concept_of(c).four_ps,
            "total": int(round(tally.protect_totals.get(c, 0.0))),
            "lines_with_any": _distinct(tally.protect_lines.get(c, [])),
        }
        for c in tally.protect
    ]
    write_text_atomic(folder / SAFEGUARDING, json.dumps(safeguarding, indent=2))
    write_text_atomic(folder / CONTRACT, json.dumps(contract.to_dict(), indent=2))
    return WeekScores(
        tally.rows,
        _distinct(tally.line_hashes),
        band_counts,
        drift_report,
        tally.warnings,
        tally.last_date,
        drawn,
    )


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
    columns: dict[str, np.ndarray] | None = None,
    bucket_rows: int = 50_000,
) -> dict:
    """Pass 2: stream the parts, add the global ranks, write scores.parquet (input order) and
    scores.csv sorted by priority, the order the briefing acts in (``priority_rank``; ``rank`` without
    a harm policy; ``input_row`` keeps the input order). The CSV is sorted by buckets of
    ``bucket_rows`` ranks, so memory stays bounded by a bucket, not the week."""
    writer = None
    band_counts: dict[str, int] = {}
    position = 0
    buckets = parts / "by_rank"
    buckets.mkdir()
    order = "rank" if priority_rank is None else "priority_rank"
    for number, part in enumerate(sorted(parts.glob("*.parquet"))):
        frame = pd.read_parquet(part)
        frame.insert(0, "rank", rank[position : position + len(frame)])
        if priority_rank is not None:
            frame["priority_rank"] = priority_rank[position : position + len(frame)]
        for name, values in (columns or {}).items():  # the week's joint draws, when there are any
            frame[name] = values[position : position + len(frame)]
        position += len(frame)
        for band, count in frame["yardstick_band"].value_counts().items():
            band_counts[band] = band_counts.get(band, 0) + int(count)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(folder / SCORES_PARQUET, table.schema)
        writer.write_table(table)
        for bucket, rows in frame.groupby((frame[order].to_numpy() - 1) // bucket_rows):
            rows.to_parquet(buckets / f"{bucket:06d}-{number:06d}.parquet", index=False)
    if writer is not None:
        writer.close()
    # every text field is quoted and made safe (data.csv_safety): no cell can start a formula
    with (
        atomic_path(folder / SCORES_CSV) as csv_tmp,
        open(csv_tmp, "w", encoding="utf-8", newline="") as handle,
    ):
        names = sorted(buckets.glob("*.parquet"))
        for i, bucket in enumerate(sorted({p.name.split("-")[0] for p in names})):
            frame = pd.concat(
                [pd.read_parquet(p) for p in names if p.name.startswith(bucket + "-")]
            )
            append_csv(handle, frame.sort_values(order, kind="stable"), header=i == 0)
    # bands in yardstick order (remote chance first), so summaries read low to high
    return {
        band: band_counts[band]
        for band in (*BAND_NAMES, *sorted(set(band_counts) - set(BAND_NAMES)))
        if band in band_counts
    }
