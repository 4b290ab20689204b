"""Writing a world to disk, all files or none, byte-identical for the same world."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from resilience.data.io import atomic_path
from resilience.data.synthetic.mechanism import mechanism_summary
from resilience.data.synthetic.simulate import SyntheticWorld
from resilience.data.synthetic.snapshots import ACCRUING_COLUMNS, WeeklyExtracts, uncapped_fields
from resilience.data.synthetic.tactics import tactics_truth


def _write_parquet(frame, path: Path) -> None:
    """Write one frame (or Arrow table) as Parquet with deterministic bytes (no index, no varying
    metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def recording_summary(world: SyntheticWorld) -> dict:
    """What a benchmark of records as they stood needs to know about the weekly extracts."""
    weeks = list(world.weekly)
    cfg = world.config
    return {
        "weeks": len(weeks),
        "first_week": weeks[0] if weeks else None,
        "last_week": weeks[-1] if weeks else None,
        "extract_day": "each ISO week's Sunday, or end_date in its own week",
        "open_weeks": cfg.horizon_weeks,
        "accruing_columns": list(ACCRUING_COLUMNS),
        "incomplete_in_last_extract": list(uncapped_fields(cfg)),
    }


def world_record(world: SyntheticWorld) -> dict:
    """What ``world.json`` holds: the config, key for key, the true ``mechanism`` (which extract
    columns drive persistence and which have no effect), for model cards and benchmarks, and what
    the weekly extracts hold (``recording``)."""
    return {
        **world.config.to_dict(),
        "mechanism": mechanism_summary(world.config),
        "recording": recording_summary(world),
    }


def write_world(world: SyntheticWorld, out_dir: Path) -> list[Path]:
    """Write a world, all files or none.

    Writes ``out_dir/disruptions.parquet`` (history, labelled), ``out_dir/weekly/<YYYY-Www>.parquet``
    (one per weekly extract, unlabelled), ``out_dir/truth.parquet``, ``out_dir/tactics_truth.parquet``
    when the config asks for it (``tactics_truth``) and, when the world carries its config,
    ``out_dir/world.json`` (:func:`world_record`). Every file is first written to a temp name beside
    its target; only when all are written are they renamed into place, so on any error no temp or
    half-written file remains and existing files are untouched. Weekly extracts are built one at a
    time as they are written, so memory stays flat whatever the number of weeks. Weekly files of an
    earlier world that this world does not have are then removed (and a ``tactics_truth.parquet``
    this world does not write). The same world always gives byte-identical files.

    Returns
    -------
    list of Path
        The written files: history, the weekly extracts in week order, truth, tactics truth (if
        any), then world.json.

    Examples
    --------
    >>> paths = write_world(generate_world(WorldConfig(n_lines=400)), Path(tmp))  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    plan = _write_plan(world, out_dir)
    _write_all_or_none(plan, out_dir / "weekly")
    _remove_stale_files(plan, out_dir)
    return [target for _, target in plan]


def _write_plan(world: SyntheticWorld, out_dir: Path) -> list[tuple[object, Path]]:
    """What :func:`write_world` writes, in order: each entry is its content (a frame, a mapping
    for JSON, or a function giving a frame, so weekly extracts are built one at a time) and its
    target."""
    weekly_dir = out_dir / "weekly"
    plan: list[tuple[object, Path]] = [(world.history, out_dir / "disruptions.parquet")]
    weekly = world.weekly
    plan += [
        (
            lambda week=week: (
                weekly.table(week) if isinstance(weekly, WeeklyExtracts) else weekly[week]
            ),
            weekly_dir / f"{week}.parquet",
        )
        for week in sorted(weekly)
    ]
    plan.append((world.truth, out_dir / "truth.parquet"))
    if world.config is not None and world.config.tactics_truth:
        plan.append((lambda: tactics_truth(world), out_dir / "tactics_truth.parquet"))
    if world.config is not None:
        plan.append((world_record(world), out_dir / "world.json"))
    return plan


def _write_all_or_none(plan: list[tuple[object, Path]], weekly_dir: Path) -> None:
    """Write every planned file to a temp name beside its target, then rename them all into place;
    on any error remove the temp files (and a weekly folder this call created, if left empty)."""
    created_weekly_dir = not weekly_dir.exists()
    try:
        # Each atomic_path renames its temp file onto the target when the stack closes without
        # an error, and removes it otherwise.
        with ExitStack() as stack:
            for content, target in plan:
                tmp = stack.enter_context(atomic_path(target))
                if isinstance(content, dict):
                    tmp.write_text(json.dumps(content, indent=2, default=str), encoding="utf-8")
                else:
                    _write_parquet(content() if callable(content) else content, tmp)
    except BaseException:
        if created_weekly_dir and weekly_dir.is_dir() and not any(weekly_dir.iterdir()):
            weekly_dir.rmdir()
        raise


def _remove_stale_files(plan: list[tuple[object, Path]], out_dir: Path) -> None:
    """Remove the weekly files (and ``tactics_truth.parquet``) of an earlier world that this
    world's plan does not write."""
    written = {target for _, target in plan}
    for old in (out_dir / "weekly").glob("*.parquet"):
        if old not in written:
            old.unlink()
    tactics_file = out_dir / "tactics_truth.parquet"
    if tactics_file not in written and tactics_file.exists():
        tactics_file.unlink()
