"""Place and group: priority and harm by policing area, and a view of organised crime groups.

**Place.** The columns that describe a place (``describes: place`` in the data config; the policing
area in the default one), among the week's slices. Per value: lines, lines likely or more to
persist, the number expected still active (the sum of the lines' probabilities), the harm recorded
(sum of the harm index), the priority (sum of likelihood x harm, the shortlist's own measure), and
lines on the shortlist and with exploited people and no referral.

**Group.** Only when the data config declares a ``group`` column (an organised crime group id:
context, never a model input). Per group with lines open this week: its lines, how many are
expected still to be active (the sum of their probabilities, with the sum of their plausible
ranges' ends where the week has ranges: each end is reached only if every line sits at it, so the
truth is inside), its harm (sum of the harm index), and the grade of its latest disruption (the
playbook's ``groups.grade``; ties on the date go to the heavier grade). The taskforce aims at
major and moderate disruption of groups, not only closing lines, so the grades are counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from resilience.data.contract import DataContract
from resilience.report import first_page
from resilience.report.charts import value_bars
from resilience.report.words import clean_text, number, plural, slice_value_text

MAX_PLACES = 12  # areas per table; the rest are summed
MAX_GROUPS = 10  # groups named; every group is counted
LINES_NAMED = 4  # line ids printed per group


def place_columns(contract: DataContract, rows: pd.DataFrame) -> list[str]:
    return [
        c
        for c in contract.slices
        if c in rows.columns and c in contract.column_names and contract.describes_of(c) == "place"
    ]


def priority_scores(rows: pd.DataFrame, policy: Mapping[str, Any]) -> np.ndarray:
    """Likelihood x max(harm, floor): the measure the shortlist ranks by (probability alone
    without a harm policy)."""
    probability = rows["persistence_probability"].to_numpy(dtype=float)
    if "harm_index" not in rows.columns or not first_page.policy_components(policy):
        return probability * 100
    floor = float(number(policy.get("harm_floor")) or 0)
    return probability * np.maximum(rows["harm_index"].to_numpy(dtype=float), floor)


def _area_rows(frame: pd.DataFrame, label_of) -> list[dict]:
    table = frame.groupby("value", observed=True, sort=False).agg(
        lines=("p", "size"),
        likely=("likely", "sum"),
        expected=("p", "sum"),
        low=("low", "sum"),
        high=("high", "sum"),
        harm=("harm", "sum"),
        priority=("priority", "sum"),
        shortlisted=("shortlisted", "sum"),
        unreferred=("unreferred", "sum"),
    )
    table = table.sort_values(["priority", "lines"], ascending=False, kind="stable")
    shown, rest = table.head(MAX_PLACES), table.iloc[MAX_PLACES:]
    out = [{"value": label_of(v), **_area_numbers(r)} for v, r in shown.iterrows()]
    if len(rest):
        out.append({"value": f"{len(rest):,} other values", **_area_numbers(rest.sum())})
    return out


def _area_numbers(r) -> dict:
    return {
        "lines": int(r["lines"]),
        "likely": int(r["likely"]),
        "expected": float(r["expected"]),
        # the sum of the lines' range ends, as for groups (None for a week without ranges)
        "low": float(r["low"]),
        "high": float(r["high"]),
        "harm": float(r["harm"]),
        "priority": float(r["priority"]),
        "shortlisted": int(r["shortlisted"]),
        "unreferred": int(r["unreferred"]),
    }


def places(
    rows: pd.DataFrame,
    contract: DataContract,
    policy: Mapping[str, Any],
    shortlist: Sequence[int],
    unreferred: Sequence[int],
) -> list[dict]:
    """One table (and chart) per place column: priority, harm and expectations per value."""
    out = []
    ranged = {"probability_low", "probability_high"} <= set(rows.columns)
    for column in place_columns(contract, rows):
        frame = pd.DataFrame(
            {
                "value": rows[column].astype(str),
                "p": rows["persistence_probability"].to_numpy(dtype=float),
                "low": rows["probability_low"].to_numpy(dtype=float) if ranged else np.nan,
                "high": rows["probability_high"].to_numpy(dtype=float) if ranged else np.nan,
                "likely": rows["band"].isin(first_page.LIKELY_BANDS).to_numpy(),
                "harm": rows["harm_index"].to_numpy(dtype=float)
                if "harm_index" in rows.columns
                else 0.0,
                "priority": priority_scores(rows, policy),
                "shortlisted": rows.index.isin(list(shortlist)),
                "unreferred": rows.index.isin(list(unreferred)),
            }
        )
        table = _area_rows(frame, lambda v, c=column: slice_value_text(contract, c, v))
        if not ranged:  # a week scored without ranges: no sum of their ends to print
            table = [{**r, "low": None, "high": None} for r in table]
        chart = value_bars(
            [
                {"label": r["value"], "value": r["priority"], "value_text": f"{r['priority']:,.0f}"}
                for r in table
            ],
            f"chart-place-{column}",
        )
        label = contract.describe(column)
        chart["aria_label"] = (
            f"Bar chart of priority (likelihood times harm, summed) by {label.lower()}: "
            + "; ".join(f"{r['value']} {r['priority']:,.0f}" for r in table)
            + "."
        )
        out.append({"column": column, "label": label, "rows": table, "chart": chart})
    return out


def _group_frame(rows: pd.DataFrame, column: str, policy, playbook) -> pd.DataFrame:
    """The linked lines, one row each: group, line, probability (and range), harm, priority, date
    and the grade's place in the data config's order (-1: none)."""
    ids = rows[column].astype(str).str.strip()
    linked = (ids != "").to_numpy()
    has_range = {"probability_low", "probability_high"} <= set(rows.columns)
    grade = playbook.get("grade_column")
    heaviness = {str(g): i for i, g in enumerate(playbook.get("grades") or [])}
    chosen = rows.loc[linked]
    return pd.DataFrame(
        {
            "group": ids[linked].map(clean_text),
            "line_id": chosen["line_id"].astype(str),
            "p": chosen["persistence_probability"].astype(float),
            "low": chosen["probability_low"].astype(float) if has_range else np.nan,
            "high": chosen["probability_high"].astype(float) if has_range else np.nan,
            "harm": chosen["harm_index"].astype(float) if "harm_index" in rows.columns else 0.0,
            "priority": priority_scores(rows, policy)[linked],
            "date": chosen["disruption_date"].astype(str),
            "grade": chosen[grade].astype(str).map(heaviness).fillna(-1).astype(int)
            if grade in rows.columns
            else -1,
        }
    )


def groups(
    rows: pd.DataFrame,
    contract: DataContract,
    policy: Mapping[str, Any],
    playbook: Mapping[str, Any],
) -> dict | None:
    """The group view: counts over every group and the ``MAX_GROUPS`` with the highest priority."""
    column = contract.group_column
    if not column or column not in rows.columns:
        return None
    frame = _group_frame(rows, column, policy, playbook)
    table = frame.groupby("group", sort=False).agg(
        lines=("line_id", "nunique"),
        expected=("p", "sum"),
        low=("low", "sum"),
        high=("high", "sum"),
        ranged=("low", "count"),
        rows=("p", "size"),
        harm=("harm", "sum"),
        priority=("priority", "sum"),
        latest=("date", "max"),
    )
    # the latest disruption's grade; on the same day the heavier grade
    latest = frame.sort_values(["group", "date", "grade"], kind="stable").groupby("group").last()
    table["grade"] = latest["grade"].reindex(table.index)
    table = table.reset_index().sort_values(["priority", "group"], ascending=[False, True])
    grades = [str(g) for g in (playbook.get("grades") or [])]
    graded = pd.Series(
        [grades[g] for g in table["grade"] if 0 <= g < len(grades)], dtype=object
    ).value_counts()
    shown = table.head(MAX_GROUPS)
    named = frame[frame["group"].isin(set(shown["group"]))].groupby("group")["line_id"].unique()
    return {
        "label": contract.describe(column),
        "count": int(len(table)),
        "lines": int(len(frame)),
        "grades": [(g, int(graded.get(g, 0))) for g in reversed(grades)],
        "has_grade": bool(grades),
        "rows": [_group_row(r, sorted(named[r["group"]]), grades) for _, r in shown.iterrows()],
        "sentence": _group_sentence(int(len(table)), int(len(frame)), graded, grades),
    }


def _group_row(r, line_ids: list[str], grades: Sequence[str]) -> dict:
    ranged = int(r["ranged"]) == int(r["rows"])
    return {
        "group": r["group"],
        "lines": int(r["lines"]),
        "shown_ids": line_ids[:LINES_NAMED],
        "more": max(len(line_ids) - LINES_NAMED, 0),
        "expected": float(r["expected"]),
        "low": float(r["low"]) if ranged else None,
        "high": float(r["high"]) if ranged else None,
        "harm": float(r["harm"]),
        "priority": float(r["priority"]),
        "grade": grades[int(r["grade"])] if 0 <= int(r["grade"]) < len(grades) else "",
        "latest": r["latest"],
    }


def _group_sentence(count: int, lines: int, graded: pd.Series, grades: Sequence[str]) -> str:
    if not count:
        return "No line scored this week is recorded as linked to a group."
    text = f"{plural(count, 'group')} {'has' if count == 1 else 'have'} lines open this week ({plural(lines, 'line')})"
    parts = [f"{int(graded.get(g, 0)):,} {g}" for g in reversed(grades)]
    if parts:
        text += "; their latest disruptions were graded " + ", ".join(parts)
    return text + "."
