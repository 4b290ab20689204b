"""Building the template's context: plain words, numbers and chart geometry for one week.

:func:`report_context` takes a loaded week (and last week's), picks the few lines the briefing
names (shortlist, protect list, biggest changes), reads only their full rows and explanations, and
aggregates everything else (band counts, splits, the likelihood x harm matrix), so its cost and the
page count stay bounded whatever the week's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from resilience.core import week_files
from resilience.core.paths import project_root
from resilience.core.yardstick import BAND_NAMES
from resilience.explain.reasons import REASON_COLUMNS, TOP_REASONS
from resilience.report import changes, first_page
from resilience.report.charts import band_chart, waterfall_chart
from resilience.report.load import WeekData
from resilience.report.trust import how_sure, trust
from resilience.report.waterfall import concept_contributions, waterfall_steps
from resilience.report.words import (
    DEFAULT_MARKING,
    FOUR_PS_WORDS,
    band_range,
    clean_text,
    css_string,
    day,
    number,
    plural,
    points_text,
    slice_value_text,
    when,
)

MAX_SPLIT_ROWS = 12  # values per split table; the rest are summed into "other values"


@dataclass(frozen=True)
class ReportSettings:
    """What shapes the briefing (configs/report.yaml). ``capacity`` None = the harm policy's, else 10."""

    marking: str = DEFAULT_MARKING
    capacity: int | None = None
    max_detail_lines: int = 5
    protect_lines: int = 15
    board_lines: int = 10
    unchanged_points: int = changes.UNCHANGED_POINTS
    annex_max_rows: int = 50_000
    tactics_root: str = (
        "outputs/tactics"  # where resilience-tactics writes reviews (relative: the project's)
    )

    def tactics_path(self) -> Path:
        path = Path(self.tactics_root)
        return path if path.is_absolute() else project_root() / path


def _reasons(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    return [text for text in (clean_text(row.get(c)).strip() for c in columns) if text]


def _decisions(decisions: list[dict] | None) -> tuple[list[dict] | None, dict[str, list[dict]]]:
    if decisions is None:
        return None, {}
    rows, by_line = [], {}
    for item in decisions:
        if not isinstance(item, Mapping):
            continue
        row = {k: clean_text(item.get(k)) for k in ("line_id", "decision", "reason", "by")}
        row["at"] = when(item.get("at"))
        rows.append(row)
        by_line.setdefault(row["line_id"], []).append(row)
    return rows, by_line


def _safeguarding(items: list[dict], lines_scored: int) -> dict:
    """Totals of the protect/prevent columns (named by the data config, whatever their names)."""
    rows = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        total, lines_with_any = number(item.get("total")), number(item.get("lines_with_any"))
        rows.append(
            {
                "label": clean_text(item.get("label_text") or item.get("column")),
                "concept": clean_text(item.get("concept_label") or item.get("concept")),
                "four_ps": FOUR_PS_WORDS.get(
                    str(item.get("four_ps")), clean_text(item.get("four_ps")).title()
                ),
                "total": f"{int(total):,}" if total is not None else "not recorded",
                "lines_with_any": f"{int(lines_with_any):,}"
                if lines_with_any is not None
                else "not recorded",
            }
        )
    summary = [f"{r['total']} {r['label']}" for r in rows if r["total"] != "not recorded"]
    sentence = ""
    if summary:
        sentence = (
            f"Across the {plural(lines_scored, 'line')} scored this week, the extract records "
            + ", ".join(summary[:-1])
            + (" and " if len(summary) > 1 else "")
            + summary[-1]
            + "."
        )
    return {"rows": rows, "sentence": sentence}


def _splits(rows: pd.DataFrame, contract) -> list[dict]:
    columns = [c for c in contract.slices if c in rows.columns]
    if contract.cohort_column in columns:
        columns.remove(contract.cohort_column)
        columns.insert(0, contract.cohort_column)
    splits = []
    for column in columns:
        values = (
            rows[column]
            if isinstance(rows[column].dtype, pd.CategoricalDtype)
            else rows[column].astype("category")
        )
        if values.isna().any():
            values = values.cat.add_categories([""]).fillna("")
        table = pd.crosstab(values, rows["band"], dropna=False).reindex(
            columns=list(BAND_NAMES), fill_value=0
        )
        table = table[table.sum(axis=1) > 0]
        table = table.assign(_n=table.sum(axis=1)).sort_values("_n", ascending=False, kind="stable")
        out = [
            {
                "value": slice_value_text(contract, column, value),
                "count": int(r["_n"]),
                "bands": [int(r[b]) for b in BAND_NAMES],
                "likely": int(sum(r[b] for b in first_page.LIKELY_BANDS)),
            }
            for value, r in table.head(MAX_SPLIT_ROWS).iterrows()
        ]
        rest = table.iloc[MAX_SPLIT_ROWS:]
        if len(rest):
            out.append(
                {
                    "value": f"{len(rest):,} other values",
                    "count": int(rest["_n"].sum()),
                    "bands": [int(rest[b].sum()) for b in BAND_NAMES],
                    "likely": int(sum(rest[b].sum() for b in first_page.LIKELY_BANDS)),
                }
            )
        label = contract.describe(column) if column in contract.column_names else column
        splits.append(
            {
                "column": column,
                "label": label,
                "is_cohort": column == contract.cohort_column,
                "rows": out,
            }
        )
    return splits


def _headline(
    rows: pd.DataFrame,
    contract,
    board: dict | None,
    unchanged_points: int,
    outcomes: dict | None = None,
) -> dict:
    total = len(rows)
    counts = rows["band"].value_counts()
    bands = [
        {
            "band": name,
            "range": band_range(name),
            "count": int(counts.get(name, 0)),
            "share": f"{counts.get(name, 0) / total * 100:.0f}%" if total else "0%",
        }
        for name in BAND_NAMES
    ]
    likely = int(sum(counts.get(b, 0) for b in first_page.LIKELY_BANDS))
    chart = band_chart(bands, "chart-bands")
    chart["aria_label"] = (
        f"Bar chart of the {total:,} lines scored by yardstick band: "
        + "; ".join(f"{b['band']} {b['count']:,}" for b in bands)
        + "."
    )
    splits = _splits(rows, contract)
    sentences = [
        f"{plural(total, 'line')} scored this week.",
        f"{likely:,} of them {'is' if likely == 1 else 'are'} likely or more to persist (55% or above on the yardstick).",
    ]
    cohort = next((s for s in splits if s["is_cohort"]), None)
    if cohort and cohort["rows"]:
        parts = [f"{r['likely']:,} of {r['count']:,} {r['value'].lower()}" for r in cohort["rows"]]
        sentences.append(
            f"By {cohort['label'].lower()}: "
            + "; ".join(parts)
            + " lines are likely or more to persist."
        )
    if board is not None:
        gone = (
            f"; {board['gone']:,} of last week's lines are no longer in the open list"
            if board.get("gone") is not None
            else ""
        )
        known = f" {outcomes['headline']}" if outcomes and outcomes.get("headline") else ""
        sentences.append(
            f"Since last week: {board['new']:,} new, {board['up']:,} up, {board['down']:,} down, "
            f"{board['unchanged']:,} unchanged (within \u00b1{unchanged_points} points){gone}.{known}"
        )
    return {
        "lines_scored": total,
        "likely": likely,
        "bands": bands,
        "band_chart": chart,
        "splits": splits,
        "sentences": sentences,
        "band_names": list(BAND_NAMES),
    }


def _waterfall(line: dict, explanations: pd.DataFrame, contract, number_: int) -> dict:
    """Waterfall steps and chart for one line (or none when its explanation is missing)."""
    item = {**line, "number": number_, "steps": None, "chart": None, "anchor": f"detail-{number_}"}
    disruption = line["disruption_id"]
    if explanations.empty or "baseline_probability" not in explanations.columns:
        return item
    by_concept, concepts = concept_contributions(explanations, contract)
    if disruption not in by_concept.index:
        return item
    contributions = by_concept.loc[[disruption]].iloc[0]
    baseline = (
        float(
            explanations.loc[
                explanations["disruption_id"] == disruption, "baseline_probability"
            ].iloc[0]
        )
        * 100
    )
    steps = waterfall_steps(baseline, contributions.to_dict(), concepts)
    for step in steps:
        step["points_text"] = (
            f"{step['end']:.0f}%"
            if step["kind"] in ("baseline", "final")
            else points_text(step["points"], 1)
        )
        step["running_text"] = f"{step['end']:.1f}%"
    chart = waterfall_chart(steps, f"waterfall-{number_}")
    chart["aria_label"] = (
        f"Waterfall chart for line {line['line_id']}: starts at {steps[0]['end']:.0f}% for the average line, then "
        + "; ".join(f"{s['label']} {s['points_text']}" for s in steps[1:-1])
        + f"; ends at {steps[-1]['end']:.0f}%, this line's probability of persisting."
    )
    item["steps"], item["chart"] = steps, chart
    return item


def _line(
    row: Mapping[str, Any],
    change_row: Mapping[str, Any],
    moved: str,
    record: str,
    contract,
    policy,
    decisions,
    settings: ReportSettings,
) -> dict:
    line_id = clean_text(row.get("line_id"))
    slices = [c for c in contract.slices if c in row]
    harm = number(row.get("harm_index"))
    return {
        **first_page.line_words(row),
        "rank": int(row["rank"]),
        "priority_rank": int(row.get("priority_rank") or row["rank"]),
        "line_id": line_id,
        "disruption_id": clean_text(row.get("disruption_id")),
        "slices": " \u00b7 ".join(slice_value_text(contract, c, row.get(c)) for c in slices),
        "harm": f"{harm:.0f}" if harm is not None else "",
        "harm_words": first_page.harm_words(row, policy),
        "people_words": first_page.harm_words(
            row, policy, (policy.get("protect") or {}).get("exploited") or []
        ),
        "reasons_for": _reasons(row, REASON_COLUMNS[:TOP_REASONS]),
        "reasons_against": _reasons(row, REASON_COLUMNS[TOP_REASONS:]),
        "change": changes.change_words(
            change_row["change"],
            change_row["change_points"],
            change_row["previous_percent"],
            settings.unchanged_points,
            moved,
            record,
        ),
        "decisions": decisions.get(line_id, []),
        "summary": clean_text(row.get("summary")),
        "date": day(row.get("disruption_date")),
        "people": int(
            sum(
                number(row.get(week_files.HARM_COMPONENT_PREFIX + str(n))) or 0
                for n in ((policy.get("protect") or {}).get("exploited") or [])
            )
        ),
        "referrals": number(row.get("protect_referrals")),
        "anchor": None,
    }


def _chosen(week: WeekData, previous: WeekData | None, change: pd.DataFrame, picks: list) -> dict:
    """Full rows and explanations of the picked row indexes, and the reason that moved each most."""
    ids = [str(week.rows.at[i, "disruption_id"]) for i in picks]
    full = week.rows_for(ids).drop_duplicates("disruption_id").set_index("disruption_id")
    explanations = week.explanations_for(ids)
    pairs = [
        (
            str(week.rows.at[i, "disruption_id"]),
            str(previous.rows["disruption_id"].iat[int(change.at[i, "previous_position"])]),
        )
        for i in picks
        if previous is not None and change.at[i, "change"] in ("up", "down")
    ]
    moved, record = {}, {}
    if previous is not None and pairs:
        before = previous.explanations_for([p for _, p in pairs])
        moved = changes.moved_most(pairs, explanations, before, week.contract)
        same = [(a, b) for a, b in pairs if a == b]  # the same disruption: did its record fill in?
        if same:
            ids_now = [a for a, _ in same]
            record = changes.record_updates(
                same, week.records_for(ids_now), previous.records_for(ids_now), week.contract
            )
    return {"full": full, "explanations": explanations, "moved": moved, "record": record}


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


def report_context(
    week: WeekData, previous: WeekData | None = None, settings: ReportSettings = ReportSettings()
) -> dict[str, Any]:
    """Everything the template shows, as plain words, numbers and chart geometry. (Over 60 lines:
    one key per section of the page, in the page's order.)"""
    rows, contract, manifest = week.rows, week.contract, week.manifest
    policy = manifest.priority or {}
    capacity = int(settings.capacity or number(policy.get("capacity")) or 10)
    change = changes.change_since_last_week(
        rows, previous.rows if previous else None, settings.unchanged_points
    )
    shortlist = list(rows["priority_rank"].nsmallest(capacity).sort_values(kind="stable").index)
    protect = first_page.protect_list(rows, policy, settings.protect_lines)
    board = (
        changes.board(rows, change, previous.rows if previous else None, settings.board_lines)
        if previous
        else None
    )
    picks = list(
        dict.fromkeys([*shortlist, *protect.get("order", []), *(board["moves"] if board else [])])
    )
    chosen = _chosen(week, previous, change, picks)
    decisions, by_line = _decisions(week.decisions)

    def line(i: int) -> dict:
        disruption = str(rows.at[i, "disruption_id"])
        full = (
            chosen["full"].loc[disruption].to_dict() if disruption in chosen["full"].index else {}
        )
        merged = {**full, **rows.loc[i].to_dict(), "disruption_id": disruption}
        return _line(
            merged,
            change.loc[i],
            chosen["moved"].get(disruption, ""),
            chosen["record"].get(disruption, ""),
            contract,
            policy,
            by_line,
            settings,
        )

    short_lines = [line(i) for i in shortlist]
    detail = [
        _waterfall(item, chosen["explanations"], contract, n + 1)
        for n, item in enumerate(short_lines[: max(int(settings.max_detail_lines), 0)])
    ]
    for item, det in zip(short_lines, detail):
        item["anchor"] = det["anchor"]
    week_name = clean_text(manifest.week or "")
    outcomes = _outcomes(week, previous, settings.board_lines) if board else None
    trusted = trust(manifest.to_dict(), week.drift, contract)
    return {
        "marking": clean_text(settings.marking),
        "marking_css": css_string(settings.marking),
        "title": "Commander's briefing: disrupted lines"
        + (f" \u2014 week {week_name}" if week_name else ""),
        "week": week_name,
        "created": when(manifest.created_utc),
        "horizon_weeks": contract.horizon_weeks,
        "capacity": capacity,
        "has_policy": bool(first_page.policy_components(policy)),
        "shortlist_sentence": first_page.shortlist_sentence(
            capacity, len(rows), bool(first_page.policy_components(policy))
        ),
        "shortlist": short_lines,
        "detail": detail,
        "detail_count": len(detail),
        "protect": {**protect, "lines": [line(i) for i in protect.get("order", [])]},
        "matrix": first_page.matrix(rows),
        "policy": first_page.policy_table(policy),
        "headline": _headline(rows, contract, board, settings.unchanged_points, outcomes),
        "board": {**board, "lines": [line(i) for i in board["moves"]], "outcomes": outcomes}
        if board
        else None,
        "has_previous": previous is not None,
        "previous_week": clean_text(previous.name) if previous else None,
        "unchanged_points": settings.unchanged_points,
        "safeguarding": _safeguarding(week.safeguarding, len(rows)),
        "trust": trusted,
        "how_sure": how_sure(trusted),
        "decisions": decisions,
        "annex": {
            "file": week_files.ANNEX_HTML,
            "max_rows": settings.annex_max_rows,
            "all": len(rows) <= settings.annex_max_rows,
        },
        "bands_explained": [{"band": n, "range": band_range(n)} for n in BAND_NAMES],
    }
