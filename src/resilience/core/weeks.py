"""ISO weeks: the one place that names, checks and finds weekly folders (``2026-W47``).

Every command that takes ``week=`` goes through :func:`check_week` (a real ISO week, nothing else)
and :func:`week_folder` (the folder strictly inside the output root), so a typo or a path such as
``../victim`` is refused before anything is read or written.

>>> iso_week(pd.Timestamp("2026-11-22"))
'2026-W47'
>>> check_week("2025-W53")
Traceback (most recent call last):
...
resilience.core.errors.ResilienceError: week 2025-W53 does not exist: 2025 has 52 ISO weeks
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.core.week_files import SCORES_PARQUET

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(day) -> str:
    """The ISO week label (``YYYY-Www``) of one date."""
    iso = pd.Timestamp(day).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def iso_weeks(days) -> np.ndarray:
    """ISO week labels for many dates (a Series, an Index or anything ``pd.to_datetime`` reads)."""
    iso = pd.DatetimeIndex(pd.to_datetime(days)).isocalendar()
    return (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).to_numpy()


def weeks_in_year(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last."""
    return date(year, 12, 28).isocalendar()[1]


def check_week(week: object) -> str:
    """``week`` as a string if it names a real ISO week (``2026-W47``); a clear error otherwise."""
    text = str(week)
    match = WEEK_PATTERN.match(text)
    if not match:
        raise ResilienceError(f"week must be an ISO week such as 2026-W47, not {text!r}")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= number <= weeks_in_year(year):
        raise ResilienceError(
            f"week {text} does not exist: {year} has {weeks_in_year(year)} ISO weeks"
        )
    return text


def week_monday(week: str) -> pd.Timestamp:
    """The Monday that starts an ISO week."""
    year, number = (int(part) for part in check_week(week).split("-W"))
    return pd.Timestamp(date.fromisocalendar(year, number, 1))


def week_folder(output_root: str | Path, week: object) -> Path:
    """``<output_root>/<week>``, only for a real ISO week and only strictly inside ``output_root``."""
    name = check_week(week)
    root = Path(output_root).resolve()
    folder = (root / name).resolve()
    if folder.parent != root:
        raise ResilienceError(f"week folder {folder} is not directly inside {root}")
    return folder


def find_previous_week(week_dir: str | Path) -> Path | None:
    """The scored week folder before ``week_dir`` under the same output root, if any.

    Only folders named as ISO weeks that hold their scores (:data:`~resilience.core.week_files.
    SCORES_PARQUET`) count; names sort in time order.
    """
    week_dir = Path(week_dir)
    if not week_dir.parent.is_dir():
        return None
    earlier = sorted(
        p
        for p in week_dir.parent.iterdir()
        if p.is_dir()
        and WEEK_PATTERN.match(p.name)
        and p.name < week_dir.name
        and (p / SCORES_PARQUET).is_file()
    )
    return earlier[-1] if earlier else None
