"""Reading a scored week folder with bounded memory.

A week may hold a million rows; the briefing needs only a few columns of every row (for counts,
the matrix and the changes) and the full rows of a few dozen lines (the shortlist, the protect list,
the biggest changes). :func:`load_week` reads the light columns with pyarrow (ids as Arrow strings);
:meth:`WeekData.rows_for` and :meth:`WeekData.explanations_for` read full rows only for the ids
asked for, filtering inside pyarrow's dataset scanner.

The file names and the manifest come from :mod:`resilience.core.week_files`, the contract shared with
scoring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from resilience.core import week_files
from resilience.core.errors import ResilienceError
from resilience.core.week_files import WeekManifest
from resilience.core.yardstick import BAND_NAMES, place
from resilience.data.contract import DataContract
from resilience.data.io import read_extract
from resilience.data.validate import validate_frame
from resilience.governance.outcomes import read_outcomes
from resilience.report.errors import ReportError

_BAND_CODE_OF_PERCENT = np.array(
    [BAND_NAMES.index(place(p / 100).band) for p in range(101)], dtype=np.int8
)
# Scan in small batches with little read-ahead: a filtered read then holds a few batches, not the file.
SCAN = {"batch_size": 16_384, "batch_readahead": 2, "fragment_readahead": 1}
LIGHT_COLUMNS = (
    "disruption_id",
    "line_id",
    "rank",
    "priority_rank",
    "persistence_probability",
    "harm_index",
    "probability_low",
    "probability_high",
    "band_uncertain",
    week_files.INPUT_ORDER_COLUMN,
    "protect_referrals",
    "disruption_date",
    week_files.RECORD_FINGERPRINT,
)


@dataclass
class WeekData:
    """A scored week as the report needs it: light columns for every row, the rest on demand."""

    folder: Path
    rows: pd.DataFrame  # light columns of every row (see LIGHT_COLUMNS)
    contract: DataContract
    manifest: WeekManifest
    safeguarding: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] | None = None
    columns: tuple[str, ...] = ()  # every column of scores.parquet

    @property
    def name(self) -> str:
        return self.manifest.week or self.folder.name

    def rows_for(self, disruption_ids: list[str]) -> pd.DataFrame:
        """Full score rows (reasons, summary...) of these disruptions, in no particular order."""
        return _filtered(self.folder / week_files.SCORES_PARQUET, disruption_ids)

    def explanations_for(self, disruption_ids: list[str]) -> pd.DataFrame:
        """Explanation rows (points per input column) of these disruptions."""
        path = self.folder / week_files.EXPLANATIONS
        if not path.is_file():
            return pd.DataFrame(columns=["disruption_id"])
        return _filtered(path, disruption_ids)

    def records_for(self, disruption_ids: list[str]) -> pd.DataFrame | None:
        """These disruptions' records as the extract the week kept held them (typed by the data
        contract, :mod:`resilience.weekly.kept`); None when the week kept no extract or its rows
        no longer validate (the board then says nothing about the record)."""
        name = self.manifest.input.get(week_files.KEPT_KEY)
        path = self.folder / str(name) if name else None
        if path is None or not path.is_file():
            return None
        id_column = self.contract.id_column
        try:
            raw = read_extract(path)
            raw = raw[raw[id_column].astype(str).isin({str(i) for i in disruption_ids})]
            frame = validate_frame(raw.reset_index(drop=True), self.contract, source=str(path))
        except (ResilienceError, KeyError):
            return None
        return frame.frame.assign(**{id_column: frame.frame[id_column].astype(str)})

    def outcomes_for(self, disruption_ids: list[str]) -> pd.DataFrame | None:
        """Known outcomes of these disruptions, with the estimate each was last given, from the file
        ``resilience-outcomes`` keeps beside the week folders; None when there is no such file."""
        path = self.folder.parent / week_files.OUTCOMES_PARQUET
        if not path.is_file():
            return None
        try:
            return read_outcomes(path, disruption_ids)
        except ResilienceError as exc:
            raise ReportError(str(exc)) from exc


def _filtered(path: Path, disruption_ids: list[str]) -> pd.DataFrame:
    """The rows of a Parquet file whose ``disruption_id`` is wanted, read in small batches so only a
    batch (not a row group of a million-row week) is decoded at a time."""
    wanted = pa.array(sorted({str(i) for i in disruption_ids}), type=pa.string())
    parquet = pq.ParquetFile(path)
    kept = []
    for batch in parquet.iter_batches(batch_size=8_192):
        ids = batch.column(batch.schema.get_field_index("disruption_id"))
        mask = pc.is_in(pc.cast(ids, pa.string()), value_set=wanted)
        if pc.any(mask).as_py():
            kept.append(batch.filter(mask))
    table = (
        pa.Table.from_batches(kept, schema=parquet.schema_arrow)
        if kept
        else parquet.schema_arrow.empty_table()
    )
    frame = table.to_pandas()
    frame["disruption_id"] = frame["disruption_id"].astype(str)
    return frame


def read_json(path: Path, required: bool = True) -> Any:
    if not path.is_file():
        if required:
            raise ReportError(f"{path}: missing; the scoring step writes it into every week folder")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not valid UTF-8 JSON: {exc}") from exc


def read_light_scores(
    path: Path, extra: tuple[str, ...] = (), only: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The light columns (and ``extra``) of every row of ``scores.parquet``, plus all its column
    names. Raises :class:`ReportError` for a missing or unreadable file or a missing required column."""
    if not path.is_file():
        raise ReportError(f"{path}: missing; run the weekly scoring step first")
    try:
        dataset = ds.dataset(path, format="parquet")
        names = tuple(dataset.schema.names)
    except (pa.ArrowException, OSError) as exc:
        raise ReportError(f"{path}: cannot be read as Parquet: {exc}") from exc
    missing = [c for c in week_files.REQUIRED_SCORE_COLUMNS if c not in names]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}; found {list(names)}")
    wanted = [c for c in dict.fromkeys((*(only or LIGHT_COLUMNS), *extra)) if c in names]
    try:
        table = dataset.to_table(columns=wanted, **SCAN)
    except (pa.ArrowException, OSError) as exc:
        raise ReportError(f"{path}: cannot be read as Parquet: {exc}") from exc
    frame = table.to_pandas(
        types_mapper={
            pa.string(): pd.ArrowDtype(pa.string()),
            pa.large_string(): pd.ArrowDtype(pa.string()),
        }.get
    )
    for column in ("disruption_id", "line_id"):
        frame[column] = frame[column].astype(pd.ArrowDtype(pa.string()))
    probability = pd.to_numeric(frame["persistence_probability"], errors="coerce")
    bad = frame.index[probability.isna() | (probability < 0) | (probability > 1)]
    if len(bad):
        shown = ", ".join(
            f"rank {frame.at[i, 'rank']} ({frame.at[i, 'persistence_probability']!r})"
            for i in bad[:5]
        )
        raise ReportError(
            f"{path}: persistence_probability must be a number from 0 to 1; "
            f"{len(bad)} row(s) are not: {shown}"
        )
    frame["persistence_probability"] = probability.astype(float)
    frame["percent"] = np.rint(probability.to_numpy() * 100).astype(np.int16)
    frame["band"] = pd.Categorical.from_codes(
        _BAND_CODE_OF_PERCENT[frame["percent"].to_numpy()], categories=BAND_NAMES
    )
    for column in frame.columns:
        if column.startswith(week_files.HARM_COMPONENT_PREFIX) or column in (
            "harm_index",
            "protect_referrals",
        ):
            frame[column] = frame[column].astype(np.float32)
    if (
        "priority_rank" not in frame.columns
    ):  # a week scored without a harm policy: likelihood alone
        frame["priority_rank"] = frame["rank"]
    return frame, names


def load_week(week_dir: Path, previous: bool = False) -> WeekData:
    """Read a scored week folder. Raises :class:`ReportError` naming the file that is wrong.

    ``previous=True`` is last week's folder: the same light columns (what became of last week's
    lists needs its priorities, harm, referrals and record fingerprints), without its decisions."""
    week_dir = Path(week_dir)
    if not week_dir.is_dir():
        raise ReportError(f"{week_dir}: no such week folder")
    try:
        contract = DataContract.from_dict(read_json(week_dir / week_files.CONTRACT))
    except ReportError:
        raise
    except ResilienceError as exc:
        raise ReportError(f"{week_dir / week_files.CONTRACT}: {exc}") from exc
    slices = tuple(contract.slices)
    manifest = WeekManifest.from_dict(read_json(week_dir / week_files.MANIFEST))
    scores_path = week_dir / week_files.SCORES_PARQUET
    names = (
        tuple(ds.dataset(scores_path, format="parquet").schema.names)
        if scores_path.is_file()
        else ()
    )
    context_columns = (contract.group_column, (manifest.playbook or {}).get("grade_column"))
    extra = tuple(
        c
        for c in names
        if c.startswith((week_files.HARM_COMPONENT_PREFIX, week_files.OPTION_PREFIX))
        or c in context_columns
    )
    rows, names = read_light_scores(scores_path, extra=(*slices, *extra))
    for column in slices:
        if column in rows.columns:  # few distinct values: categories, not a string per row
            rows[column] = rows[column].astype("category")
    explanations = week_dir / week_files.EXPLANATIONS
    if not explanations.is_file():
        raise ReportError(f"{explanations}: missing; the scoring step writes it with the scores")
    if "disruption_id" not in ds.dataset(explanations, format="parquet").schema.names:
        raise ReportError(f"{explanations}: missing column 'disruption_id'")
    decisions = None if previous else read_json(week_dir / week_files.DECISIONS, required=False)
    return WeekData(
        folder=week_dir,
        rows=rows,
        contract=contract,
        manifest=manifest,
        safeguarding=list(read_json(week_dir / week_files.SAFEGUARDING, required=False) or []),
        drift=dict(read_json(week_dir / week_files.DRIFT, required=False) or {}),
        decisions=list(decisions) if isinstance(decisions, list) else None,
        columns=names,
    )
