"""Outcomes arrive later: how did each week's estimates turn out?

``resilience-outcomes`` joins a labels extract (id + label) to the scored weeks and records two
things beside the week folders:

* **Realised performance** (:func:`realised_metrics`, ``outcomes.csv``): per scoring week and per
  cohort (e.g. imported / home-grown), the realised ROC AUC, Brier score, calibration (mean
  predicted vs observed) and ECE, so calibration in use is tracked over time. Small groups are
  suppressed, not reported.
* **Known outcomes, one row per disruption** (:func:`update_outcomes`, ``outcomes.parquet``): what
  happened, against what we had estimated. A disruption is scored every week while it is open;
  once its outcome is known it leaves the weekly extract and arrives in a labels extract. The
  file records the outcome and the estimate the disruption was last given before that: the
  latest scored week that holds it, with its probability, yardstick band and range (when the week
  has one). The report's line board reads it to say "outcome now known: persisted — we estimated
  62%".

The file only grows. A disruption already recorded keeps the estimate recorded then (a week scored
later cannot rewrite what we had estimated), so a rerun with the same labels writes identical bytes
and new labels only add rows. A label that contradicts a recorded outcome is refused, naming both
files and the disruptions, before anything is written.

>>> frame, added = update_outcomes(Path("outputs/weekly"), labels, "labels.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from resilience.core import week_files
from resilience.core.errors import ResilienceError
from resilience.core.weeks import WEEK_PATTERN
from resilience.core.yardstick import band
from resilience.data.contract import DataContract
from resilience.data.io import atomic_path, read_extract, read_json, read_parquet
from resilience.data.validate import parse_column
from resilience.learn.metrics import cohort_groups, headline_metrics, reportable

_TYPES = {
    "disruption_id": pa.string(),
    "line_id": pa.string(),
    "outcome": pa.bool_(),
    "week": pa.string(),
    "persistence_probability": pa.float64(),
    "yardstick_band": pa.string(),
    "probability_low": pa.float64(),
    "probability_high": pa.float64(),
}
SCHEMA = pa.schema([(name, _TYPES[name]) for name in week_files.OUTCOME_COLUMNS])
_ESTIMATE_COLUMNS = (
    "disruption_id",
    "line_id",
    "persistence_probability",
    "yardstick_band",
    "probability_low",
    "probability_high",
)
_SHOWN_IDS = 5


class OutcomeConflict(ResilienceError):
    """A label contradicts an outcome recorded earlier (or another row of the same labels extract)."""


def ids_text(ids: Iterable[object]) -> str:
    """The first few ids, "and N more" after them (for error messages)."""
    ids = [str(i) for i in ids]
    more = f" and {len(ids) - _SHOWN_IDS:,} more" if len(ids) > _SHOWN_IDS else ""
    return ", ".join(ids[:_SHOWN_IDS]) + more


def scored_weeks(output_root: str | Path) -> list[Path]:
    """Week folders (named as ISO weeks) holding ``scores.parquet``, oldest first."""
    root = Path(output_root)
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and WEEK_PATTERN.match(p.name) and (p / week_files.SCORES_PARQUET).is_file()
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the recorded columns, in order, with their types (absent ones empty)."""
    table = pa.Table.from_pandas(
        frame.reindex(columns=list(week_files.OUTCOME_COLUMNS)), schema=SCHEMA, preserve_index=False
    )
    return table.to_pandas()


def _week_estimates(path: Path, wanted: pa.Array) -> pa.Table:
    """The estimate columns of the rows of one week's ``scores.parquet`` whose id is wanted."""
    try:
        dataset = ds.dataset(path, format="parquet")
        names = dataset.schema.names
        missing = [c for c in week_files.REQUIRED_SCORE_COLUMNS if c not in names]
        if missing:
            raise ResilienceError(
                f"{path}: missing column(s) {', '.join(missing)}; rescore the week"
            )
        columns = [c for c in _ESTIMATE_COLUMNS if c in names]
        expression = {
            c: pc.field(c).cast(pa.string())
            if c in ("disruption_id", "line_id", "yardstick_band")
            else pc.field(c).cast(pa.float64())
            for c in columns
        }
        return dataset.to_table(
            columns=expression,
            filter=pc.field("disruption_id").cast(pa.string()).isin(wanted),
            batch_size=16_384,
        )
    except (pa.ArrowException, OSError) as exc:
        raise ResilienceError(f"{path}: cannot be read as Parquet: {exc}") from exc


def last_estimates(output_root: str | Path, disruption_ids: Iterable[object]) -> pd.DataFrame:
    """For each disruption id found in a scored week: the estimate of the latest week that holds it.

    Reads only the estimate columns of the wanted rows, newest week first, stopping once every id
    has been found."""
    wanted = pa.array(sorted({str(i) for i in disruption_ids}), type=pa.string())
    found = []
    for folder in reversed(scored_weeks(output_root)):
        if len(wanted) == 0:
            break
        table = _week_estimates(folder / week_files.SCORES_PARQUET, wanted)
        if table.num_rows == 0:
            continue
        frame = table.to_pandas().drop_duplicates("disruption_id")
        frame["week"] = folder.name
        found.append(frame)
        wanted = pc.filter(wanted, pc.invert(pc.is_in(wanted, value_set=table["disruption_id"])))
    if not found:
        return _typed(pd.DataFrame(columns=list(week_files.OUTCOME_COLUMNS)))
    frame = pd.concat(found, ignore_index=True)
    if "yardstick_band" not in frame.columns:
        frame["yardstick_band"] = None
    missing_band = frame["yardstick_band"].isna()
    frame.loc[missing_band, "yardstick_band"] = [
        band(p) for p in frame.loc[missing_band, "persistence_probability"]
    ]
    return frame


def read_outcomes(path: str | Path, disruption_ids: Iterable[object] | None = None) -> pd.DataFrame:
    """The recorded outcomes (all, or only of ``disruption_ids``, read batch by batch so a long
    history is never held whole). A missing file reads as no rows; a damaged one is an error."""
    path = Path(path)
    if not path.is_file():
        return _typed(pd.DataFrame())
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        missing = [c for c in week_files.OUTCOME_COLUMNS if c not in names]
        if missing:
            raise ResilienceError(
                f"{path}: missing column(s) {', '.join(missing)}; it is written by "
                "resilience-outcomes (move it aside and rerun with every labels extract)"
            )
        wanted = (
            None
            if disruption_ids is None
            else pa.array(sorted({str(i) for i in disruption_ids}), pa.string())
        )
        kept = []
        for batch in parquet.iter_batches(
            batch_size=16_384, columns=list(week_files.OUTCOME_COLUMNS)
        ):
            if wanted is not None:
                batch = batch.filter(
                    pc.is_in(pc.cast(batch.column(0), pa.string()), value_set=wanted)
                )
            if batch.num_rows:
                kept.append(pa.Table.from_batches([batch]).cast(SCHEMA))
    except (pa.ArrowException, OSError) as exc:
        raise ResilienceError(f"{path}: cannot be read as Parquet: {exc}") from exc
    return pa.concat_tables(kept).to_pandas() if kept else _typed(pd.DataFrame())


def _check_agrees(recorded: pd.DataFrame, labels: pd.DataFrame, path: Path, source: str) -> None:
    both = labels.merge(
        recorded[["disruption_id", "outcome"]], on="disruption_id", suffixes=("", "_recorded")
    )
    clash = both[both["outcome"].astype(bool) != both["outcome_recorded"].astype(bool)]
    if len(clash):
        raise OutcomeConflict(
            f"{source}: {len(clash):,} label(s) contradict the outcome recorded in {path} for disruption(s) "
            f"{ids_text(clash['disruption_id'])}; an outcome, once known, does not change. Correct the labels "
            f"extract (or, if the recorded outcome is wrong, move {path.name} aside and rerun with every labels extract)"
        )


def merge_outcomes(
    recorded: pd.DataFrame, labels: pd.DataFrame, estimates: pd.DataFrame, path: Path, source: str
) -> pd.DataFrame:
    """Recorded rows, kept as they are, plus the labelled disruptions not recorded yet that a scored
    week estimated; sorted by id. Raises :class:`OutcomeConflict` if a label contradicts a record."""
    _check_agrees(recorded, labels, path, source)
    new = estimates[~estimates["disruption_id"].isin(recorded["disruption_id"])]
    new = new.merge(labels[["disruption_id", "outcome"]], on="disruption_id", how="inner")
    merged = pd.concat([recorded, _typed(new)], ignore_index=True) if len(recorded) else _typed(new)
    return merged.sort_values("disruption_id", kind="stable").reset_index(drop=True)


def write_outcomes(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the outcomes atomically, with fixed types and no library metadata: same rows, same bytes."""
    table = pa.Table.from_pandas(
        _typed(frame), schema=SCHEMA, preserve_index=False
    ).replace_schema_metadata(None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def update_outcomes(
    output_root: str | Path, labels: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, int]:
    """Record the outcomes in ``labels`` (``disruption_id``, ``outcome``) for every disruption a
    scored week estimated, merged with what is already recorded. Returns (every row, rows added);
    writes nothing (see :func:`write_outcomes`)."""
    path = Path(output_root) / week_files.OUTCOMES_PARQUET
    recorded = read_outcomes(path)
    labels = labels[["disruption_id", "outcome"]].astype({"disruption_id": str, "outcome": bool})
    pending = labels[~labels["disruption_id"].isin(recorded["disruption_id"])]
    estimates = last_estimates(output_root, pending["disruption_id"])
    merged = merge_outcomes(recorded, labels, estimates, path, source)
    return merged, len(merged) - len(recorded)


# -- realised performance per scored week and cohort --------------------------------------------
def read_labels(path: str | Path, contract: DataContract) -> pd.DataFrame:
    """Id and label from a labels extract, with the label parsed as the contract says."""
    raw = read_extract(path)
    missing = [c for c in (contract.id_column, contract.label) if c not in raw.columns]
    if missing:
        raise ResilienceError(f"{path}: the labels extract needs column(s) {', '.join(missing)}")
    label, bad = parse_column(raw[contract.label], contract.column(contract.label))
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise ResilienceError(f"{path}: column '{contract.label}': not true/false in row(s) {rows}")
    frame = pd.DataFrame({"disruption_id": raw[contract.id_column].astype(str), "outcome": label})
    frame = frame[frame["outcome"].notna()].astype({"outcome": bool}).drop_duplicates()
    clash = frame.loc[frame["disruption_id"].duplicated(), "disruption_id"].unique()
    if len(clash):
        raise OutcomeConflict(
            f"{path}: disruption(s) {ids_text(clash)} labelled both true and false "
            f"in column '{contract.label}'; an outcome is one or the other"
        )
    return frame


def realised_metrics(
    output_root: str | Path,
    labels: pd.DataFrame,
    cohort_column: str | None,
    k: int = 10,
    min_rows: int = 30,
) -> pd.DataFrame:
    """One row per (scoring week, cohort) with realised metrics; ``cohort`` "all" is the whole week."""
    rows = []
    for folder in sorted(
        p for p in Path(output_root).iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        scores_path = folder / week_files.SCORES_PARQUET
        if not scores_path.is_file():
            continue
        scores = read_parquet(
            scores_path, f"rescore week {folder.name} with resilience-score ... overwrite=true"
        )
        manifest_path = folder / week_files.MANIFEST
        manifest = read_json(manifest_path) if manifest_path.is_file() else {}
        joined = scores.merge(labels, on="disruption_id", how="inner")
        groups = [("all", joined), *cohort_groups(joined, cohort_column)]
        for cohort, group in groups:
            row = {
                "week": folder.name,
                "cohort": cohort,
                "scored": int(len(scores)) if cohort == "all" else None,
                "labelled": int(len(group)),
                "model": manifest.get("model", {}).get("identity"),
            }
            y = group["outcome"].astype(int).to_numpy()
            if not reportable(y, min_rows):
                row["suppressed"] = True
            else:
                m = headline_metrics(y, group["persistence_probability"].to_numpy(), None, k)
                row.update(
                    {
                        "suppressed": False,
                        **{
                            key: m[key]
                            for key in (
                                "roc_auc",
                                "brier",
                                "ece",
                                "observed_rate",
                                "mean_predicted",
                                f"precision_at_{k}",
                            )
                        },
                    }
                )
            rows.append(row)
    if not rows:
        raise ResilienceError(f"no scored weeks with scores.parquet under {output_root}")
    return pd.DataFrame(rows)
