"""Building the template's context: plain words, numbers and chart geometry for one week.

:func:`report_context` takes a loaded week (and last week's), picks the few lines the briefing
names (shortlist, protect list, biggest changes, last week's lists), reads only their full rows and
explanations, and aggregates everything else (band counts, splits, places, groups, the likelihood
x harm matrix, trends over earlier weeks), so its cost and the page count stay bounded whatever
the week's size. Each section is built by its own module and assembled here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from resilience.core import week_files
from resilience.core.paths import project_root
from resilience.core.yardstick import BAND_NAMES
from resilience.report import changes, first_page, last_week, place, protect, trends
from resilience.report.headline import headline, safeguarding
from resilience.report.lines import (
    chosen_rows,
    concepts_of,
    decisions_by_line,
    line_words,
    waterfall,
)
from resilience.report.load import WeekData
from resilience.report.options import as_of_date, playbook_rules, playbook_section
from resilience.report.trust import how_sure, trust
from resilience.report.words import (
    DEFAULT_MARKING,
    band_range,
    clean_text,
    css_string,
    number,
    when,
)


@dataclass(frozen=True)
class ReportSettings:
    """What shapes the briefing (configs/report.yaml). ``capacity`` None = the harm policy's, else 10."""

    marking: str = DEFAULT_MARKING
    capacity: int | None = None
    max_detail_lines: int = 5
    protect_lines: int = 25
    board_lines: int = 10
    decision_lines: int = 10  # decisions named in the decisions section (every one is in the log)
    unchanged_points: int = changes.UNCHANGED_POINTS
    annex_max_rows: int = 50_000
    tactics_root: str = (
        "outputs/tactics"  # where resilience-tactics writes reviews (relative: the project's)
    )

    def tactics_path(self) -> Path:
        path = Path(self.tactics_root)
        return path if path.is_absolute() else project_root() / path


def capacity_of(policy: Mapping[str, Any], settings: ReportSettings) -> int:
    return int(settings.capacity or number(policy.get("capacity")) or 10)


def shortlist_of(rows: pd.DataFrame, capacity: int) -> list:
    """Row indexes of the shortlist: the ``capacity`` highest priorities, in priority order."""
    return list(rows["priority_rank"].nsmallest(capacity).sort_values(kind="stable").index)


def _outcomes(week: WeekData, previous: WeekData, limit: int) -> dict | None:
    """Last week's disruptions no longer open whose outcome is now recorded (None: no outcomes file).
    Only those ids are read from the file, so its size does not matter."""
    closed = changes.closed_since(previous.rows, week.rows)
    known = week.outcomes_for(closed)
    if known is None:
        return None
    known = known.reset_index(drop=True)
    summary = changes.outcomes_known(known, len(closed), limit, week.contract.horizon_weeks)
    if not summary["count"] and not summary["waiting"]:
        return None
    summary["lines"] = [
        {
            "line_id": clean_text(known.at[i, "line_id"]),
            "disruption_id": clean_text(known.at[i, "disruption_id"]),
            "week": clean_text(known.at[i, "week"]),
            **changes.outcome_words(
                bool(known.at[i, "outcome"]),
                known.at[i, "persistence_probability"],
                known.at[i, "yardstick_band"],
                known.at[i, "probability_low"],
                known.at[i, "probability_high"],
            ),
        }
        for i in summary.pop("order")
    ]
    return summary


def _last_week(
    week: WeekData, previous: WeekData, lists: Mapping, settings: ReportSettings, by_line: Mapping
) -> dict:
    """What became of last week's shortlist and protect list (see :mod:`.last_week`)."""
    before_policy = previous.manifest.priority or {}
    before_short = shortlist_of(previous.rows, capacity_of(before_policy, settings))
    before_protect = protect.protect_list(previous.rows, before_policy, settings.protect_lines)
    named = [*before_short, *before_protect.get("order", [])]
    ids = previous.rows.loc[named, "disruption_id"].astype(str).tolist()
    known = week.outcomes_for(ids)
    context = {
        "labels": last_week.harm_labels(week.manifest.priority or {}),
        "model_change": last_week.model_change(previous.manifest.model, week.manifest.model),
        "unchanged_points": settings.unchanged_points,
        "decisions": by_line,
    }
    short = last_week.fates(
        previous.rows,
        before_short,
        week.rows,
        set(lists["shortlist"]),
        known,
        {**context, "list": "shortlist"},
    )
    protected = last_week.fates(
        previous.rows,
        before_protect.get("order", []),
        week.rows,
        set(lists["protect"]),
        known,
        {**context, "list": "protect"},
    )
    return {
        "shortlist": short,
        "protect": protected,
        "model_change": context["model_change"],
        "sentences": [
            last_week.summary(short, "shortlisted line"),
            last_week.summary(
                protected, "line named on the protect list", "lines named on the protect list"
            ),
        ],
        "outcomes_known": known is not None,
    }


def _lines(week: WeekData, previous: WeekData | None, settings: ReportSettings) -> dict:
    """The lists of the week (row indexes) and the words of every line they name."""
    rows, policy = week.rows, week.manifest.priority or {}
    capacity = capacity_of(policy, settings)
    change = changes.change_since_last_week(
        rows, previous.rows if previous else None, settings.unchanged_points
    )
    shortlist = shortlist_of(rows, capacity)
    protected = protect.protect_list(rows, policy, settings.protect_lines)
    board = changes.board(rows, change, previous.rows, settings.board_lines) if previous else None
    picks = [*shortlist, *protected.get("order", []), *(board["moves"] if board else [])]
    chosen = chosen_rows(week, previous, change, list(dict.fromkeys(picks)))
    decisions, by_line = decisions_by_line(week.decisions)
    context = {
        "contract": week.contract,
        "policy": policy,
        "rules": playbook_rules(week.manifest.playbook or {}),
        "as_of": as_of_date(rows),
        "decisions": by_line,
        "moved": chosen["moved"],
        "record": chosen["record"],
        "unchanged_points": settings.unchanged_points,
    }

    def line(i: int) -> dict:
        disruption = str(rows.at[i, "disruption_id"])
        full = (
            chosen["full"].loc[disruption].to_dict() if disruption in chosen["full"].index else {}
        )
        return line_words({**full, **rows.loc[i].to_dict()}, change.loc[i], context)

    return {
        "capacity": capacity,
        "shortlist": shortlist,
        "short_lines": [line(i) for i in shortlist],
        "protect": {**protected, "lines": [line(i) for i in protected.get("order", [])]},
        "board": {**board, "lines": [line(i) for i in board["moves"]]} if board else None,
        "explanations": chosen["explanations"],
        "decisions": decisions,
        "by_line": by_line,
        "as_of": context["as_of"],
    }


def _unreferred(rows: pd.DataFrame, policy: Mapping) -> list:
    frame = protect.protect_frame(rows, policy)
    return list(frame.index[frame["group"] != protect.REFERRED]) if len(frame) else []


def report_context(
    week: WeekData, previous: WeekData | None = None, settings: ReportSettings = ReportSettings()
) -> dict[str, Any]:
    """Everything the template shows, as plain words, numbers and chart geometry. (Over 60 lines:
    one key per section of the page, in the page's order.)"""
    rows, contract, manifest = week.rows, week.contract, week.manifest
    policy = manifest.priority or {}
    lists = _lines(week, previous, settings)
    short_lines = lists["short_lines"]
    explained = concepts_of(lists["explanations"], contract)
    detail = [
        waterfall(item, explained, n + 1)
        for n, item in enumerate(short_lines[: max(int(settings.max_detail_lines), 0)])
    ]
    for item, det in zip(short_lines, detail):
        item["anchor"] = det["anchor"]
    board = lists["board"]
    outcomes = _outcomes(week, previous, settings.board_lines) if board else None
    became = (
        _last_week(
            week,
            previous,
            {"shortlist": lists["shortlist"], "protect": lists["protect"]["order"]},
            settings,
            lists["by_line"],
        )
        if previous
        else None
    )
    week_name = clean_text(manifest.week or "")
    trusted = trust(manifest.to_dict(), week.drift, contract)
    trend = trends.trends(
        week.name,
        trends.week_counts(rows, policy, contract.cohort_column),
        week.folder.parent,
        contract,
        contract.cohort_column,
    )
    unreferred = _unreferred(rows, policy)
    return {
        "marking": clean_text(settings.marking),
        "marking_css": css_string(settings.marking),
        "title": "Commander's briefing: disrupted lines"
        + (f" \u2014 week {week_name}" if week_name else ""),
        "week": week_name,
        "created": when(manifest.created_utc),
        "as_of": lists["as_of"].strftime("%d %b %Y") if lists["as_of"] is not None else "",
        "horizon_weeks": contract.horizon_weeks,
        "capacity": lists["capacity"],
        "has_policy": bool(first_page.policy_components(policy)),
        "shortlist_sentence": first_page.shortlist_sentence(
            lists["capacity"], len(rows), bool(first_page.policy_components(policy))
        ),
        "shortlist": short_lines,
        "shortlist_split": first_page.shortlist_split(short_lines, manifest.extra.get("draws")),
        "fairness_notice": first_page.fairness_notice(
            manifest.model or {}, trusted.get("fairness_flagged") or []
        ),
        "detail": detail,
        "detail_count": len(detail),
        "protect": lists["protect"],
        "matrix": first_page.matrix(rows),
        "policy": first_page.policy_table(policy),
        "playbook": playbook_section(manifest.playbook or {}, contract, rows),
        "headline": headline(
            rows,
            contract,
            board,
            settings.unchanged_points,
            outcomes,
            became["sentences"] if became else [],
        ),
        "board": {**board, "outcomes": outcomes} if board else None,
        "last_week": became,
        "places": place.places(rows, contract, policy, lists["shortlist"], unreferred),
        "groups": place.groups(rows, contract, policy, manifest.playbook or {}),
        "trends": trend,
        "has_previous": previous is not None,
        "previous_week": clean_text(previous.name) if previous else None,
        "unchanged_points": settings.unchanged_points,
        "safeguarding": safeguarding(week.safeguarding, len(rows)),
        "trust": trusted,
        "how_sure": how_sure(trusted, trend),
        "decisions": lists["decisions"],
        "decision_lines": max(int(settings.decision_lines), 0),
        "annex": {
            "file": week_files.ANNEX_HTML,
            "max_rows": settings.annex_max_rows,
            "all": len(rows) <= settings.annex_max_rows,
        },
        "bands_explained": [{"band": n, "range": band_range(n)} for n in BAND_NAMES],
    }
