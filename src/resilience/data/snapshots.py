"""Records as they stood: reading a folder of weekly extracts, each a snapshot of the open
disruptions as recorded that week.

Two forms of folder are read, alone or mixed:

* **weekly extracts**, one file per ISO week: ``<YYYY-Www>.parquet`` or ``<YYYY-Www>.csv`` (what a
  force pulls each week; the synthetic world writes ``data/synthetic/weekly/``);
* **scored week folders** that kept the extract they scored (``<YYYY-Www>/extract.<suffix>`` with
  its SHA-256 in the week's ``manifest.json``, :mod:`resilience.weekly.score`), so
  ``snapshots=outputs/weekly`` learns from what the toolkit itself was asked about. Every kept
  extract is checked against its manifest's SHA-256 before anything is read; if any differ, all
  of them are named and nothing is used (:func:`check_kept`). A week folder that keeps no extract
  (scored before extracts were kept, or removed by the retention setting) is skipped and counted.

Each extract's **as-of date** follows :func:`resilience.data.record_age.extract_as_of` (its
``as_of_column`` when it carries one, else its latest disruption date), and every row's record age
is counted to it. Reading is two passes so memory stays small: :func:`snapshot_index` reads only
the id, date (and as-of) columns of every file; the caller picks the rows it needs; then
:func:`read_snapshot` reads and **validates the whole file** against the data contract (every
problem names the file, its column and rows) and returns the picked rows typed, with their age.

>>> files = find_snapshots(Path("data/synthetic/weekly"))            # doctest: +SKIP
>>> index = snapshot_index(files, contract)                          # doctest: +SKIP
>>> for snapshot in iter_snapshots(files, contract):                 # doctest: +SKIP
...     snapshot.frame, snapshot.as_of
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import ContractError, Problem, ResilienceError
from resilience.core.week_files import KEPT_KEY, MANIFEST, WeekManifest
from resilience.core.weeks import WEEK_PATTERN
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256, read_columns, read_extract
from resilience.data.record_age import ages, extract_as_of
from resilience.data.validate import validate_frame

EXTRACT_SUFFIXES = (".parquet", ".csv")
BATCH_ROWS = 100_000  # rows validated in one pass (read_snapshots)


@dataclass(frozen=True)
class SnapshotFile:
    """One weekly extract: its file, the week it is filed under and, for a kept extract, the
    SHA-256 its week's manifest recorded."""

    path: Path
    week: str
    expected_sha256: str | None = None

    @property
    def kept(self) -> bool:
        return self.expected_sha256 is not None


@dataclass(frozen=True)
class SnapshotFolder:
    """The extracts found in a snapshots folder, and the week folders skipped (week -> why)."""

    folder: Path
    files: tuple[SnapshotFile, ...]
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """One extract's validated rows (record age included) and the day it was taken."""

    file: SnapshotFile
    frame: pd.DataFrame
    as_of: pd.Timestamp


def _kept_extract(week_folder: Path) -> tuple[SnapshotFile | None, str]:
    """A scored week folder's kept extract, or None and why there is none."""
    manifest_path = week_folder / MANIFEST
    if not manifest_path.is_file():
        return None, f"no {MANIFEST}"
    try:
        manifest = WeekManifest.read(manifest_path)
    except (OSError, ValueError) as exc:
        raise ResilienceError(
            f"{manifest_path} cannot be read ({type(exc).__name__}); restore it from backup or "
            "remove the week folder from the snapshots folder"
        ) from exc
    name, sha256 = manifest.input.get(KEPT_KEY), manifest.input.get("sha256")
    if not name or not sha256:
        return None, "its manifest records no kept extract (scored before extracts were kept)"
    path = week_folder / Path(str(name)).name
    if not path.is_file():
        return None, f"its kept extract {path.name} is gone (removed by the retention setting?)"
    return SnapshotFile(path, week_folder.name, str(sha256)), ""


def find_snapshots(folder: str | Path) -> SnapshotFolder:
    """Every weekly extract in ``folder``: ``<week>.parquet|.csv`` files and scored ``<week>/``
    folders that kept their extract. A week given twice, or a folder with none, is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResilienceError(
            f"snapshots folder {folder} does not exist or is not a folder; give a folder of weekly "
            "extracts (<YYYY-Www>.parquet or .csv) or of scored weeks (outputs/weekly)"
        )
    files: dict[str, SnapshotFile] = {}
    skipped: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        week = entry.name if entry.is_dir() else entry.stem
        if not WEEK_PATTERN.match(week):
            continue
        if entry.is_dir():
            found, why = _kept_extract(entry)
        elif entry.suffix.lower() in EXTRACT_SUFFIXES:
            found, why = SnapshotFile(entry, week), ""
        else:
            continue
        if found is None:
            skipped[week] = why
            continue
        if week in files:
            raise ResilienceError(
                f"{folder}: week {week} is there twice ({files[week].path.name} and "
                f"{found.path.relative_to(folder)}); keep one"
            )
        files[week] = found
    if not files:
        raise ResilienceError(
            f"{folder} holds no weekly extracts (<YYYY-Www>.parquet or .csv) and no scored week "
            f"folders that kept their extract"
            + (f" ({len(skipped)} week folders keep none)" if skipped else "")
        )
    return SnapshotFolder(folder, tuple(files[w] for w in sorted(files)), skipped)


def check_kept(found: SnapshotFolder) -> None:
    """Refuse the folder if any kept extract's bytes differ from its manifest's SHA-256 (all
    such files are named), before anything is read from any of them."""
    changed = [f.path for f in found.files if f.kept and file_sha256(f.path) != f.expected_sha256]
    if changed:
        shown = ", ".join(str(p) for p in changed)
        raise ResilienceError(
            f"{len(changed)} kept extract(s) in {found.folder} differ from the SHA-256 their week's "
            f"manifest recorded when they were scored: {shown}. They were changed after scoring; "
            "nothing was trained. Restore them from backup, or move those week folders out of "
            "the snapshots folder"
        )


def snapshot_index(found: SnapshotFolder, contract: DataContract) -> pd.DataFrame:
    """One row per record in every extract: ``file`` (its position in ``found.files``), the
    disruption ``id`` (as text), the extract's ``as_of`` date and the record's ``age`` in weeks.
    Reads only the id, date and as-of columns; a file without them is named."""
    wanted = [contract.id_column, contract.date_column]
    if contract.as_of_column:
        wanted.append(contract.as_of_column)
    parts, problems = [], []
    for number, snapshot in enumerate(found.files):
        try:
            frame = read_columns(snapshot.path, wanted)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise ResilienceError(f"{snapshot.path}: cannot be read: {exc}") from exc
        missing = [c for c in wanted[:2] if c not in frame.columns]
        if missing:
            problems += [
                Problem(str(snapshot.path), c, "missing required column", f"a column named '{c}'")
                for c in missing
            ]
            continue
        parts.append(
            pd.DataFrame(
                {
                    "file": number,
                    "id": frame[contract.id_column].astype(str).to_numpy(),
                    "as_of": extract_as_of(frame, contract),
                    "age": ages(frame, contract),
                }
            )
        )
    if problems:
        raise ContractError(problems)
    return pd.concat(parts, ignore_index=True)


def _snapshot(snapshot: SnapshotFile, frame: pd.DataFrame, contract: DataContract, ids) -> Snapshot:
    """A validated extract with each record's age counted to its as-of date; ``ids``: keep only
    these disruptions' rows."""
    frame = frame.drop(columns=[contract.label], errors="ignore")
    as_of = extract_as_of(frame, contract)
    record_age = ages(frame, contract)
    if ids is not None:
        keep = frame[contract.id_column].astype(str).isin(set(ids)).to_numpy()
        frame, record_age = frame[keep].reset_index(drop=True), record_age[keep]
    if contract.record_age_column:
        frame[contract.record_age_column] = record_age
    return Snapshot(snapshot, frame, as_of)


def read_snapshot(
    snapshot: SnapshotFile,
    contract: DataContract,
    ids=None,
    today: pd.Timestamp | None = None,
) -> Snapshot:
    """One extract read and validated whole against ``contract`` (a :class:`ContractError`
    naming the file otherwise), with each record's age counted to the extract's as-of date;
    ``ids``: keep only these disruptions' rows."""
    extract = validate_frame(read_extract(snapshot.path), contract, str(snapshot.path), today=today)
    return _snapshot(snapshot, extract.frame, contract, ids)


def _batch_frames(
    batch: list[tuple[SnapshotFile, pd.DataFrame]], contract: DataContract, today
) -> list[pd.DataFrame] | None:
    """The extracts of ``batch`` validated in one pass (uniqueness checked per file), or None when
    they differ in columns or any holds a problem (the caller then validates each alone, so
    every message names its file and rows)."""
    raws = [raw for _, raw in batch]
    if any(list(raw.columns) != list(raws[0].columns) for raw in raws):
        return None
    unique = [c.name for c in contract.columns if c.unique and c.name in raws[0].columns]
    if any(raw[c].dropna().duplicated().any() for raw in raws for c in unique):
        return None
    shared = replace(contract, columns=tuple(replace(c, unique=False) for c in contract.columns))
    source = f"weekly extracts {batch[0][0].path.name} to {batch[-1][0].path.name}"
    try:
        typed = validate_frame(pd.concat(raws, ignore_index=True), shared, source, today=today)
    except ContractError:
        return None
    bounds = np.cumsum([0] + [len(raw) for raw in raws])
    return [typed.frame.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds[:-1], bounds[1:])]


def _validated(batch, contract: DataContract, wanted, today) -> Iterator[Snapshot]:
    frames = _batch_frames(batch, contract, today) if len(batch) > 1 else None
    for number, (snapshot, raw) in enumerate(batch):
        frame = (
            frames[number]
            if frames is not None
            else validate_frame(raw, contract, str(snapshot.path), today=today).frame
        )
        yield _snapshot(snapshot, frame, contract, None if wanted is None else wanted[snapshot])


def read_snapshots(
    found: SnapshotFolder,
    contract: DataContract,
    wanted: dict[SnapshotFile, object] | None = None,
    today: pd.Timestamp | None = None,
) -> Iterator[Snapshot]:
    """The folder's extracts (those of ``wanted``: file -> the ids to keep; None: every file and
    row) in week order, each validated whole against ``contract`` with its records' ages.

    Extracts are validated about :data:`BATCH_ROWS` rows at a time, which costs half as much as
    one by one (validation's fixed cost per call); a batch with any problem is validated again
    file by file, so every problem names its file and rows (ids are checked unique per file)."""
    batch, rows = [], 0
    for snapshot in found.files:
        if wanted is not None and snapshot not in wanted:
            continue
        batch.append((snapshot, read_extract(snapshot.path)))
        rows += len(batch[-1][1])
        if rows >= BATCH_ROWS:
            yield from _validated(batch, contract, wanted, today)
            batch, rows = [], 0
    yield from _validated(batch, contract, wanted, today)


def iter_snapshots(
    found: SnapshotFolder, contract: DataContract, today: pd.Timestamp | None = None
) -> Iterator[Snapshot]:
    """Every extract of the folder in week order, validated, with its as-of date (a batch of
    weeks in memory at a time)."""
    yield from read_snapshots(found, contract, None, today)
