"""The briefing's view of the latest tactics review: found only when it is recent.

:func:`recent_review` looks in a reviews folder (``<root>/<YYYY-MM-DD>/review.json``) for the
newest review made on or before the briefing's day and less than ``max_age_days`` (a quarter,
91 days) before it, and returns the few lines the briefing shows. The briefing shows them
*beside* its options, which stay a policy in config: nothing here feeds a recommendation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from resilience.tactics.files import ALL, REVIEW_HTML, REVIEW_JSON
from resilience.tactics.words import STANDING, finding

QUARTER_DAYS = 91
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RecentReview:
    """What the briefing's tactics section shows."""

    reviewed_on: str
    age_days: int
    n_disruptions: int
    findings: tuple[str, ...]
    fragile: int
    standing: str
    page: str


def recent_review(root: Path, on: date, max_age_days: int = QUARTER_DAYS) -> RecentReview | None:
    """The newest review in ``root`` made on or before ``on`` and under ``max_age_days`` old."""
    if not root.is_dir():
        return None
    days = sorted(
        (date.fromisoformat(p.name), p)
        for p in root.iterdir()
        if _DAY.match(p.name) and (p / REVIEW_JSON).is_file()
    )
    fitting = [(d, p) for d, p in days if d <= on and (on - d).days < max_age_days]
    if not fitting:
        return None
    day, folder = fitting[-1]
    record = json.loads((folder / REVIEW_JSON).read_text(encoding="utf-8"))
    overall = [r for r in record["rows"] if r["cohort"] == ALL]
    return RecentReview(
        reviewed_on=day.isoformat(),
        age_days=(on - day).days,
        n_disruptions=int(record["summary"]["n_disruptions"]),
        findings=tuple(finding(r) for r in overall),
        fragile=sum(bool(r.get("fragile")) for r in overall),
        standing=STANDING,
        page=str(folder / REVIEW_HTML),
    )
