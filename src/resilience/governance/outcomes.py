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

Each week's realised metrics are computed from **every outcome known so far** (what
:func:`update_outcomes` records: the recorded ones plus the new labels), never from the latest
labels extract alone, so a rerun with a partial extract never shrinks what a week reports.

**Only outcomes that can be known.** A label says whether the line was still active
``horizon_weeks`` after its disruption, so a label for a disruption dated less than the horizon
before the labels extract was taken is a guess. Training refuses such labels
(:mod:`resilience.data.asof`); so does this command, by the same rule and the same as-of date
(``as_of=auto``: the data config's ``as_of_column`` when the labels extract carries it, else
``world.json``'s ``end_date`` beside the extract, else today). A disruption's date is the one its
scored week recorded (``disruption_date`` in ``scores.parquet``). The whole run is refused, naming
the extract, the label column, the rows and the disruption dates, before anything is written.

>>> frame, added = update_outcomes(Path("outputs/weekly"), labels, "labels.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from resilience.core import week_files
from resilience.core.errors import ContractError, ResilienceError, first_few
from resilience.core.weeks import WEEK_PATTERN
from resilience.core.yardstick import band
from resilience.data.asof import AsOf, as_of_from_setting, censored_problems
from resilience.data.contract import DataContract
from resilience.data.io import atomic_path, read_extract, read_json, read_parquet
from resilience.data.text_checks import text_problems
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
    "disruption_date",  # not recorded: what the horizon check reads (written by scoring)
)
_TEXT_COLUMNS = ("disruption_id", "line_id", "yardstick_band", "disruption_date")


class OutcomeConflict(ResilienceError):
    """A label contradicts an outcome recorded earlier (or another row of the same labels extract)."""


@dataclass(frozen=True)
class LabelsExtract:
    """Where a labels frame came from, kept by :func:`read_labels` in the frame's
    ``attrs["extract"]`` so the steps that join it to the scored weeks can refuse labels that
    cannot be known yet: the extract (named in messages), its data contract (label column,
    horizon) and its as-of date (:class:`resilience.data.asof.AsOf`). A frame made any other way
    carries no as-of date, and its labels' ages are not checked."""

    source: str
    contract: DataContract
    as_of: AsOf


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
            if c in _TEXT_COLUMNS
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
            f"{first_few(clash['disruption_id'])}; an outcome, once known, does not change. Correct the labels "
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
    writes nothing (see :func:`write_outcomes`). Raises :class:`OutcomeConflict` for a label that
    contradicts a record, and :class:`ContractError` for one that cannot be known yet (when
    ``labels`` came from :func:`read_labels`)."""
    path = Path(output_root) / week_files.OUTCOMES_PARQUET
    recorded = read_outcomes(path)
    extract = labels.attrs.get("extract")
    labels = _plain(labels)
    pending = labels[~labels["disruption_id"].isin(recorded["disruption_id"])]
    estimates = last_estimates(output_root, pending["disruption_id"])
    _refuse_unmatched(labels, recorded, estimates, extract, source, Path(output_root))
    merged = merge_outcomes(recorded, labels, estimates, path, source)
    refuse_unknowable(pending, estimates, extract)
    return merged, len(merged) - len(recorded)


def _refuse_unmatched(
    labels: pd.DataFrame,
    recorded: pd.DataFrame,
    estimates: pd.DataFrame,
    extract: LabelsExtract | None,
    source: str,
    output_root: Path,
) -> None:
    """A labels extract none of whose ids a scored week holds is the wrong file (another force's,
    another world's, or ids written another way): it would record nothing and say "0 new", so it
    is refused. A labels extract may hold disruptions never scored (closed before scoring began):
    while some of its ids match, those are left out (and counted by the outcomes command)."""
    if labels.empty:
        return
    matched = set(recorded["disruption_id"]) | set(estimates["disruption_id"].astype(str))
    if labels["disruption_id"].isin(matched).any():
        return
    column = extract.contract.id_column if extract else "disruption_id"
    first = labels.iloc[0]
    row = f"row {int(first['row'])}: " if "row" in labels.columns else ""
    raise ResilienceError(
        f"{source}: column '{column}': none of its {len(labels):,} labelled disruption(s) was "
        f"scored in a week under {output_root} ({row}{first['disruption_id']!r}); give the labels "
        "extract of the disruptions these weeks scored; nothing was written"
    )


def _plain(labels: pd.DataFrame) -> pd.DataFrame:
    """Id and outcome of a labels frame, typed, with what :func:`read_labels` added (the row number
    and, when the extract carries it, each row's as-of date)."""
    extract = labels.attrs.get("extract")
    as_of_column = extract.as_of.column if extract else None
    kept = [c for c in ("disruption_id", "outcome", "row", as_of_column) if c in labels.columns]
    return labels[kept].astype({"disruption_id": str, "outcome": bool})


def refuse_unknowable(
    labels: pd.DataFrame, estimates: pd.DataFrame, extract: LabelsExtract | None
) -> None:
    """Refuse labels of disruptions dated less than the horizon before the extract's as-of date,
    by training's rule (:func:`resilience.data.asof.censored_problems`); each disruption's date is
    the one its scored week recorded (``estimates``' ``disruption_date``). Labels of a frame not
    read by :func:`read_labels` (no ``extract``) are not checked."""
    if extract is None or "disruption_date" not in estimates.columns:
        return
    contract = extract.contract
    dated = labels.merge(
        estimates[["disruption_id", "disruption_date"]].dropna(), on="disruption_id"
    )
    probe = pd.DataFrame(
        {
            contract.label: dated["outcome"].to_numpy(),
            contract.date_column: pd.to_datetime(dated["disruption_date"]).to_numpy(),
        },
        index=dated["row"].to_numpy() - 1 if "row" in dated.columns else None,
    )
    if extract.as_of.column:
        probe[extract.as_of.column] = dated[extract.as_of.column].to_numpy()
    problems = censored_problems(probe.sort_index(), contract, extract.as_of, extract.source)
    if problems:
        raise ContractError([_for_outcomes(p, contract, extract.as_of) for p in problems])


def _for_outcomes(problem, contract: DataContract, as_of: AsOf):
    """Training's censoring problem said of a labels extract: the label column, not for training."""
    if problem.column != contract.date_column:
        return problem
    return replace(
        problem,
        column=contract.label,
        rule=(
            f"a label of a disruption dated (as its scored week recorded it) less than "
            f"{contract.horizon_weeks} weeks before the labels' as-of date {as_of.describe()}: its "
            "outcome cannot be known yet, so it is refused here as training refuses it (the dates "
            "shown are the disruptions')"
        ),
    )


# -- realised performance per scored week and cohort --------------------------------------------
def read_labels(
    path: str | Path,
    contract: DataContract,
    today: pd.Timestamp | None = None,
    as_of: object = "auto",
) -> pd.DataFrame:
    """Id, label (parsed as the contract says) and 1-based row of each labelled disruption of a
    labels extract; ``attrs["extract"]`` is its :class:`LabelsExtract`, with the as-of date the
    ``as_of`` option gives it as it gives training (``auto``, a date or ``unchecked``; ``today``:
    the day after which an as-of date is refused)."""
    raw = read_extract(path)
    missing = [c for c in (contract.id_column, contract.label) if c not in raw.columns]
    if missing:
        raise ResilienceError(f"{path}: the labels extract needs column(s) {', '.join(missing)}")
    ids = raw[contract.id_column].astype(str)
    padded = np.flatnonzero((ids != ids.str.strip()).to_numpy())
    if len(padded):  # it would match no scored disruption, and be dropped without a word
        rows = ", ".join(str(i + 1) for i in padded[:5])
        raise ResilienceError(
            f"{path}: column '{contract.id_column}': an id with spaces before or after it in "
            f"row(s) {rows}; ids are matched exactly, as scoring refuses them"
        )
    # an id with a control or invisible character, or one that looks like another (a Cyrillic
    # letter in a Latin id) would match no scored disruption either: refused as scoring refuses it
    problems = text_problems(raw, contract, [contract.id_column], str(path))
    if problems:
        raise ContractError(problems)
    label = _parsed(raw, contract, contract.label, "true/false", path)
    frame = pd.DataFrame(
        {
            "disruption_id": raw[contract.id_column].astype(str),
            "outcome": label,
            "row": np.arange(1, len(raw) + 1),
        }
    )
    as_of = _labels_as_of(path, contract, raw, today, as_of)
    if as_of.column:  # each row's extraction date, read as training reads it
        frame[as_of.column] = _parsed(raw, contract, as_of.column, "a date", path)
    frame = frame[frame["outcome"].notna()].astype({"outcome": bool})
    if frame.empty:  # nothing to record: no run, no tables rewritten
        raise ResilienceError(
            f"{path}: no row holds an outcome in '{contract.label}'; none recorded"
        )
    _refuse_both_ways(frame, path, contract.label)
    frame = frame.drop_duplicates(["disruption_id", "outcome"]).reset_index(drop=True)
    frame.attrs["extract"] = LabelsExtract(str(path), contract, as_of)
    return frame


def _refuse_both_ways(frame: pd.DataFrame, path, label: str) -> None:
    """A disruption labelled both true and false: refused, naming the rows that disagree."""
    outcomes = frame.groupby("disruption_id")["outcome"].transform("nunique")
    both = frame[outcomes > 1]
    if len(both):
        ids = both["disruption_id"].unique()
        first = both[both["disruption_id"] == ids[0]]["row"]
        raise OutcomeConflict(
            f"{path}: column '{label}': disruption(s) {first_few(ids)} labelled both true and "
            f"false ({ids[0]} in rows {', '.join(str(r) for r in first[:5])}); an outcome is one "
            "or the other"
        )


def _parsed(
    raw: pd.DataFrame, contract: DataContract, column: str, expected: str, path
) -> pd.Series:
    values, bad = parse_column(raw[column], contract.column(column))
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise ResilienceError(f"{path}: column '{column}': not {expected} in row(s) {rows}")
    return values


def _labels_as_of(
    path: str | Path,
    contract: DataContract,
    raw: pd.DataFrame,
    today: pd.Timestamp | None,
    setting: object = "auto",
) -> AsOf:
    """Training's ``as_of`` option for the labels extract; when the data config names an
    ``as_of_column`` the extract does not carry, the rest of the ``auto`` rule (world.json, else
    today), or the date given."""
    if contract.as_of_column and contract.as_of_column not in raw.columns:
        contract = replace(contract, as_of_column=None)
    return as_of_from_setting(setting, path, contract, today)


def scored_lines(scores: pd.DataFrame, cohort_column: str | None, cohort: str) -> int:
    """How many lines the week scored in ``cohort`` ("all": the whole week), so each row of
    ``outcomes.csv`` says what its labelled rows are a share of (a count, never a blank)."""
    if cohort == "all" or not cohort_column or cohort_column not in scores.columns:
        return int(len(scores))
    return int(scores[cohort_column].astype(str).eq(cohort).sum())


def realised_metrics(
    output_root: str | Path,
    known: pd.DataFrame,
    cohort_column: str | None,
    k: int = 10,
    min_rows: int = 30,
) -> pd.DataFrame:
    """One row per (scoring week, cohort) with realised metrics on ``known`` (``disruption_id``,
    ``outcome``): every outcome known so far, as :func:`update_outcomes` records them (the
    recorded ones and the new labels); ``cohort`` "all" is the whole week."""
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
        joined = scores.merge(known, on="disruption_id", how="inner")
        groups = [("all", joined), *cohort_groups(joined, cohort_column)]
        for cohort, group in groups:
            row = {
                "week": folder.name,
                "cohort": cohort,
                "scored": scored_lines(scores, cohort_column, cohort),
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
