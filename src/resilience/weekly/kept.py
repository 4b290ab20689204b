"""A scored week keeps the extract it scored, so the toolkit builds its own history of records
as they stood (``resilience-train snapshots=outputs/weekly``, :mod:`resilience.data.snapshots`).

:func:`keep_extract` copies the input's bytes into the week's temporary folder (so the copy is
committed with the week, atomically) as ``extract.<suffix>`` and checks the copy's SHA-256
against the one taken before scoring: an extract that changed while it was being scored is
refused, and nothing is written. The manifest names the copy under ``input.kept`` beside
``input.sha256``, which training checks before it reads the copy.

**Retention** (``keep_extracts_weeks`` in ``configs/score.yaml``): after a week is committed,
:func:`prune_kept_extracts` removes the kept extract of every week folder older than the most
recent ``N`` (by ISO week name); the rest of those folders stays. ``0`` keeps none; ``null`` all.
How long a force may hold extracts is its own retention policy (MoPI): set it there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from resilience.core.errors import ResilienceError
from resilience.core.week_files import KEPT_EXTRACT_STEM, kept_extract_name
from resilience.core.weeks import WEEK_PATTERN
from resilience.data.io import atomic_path, file_sha256


def keep_extract(input_path: Path, folder: Path, sha256: str | None) -> str:
    """Copy the scored extract into the week's (temporary) ``folder``; returns the copy's name.
    Refused when its bytes no longer have ``sha256`` (the SHA-256 taken before scoring)."""
    name = kept_extract_name(Path(input_path).suffix)
    with atomic_path(folder / name) as tmp:
        shutil.copyfile(input_path, tmp)
        if file_sha256(tmp) != sha256:
            raise ResilienceError(
                f"{input_path} changed while it was being scored (its SHA-256 is no longer "
                f"{sha256}); nothing was changed. Rerun when the extract is complete"
            )
    return name


def prune_kept_extracts(output_root: Path, keep_weeks: int | None) -> list[Path]:
    """Remove the kept extracts of week folders older than the ``keep_weeks`` most recent;
    returns what was removed (nothing for ``None``)."""
    if keep_weeks is None:
        return []
    weeks = sorted(
        p for p in Path(output_root).iterdir() if p.is_dir() and WEEK_PATTERN.match(p.name)
    )
    removed = []
    for week in weeks[: max(len(weeks) - keep_weeks, 0)]:
        for kept in week.glob(f"{KEPT_EXTRACT_STEM}.*"):
            kept.unlink()
            removed.append(kept)
    return removed
