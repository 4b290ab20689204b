"""Trends over the last scored weeks (up to 12): counts by yardstick band, harm band and cohort,
lines with exploited people and no referral, and how the estimates did once outcomes became known.

Each earlier week is read from its own folder (a few light columns of ``scores.parquet`` and its
manifest, whose harm policy it was ranked by), so every figure is the one that week's briefing
printed. Realised accuracy comes from ``outcomes.parquet``: each known outcome against the estimate
the disruption was last given before it became known, grouped by the week that gave it; the model
that gave it had not seen the outcome. A week with no known outcomes shows none, not zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from resilience.core import week_files
from resilience.core.week_files import WeekManifest
from resilience.core.yardstick import BAND_NAMES
from resilience.governance.outcomes import scored_weeks
from resilience.report import first_page, protect
from resilience.report.changes import estimates_verdict, verdict
from resilience.report.charts import trend_chart
from resilience.report.errors import ReportError
from resilience.report.load import read_light_scores
from resilience.report.words import slice_value_text
from resilience.weekly.priority import REFERRALS_COLUMN

MAX_WEEKS = 12
_OUTCOME_COLUMNS = ["week", "outcome", "persistence_probability"]


def week_counts(rows: pd.DataFrame, policy: Mapping[str, Any], cohort: str | None) -> dict:
    """One week's counts: lines, per band, per harm band, per cohort value (lines and likely or
    more), and lines with exploited people and no referral recorded."""
    bands = rows["band"].value_counts()
    likely = rows["band"].isin(first_page.LIKELY_BANDS)
    harm = (
        np.bincount(
            first_page.harm_band_index(rows["harm_index"].to_numpy(dtype=float)),
            minlength=len(first_page.HARM_BANDS),
        )
        if "harm_index" in rows.columns
        else None
    )
    cohorts = {}
    if cohort and cohort in rows.columns:
        values = rows[cohort].astype(str)
        for value in sorted(values.unique()):
            chosen = values == value
            cohorts[value] = (int(chosen.sum()), int((chosen & likely).sum()))
    frame = protect.protect_frame(rows, policy)
    return {
        "lines": int(len(rows)),
        "bands": [int(bands.get(b, 0)) for b in BAND_NAMES],
        "likely": int(likely.sum()),
        "harm": None if harm is None else [int(n) for n in harm],
        "cohorts": cohorts,
        "unreferred": int((frame["group"] != protect.REFERRED).sum()) if len(frame) else 0,
    }


def _earlier_week(folder: Path, cohort: str | None) -> dict:
    """The counts of an earlier week, read from its folder with the policy that ranked it."""
    manifest = WeekManifest.read(folder / week_files.MANIFEST)
    names = pq.read_schema(folder / week_files.SCORES_PARQUET).names
    extra = tuple(
        c
        for c in names
        if c.startswith(week_files.HARM_COMPONENT_PREFIX)
        or c in ("harm_index", "priority_rank", "disruption_date", REFERRALS_COLUMN, cohort or "")
    )
    rows, _ = read_light_scores(
        folder / week_files.SCORES_PARQUET, extra=extra, only=week_files.REQUIRED_SCORE_COLUMNS
    )
    rows["priority_rank"] = rows.get("priority_rank", rows["rank"])
    return week_counts(rows, manifest.priority or {}, cohort)


def earlier_weeks(root: Path, week: str, limit: int = MAX_WEEKS - 1) -> list[Path]:
    """Scored week folders under ``root`` before ``week``, the latest ``limit`` of them."""
    return [p for p in scored_weeks(root) if p.name < week][-max(limit, 0) :]


def realised(path: Path, weeks: Sequence[str]) -> dict[str, dict]:
    """Per estimate week: outcomes now known, how many persisted, how many the estimates expected,
    the Brier score and plain words; weeks without known outcomes are absent."""
    if not path.is_file() or not weeks:
        return {}
    try:
        table = pq.read_table(path, columns=_OUTCOME_COLUMNS, filters=[("week", "in", list(weeks))])
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise ReportError(f"{path}: cannot be read as the outcomes file: {exc}") from exc
    frame = table.to_pandas()
    out = {}
    for week, group in frame.groupby("week", sort=True):
        outcome = group["outcome"].astype(bool)
        p = pd.to_numeric(group["persistence_probability"], errors="coerce")
        known = p.notna()
        out[str(week)] = {
            "known": int(len(group)),
            "persisted": int(outcome.sum()),
            "expected": float(p[known].sum()),
            "variance": float((p[known] * (1 - p[known])).sum()),
            "brier": float(((p[known] - outcome[known]) ** 2).mean()) if known.any() else None,
            "verdict": estimates_verdict(int(outcome[known].sum()), p[known])
            if known.any()
            else "",
        }
    return out


def _series_chart(weeks: list[str], series: list[tuple[str, list]], chart_id: str, what: str):
    chart = trend_chart(weeks, series, chart_id)
    chart["aria_label"] = (
        f"Line chart of {what} by scored week, {weeks[0]} to {weeks[-1]}: "
        + "; ".join(
            f"{label}: " + ", ".join("none" if v is None else f"{v:,.0f}" for v in values)
            for label, values in series
        )
        + "."
    )
    return chart


def _charts(
    names: list[str], counts: list[dict], known: dict, contract, cohort: str | None, values: list
) -> list[dict]:
    """The small charts: lines scored and likely or more; harm and no referral; likely or more by
    cohort value; and, where outcomes are known, persisted against expected."""
    charts = [
        _series_chart(
            names,
            [
                ("Likely or more", [c["likely"] for c in counts]),
                ("All lines", [c["lines"] for c in counts]),
            ],
            "trend-bands",
            "lines scored and lines likely or more to persist",
        ),
        _series_chart(
            names,
            [
                ("No referral", [c["unreferred"] for c in counts]),
                ("High harm+", [sum((c["harm"] or [0, 0, 0, 0])[2:]) for c in counts]),
            ],
            "trend-harm",
            "lines of high or very high harm and lines with exploited people and no referral",
        ),
    ]
    if values:
        charts.append(
            _series_chart(
                names,
                [
                    (
                        slice_value_text(contract, cohort, v),
                        [c["cohorts"].get(v, (0, 0))[1] for c in counts],
                    )
                    for v in values
                ],
                "trend-cohorts",
                "lines likely or more to persist by " + contract.describe(cohort).lower(),
            )
        )
    if known:
        charts.append(
            _series_chart(
                names,
                [
                    ("Persisted", [(known.get(n) or {}).get("persisted") for n in names]),
                    ("Expected", [(known.get(n) or {}).get("expected") for n in names]),
                ],
                "trend-outcomes",
                "outcomes now known: lines that persisted and the number our estimates expected",
            )
        )
    return charts


def trends(week: str, current: dict, root: Path, contract, cohort: str | None) -> dict | None:
    """The trends section: rows per week (oldest first), charts and realised accuracy; None when
    this is the only scored week."""
    folders = earlier_weeks(root, week)
    if not folders:
        return None
    names = [p.name for p in folders] + [week]
    counts = [_earlier_week(p, cohort) for p in folders] + [current]
    known = realised(root / week_files.OUTCOMES_PARQUET, names)
    values = sorted({v for c in counts for v in c["cohorts"]})
    rows = [{"week": name, **c, "outcomes": known.get(name)} for name, c in zip(names, counts)]
    charts = _charts(names, counts, known, contract, cohort, values)
    return {
        "weeks": names,
        "rows": rows,
        "charts": charts,
        "band_names": list(BAND_NAMES),
        "harm_names": [first_page.harm_band_label(j) for j in range(len(first_page.HARM_BANDS))],
        "cohort_values": [(v, slice_value_text(contract, cohort, v)) for v in values],
        "cohort_label": contract.describe(cohort) if cohort else "",
        "has_outcomes": bool(known),
    }


def realised_total(trend: Mapping[str, Any] | None) -> dict | None:
    """Every outcome known for the weeks of the trend, added up, with plain words."""
    known = [r["outcomes"] for r in (trend or {}).get("rows", []) if r.get("outcomes")]
    if not known:
        return None
    total = {k: sum(o[k] for o in known) for k in ("known", "persisted", "expected", "variance")}
    total["verdict"] = verdict(total["persisted"], total["expected"], total["variance"])
    total["weeks"] = len(known)
    return total
