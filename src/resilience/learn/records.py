"""Records as they stood: the rows a model trains and is judged on when weekly snapshots exist.

Scoring sees records as they stand this week, most of them young, so training learns from each
labelled disruption **as it stood in the weekly extracts that held it**
(:mod:`resilience.data.snapshots`), with its outcome joined by disruption id and its record age
(:mod:`resilience.data.record_age`) as an input. Method:

* **Never a record later than the horizon.** Only snapshots with record age below
  ``horizon_weeks`` are used: later records carry what was keyed in after the outcome was known
  (orders made on conviction). A labelled disruption that no snapshot holds keeps its final
  record from the history, counted as complete (age ``horizon_weeks``), and the run says how
  many did.
* **Each disruption weighs the same.** Every labelled disruption gets exactly ``per_disruption``
  rows: that many of its snapshot ages drawn at random without replacement (with replacement when
  it has fewer), so no weights are needed; a model setting that counts rows counts
  ``per_disruption`` of them as one disruption (``PersistenceModel.rows_per_disruption_``).
  Measured on the default world (60,000 lines): 2 ages per disruption left the estimate's bias
  within -1.4..+0.5 points at every record age, 1 age within -1.9..+0.7 (noisier), at the same AUC
  on complete records (``benchmarks/record_age.py``).
* **Per disruption, never per row.** The split is made once on the history (one row per
  disruption: the time cut is the disruption date), so all rows of a disruption fall on one side;
  the test period's **headline rows** hold each test disruption once, at its first drawn age (a
  uniformly drawn age, as a scored week holds each open disruption once at its own age), so every
  metric, interval and bootstrap over them counts disruptions; ``test_by_age`` holds every
  snapshot of the test disruptions (each age is again one row per disruption) and their complete
  record, for the evaluation by record age (:mod:`resilience.learn.by_age`).

>>> stood = records_as_they_stood(history, split, find_snapshots(folder), RecordsConfig())  # doctest: +SKIP
>>> stood.split.train  # two snapshots of every training disruption, label and record age joined  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError, ResilienceError
from resilience.data.contract import DataContract
from resilience.data.record_age import complete_record_age
from resilience.data.snapshots import SnapshotFolder, check_kept, read_snapshots, snapshot_index
from resilience.learn.split import Split

AS_THEY_STOOD = "as they stood"  # a split summary's ``records`` when made of snapshots
FINAL_RECORDS_ONLY = (
    "trained on final records only (no snapshots=): fresh records will be scored as if they were "
    "complete, and how far their estimates are off cannot be measured"
)

log = logging.getLogger(__name__)
COMPLETE = "complete"  # test_by_age's group for the final records


@dataclass(frozen=True)
class RecordsConfig:
    """How training uses weekly snapshots (``configs/train.yaml``, ``records:``)."""

    per_disruption: int = 2  # snapshot ages drawn per labelled disruption (equal rows each)
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.per_disruption, bool) or self.per_disruption < 1:
            raise ConfigError(
                f"records.per_disruption must be a whole number >= 1, not {self.per_disruption!r}"
            )


@dataclass
class RecordsAsTheyStood:
    """The split made of records as they stood, and what else training needs from them.

    ``split``: its ``train`` holds ``per_disruption`` rows of every training disruption, its
    ``test`` each test disruption once (its first drawn age), ``test_by_age`` every snapshot of
    the test disruptions plus their complete record, ``train_latest`` each training disruption's
    latest record before the horizon. ``all_rows``: ``per_disruption`` rows of every labelled
    disruption (the refit on all rows); ``scoring_rows``: each labelled disruption once, at its
    first drawn age (the population a scored week holds: drift reference, champion comparison).
    ``summary``: what the run records about them.
    """

    split: Split
    all_rows: pd.DataFrame
    scoring_rows: pd.DataFrame
    summary: dict = field(default_factory=dict)


def pick_ages(available: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """``k`` rows per disruption from ``available`` (columns ``id`` and the snapshot's place),
    drawn at random without replacement, repeated in turn when a disruption has fewer than ``k``;
    ``pick`` numbers them 0..k-1 (pick 0 is a uniformly drawn age)."""
    rng = np.random.default_rng(seed)
    shuffled = available.assign(_key=rng.random(len(available))).sort_values(
        ["id", "_key"], kind="stable"
    )
    rank = shuffled.groupby("id", sort=False).cumcount().to_numpy()
    size = shuffled.groupby("id", sort=False)["id"].transform("size").to_numpy()
    copies = np.maximum(0, -(-(k - rank) // size))  # ceil((k - rank) / size)
    picked = shuffled.iloc[np.repeat(np.arange(len(shuffled)), copies)].copy()
    copy = np.concatenate([np.arange(c) for c in copies]) if len(copies) else np.zeros(0, int)
    picked["pick"] = (
        rank[np.repeat(np.arange(len(shuffled)), copies)]
        + copy * size[np.repeat(np.arange(len(shuffled)), copies)]
    )
    return picked.drop(columns="_key").reset_index(drop=True)


def _check_inputs(contract: DataContract) -> None:
    if contract.record_age_column is None:
        raise ResilienceError(
            f"snapshots need data config '{contract.name}' to declare the record's age: a feature "
            "with `derived: record_age` (see configs/data/default.yaml); without it the model "
            "could not tell a fresh record from a complete one"
        )


def _rows_needed(index: pd.DataFrame, history_ids: pd.Index, test_ids: set, k: int, seed: int):
    """The picks (k per labelled disruption held by a snapshot), each disruption's latest
    snapshot, and every snapshot of the test disruptions, as rows of ``index``."""
    usable = index[index["id"].isin(history_ids)].reset_index(drop=True)
    picks = pick_ages(usable[["id", "file", "age"]], k, seed)
    # the latest extract wins a tie: two weekly extracts can count a record the same age, as an
    # extract is dated by its newest disruption (data/record_age.py)
    ordered = usable.sort_values(["id", "age", "file"], kind="stable")
    latest = ordered.groupby("id").tail(1)
    testing = ordered[ordered["id"].isin(test_ids)].groupby(["id", "age"]).tail(1)
    return picks, latest[["id", "file", "age"]], testing[["id", "file", "age"]]


def _load(
    found: SnapshotFolder, contract: DataContract, wanted: pd.DataFrame, today
) -> pd.DataFrame:
    """The wanted (file, id) records, read from each file that holds one (validated whole)."""
    ids = {found.files[int(n)]: group.unique() for n, group in wanted.groupby("file")["id"]}
    number = {snapshot: n for n, snapshot in enumerate(found.files)}
    frames = [
        snapshot.frame.assign(_file=number[snapshot.file])
        for snapshot in read_snapshots(found, contract, ids, today)
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _rows(records: pd.DataFrame, wanted: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """The records of ``wanted`` (id, file; repeated rows repeat), in its order."""
    keys = records[[contract.id_column, "_file"]].astype({contract.id_column: str})
    position = pd.Series(np.arange(len(records)), index=pd.MultiIndex.from_frame(keys))
    where = position.reindex(pd.MultiIndex.from_arrays([wanted["id"], wanted["file"]]))
    return records.iloc[where.to_numpy()].drop(columns="_file").reset_index(drop=True)


def _labelled(rows: pd.DataFrame, history: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """``rows`` with the label joined from ``history`` by disruption id (and the history's
    context columns a snapshot may lack)."""
    label = history[[contract.id_column, contract.label]].astype({contract.id_column: str})
    out = rows.astype({contract.id_column: str}).merge(label, on=contract.id_column, how="left")
    return out[[c for c in contract.column_names if c in out.columns]]


def _final(history: pd.DataFrame, ids, contract: DataContract, copies: int) -> pd.DataFrame:
    """The final records of ``ids``, each ``copies`` times, counted complete."""
    rows = history[history[contract.id_column].astype(str).isin(set(ids))]
    rows = rows.loc[rows.index.repeat(copies)].reset_index(drop=True)
    return rows.assign(**{contract.record_age_column: complete_record_age(contract)})


def records_as_they_stood(
    history: pd.DataFrame,
    split: Split,
    contract: DataContract,
    found: SnapshotFolder,
    config: RecordsConfig,
    today: pd.Timestamp | None = None,
) -> RecordsAsTheyStood:
    """The split ``split`` (made on the labelled ``history``, one row per disruption) rebuilt
    from records as they stood in the snapshots of ``found`` (see the module docstring)."""
    _check_inputs(contract)
    check_kept(found)  # a changed kept extract refuses the folder before anything is read
    horizon, k = contract.horizon_weeks, config.per_disruption
    ids = history[contract.id_column].astype(str)
    test_ids = set(split.test[contract.id_column].astype(str))
    index = snapshot_index(found, contract)
    index = index[index["age"] < horizon]  # never a record later than the horizon
    picks, latest, testing = _rows_needed(index, pd.Index(ids), test_ids, k, config.seed)
    wanted = pd.concat([picks, latest, testing])[["id", "file"]].drop_duplicates()
    records = _load(found, contract, wanted, today)
    unheld = sorted(set(ids) - set(picks["id"]))
    picked = pd.concat(
        [
            _labelled(_rows(records, picks, contract), history, contract).assign(
                _pick=picks["pick"].to_numpy()
            ),
            _final(history, unheld, contract, k).assign(_pick=np.tile(np.arange(k), len(unheld))),
        ],
        ignore_index=True,
    )
    latest_rows = pd.concat(
        [
            _labelled(_rows(records, latest, contract), history, contract),
            _final(history, unheld, contract, 1),
        ],
        ignore_index=True,
    )
    by_age = pd.concat(
        [
            _labelled(_rows(records, testing, contract), history, contract),
            _final(history, test_ids, contract, 1),
        ],
        ignore_index=True,
    )
    summary = {
        "snapshot_files": len(found.files),
        "kept_extracts": sum(f.kept for f in found.files),
        "week_folders_without_extract": len(found.skipped),
        "per_disruption": k,
        "disruptions": len(ids),
        "disruptions_in_snapshots": len(ids) - len(unheld),
        "disruptions_final_record_only": len(unheld),
        "snapshot_ages_per_disruption": float(index.groupby("id").size().mean())
        if len(index)
        else 0.0,
    }
    return _assemble(split, contract, picked, latest_rows, by_age, summary)


def _in(frame: pd.DataFrame, contract: DataContract, ids) -> pd.DataFrame:
    """The rows of ``frame`` whose disruption is one of ``ids``, by date, id and pick."""
    ids = set(pd.Series(list(ids)).astype(str))
    rows = frame[frame[contract.id_column].astype(str).isin(ids)]
    order = [contract.date_column, contract.id_column] + (["_pick"] if "_pick" in rows else [])
    return rows.sort_values(order, kind="stable").drop(columns="_pick", errors="ignore")


def _assemble(
    split: Split,
    contract: DataContract,
    picked: pd.DataFrame,
    latest: pd.DataFrame,
    by_age: pd.DataFrame,
    summary: dict,
) -> RecordsAsTheyStood:
    """The split of records as they stood, with the rows training needs besides."""
    train_ids = split.train[contract.id_column]
    test_ids = split.test[contract.id_column]
    first = picked[picked["_pick"] == 0]
    train = _in(picked, contract, train_ids).reset_index(drop=True)
    test = _in(first, contract, test_ids).reset_index(drop=True)
    stood = replace(
        split,
        train=train,
        test=test,
        summary=replace(
            split.summary,  # its counts stay disruptions; per_disruption rows of each
            records=AS_THEY_STOOD,
            per_disruption=summary["per_disruption"],
        ),
        test_by_age=_in(by_age, contract, test_ids).reset_index(drop=True),
        train_latest=_in(latest, contract, train_ids).reset_index(drop=True),
    )
    log.info(
        "records as they stood: %d snapshot files, %d of %d labelled disruptions held by a "
        "snapshot (the other %d keep their final record, counted complete), %d rows each",
        summary["snapshot_files"],
        summary["disruptions_in_snapshots"],
        summary["disruptions"],
        summary["disruptions_final_record_only"],
        summary["per_disruption"],
    )
    all_rows = picked.sort_values(
        [contract.date_column, contract.id_column, "_pick"], kind="stable"
    ).drop(columns="_pick")
    scoring = _in(first, contract, first[contract.id_column])
    return RecordsAsTheyStood(
        stood, all_rows.reset_index(drop=True), scoring.reset_index(drop=True), summary
    )


def records_note(summary: dict) -> str:
    """What the run's rows were made of, in one sentence (the ``records`` tag, the model card)."""
    if summary.get("records") != AS_THEY_STOOD:
        return FINAL_RECORDS_ONLY
    final = summary["disruptions_final_record_only"]
    return (
        f"records as they stood: {summary['per_disruption']} weekly snapshots of each of "
        f"{summary['disruptions_in_snapshots']:,} labelled disruptions, from "
        f"{summary['snapshot_files']} weekly extracts, the record's age an input"
        + (f"; {final:,} disruptions no snapshot held kept their final record" if final else "")
    )
