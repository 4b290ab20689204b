"""Writing a world to disk, all files or none, byte-identical for the same world."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pandas as pd

from resilience.data.io import atomic_path
from resilience.data.synthetic.mechanism import mechanism_summary
from resilience.data.synthetic.simulate import SyntheticWorld


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write one frame as Parquet with deterministic bytes (no index, no varying metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def world_record(world: SyntheticWorld) -> dict:
    """What ``world.json`` holds: the config, key for key, and the true ``mechanism`` (which extract
    columns drive persistence and which have no effect), for model cards and benchmarks."""
    return {**world.config.to_dict(), "mechanism": mechanism_summary(world.config)}


def write_world(world: SyntheticWorld, out_dir: Path) -> list[Path]:
    """Write a world, all files or none.

    Writes ``out_dir/disruptions.parquet`` (history, labelled), ``out_dir/weekly/<YYYY-Www>.parquet``
    (one per weekly extract, unlabelled), ``out_dir/truth.parquet`` and, when the world carries its
    config, ``out_dir/world.json`` (:func:`world_record`). Every file is first written to a temp
    name beside its target; only when all are written are they renamed into place, so on any error
    no temp or half-written file remains and existing files are untouched. Weekly files of an
    earlier world that this world does not have are then removed. The same world always gives
    byte-identical files.

    Returns
    -------
    list of Path
        The written files: history, the weekly extracts in week order, truth, then world.json.

    Examples
    --------
    >>> paths = write_world(generate_world(WorldConfig(n_lines=400)), Path(tmp))  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    weekly_dir = out_dir / "weekly"
    plan: list[tuple[pd.DataFrame | dict, Path]] = [
        (world.history, out_dir / "disruptions.parquet")
    ]
    plan += [(world.weekly[week], weekly_dir / f"{week}.parquet") for week in sorted(world.weekly)]
    plan.append((world.truth, out_dir / "truth.parquet"))
    if world.config is not None:
        plan.append((world_record(world), out_dir / "world.json"))

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
                    _write_parquet(content, tmp)
    except BaseException:
        if created_weekly_dir and weekly_dir.is_dir() and not any(weekly_dir.iterdir()):
            weekly_dir.rmdir()
        raise
    written = {target for _, target in plan}
    for old in weekly_dir.glob("*.parquet"):
        if old not in written:
            old.unlink()
    return [target for _, target in plan]
