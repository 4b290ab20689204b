"""The lines the briefing names (shortlist, protect list, biggest changes), in words.

Only these few dozen lines are read in full (reasons, explanations); everything else in the
briefing is an aggregate of the light columns. Each line's words come from its own row: likelihood
and range, harm components, reasons, change since last week, the options whose rules hold for its
record (with the record's age), and the decisions recorded for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from resilience.core import week_files
from resilience.explain.reasons import REASON_COLUMNS, TOP_REASONS
from resilience.report import changes, first_page
from resilience.report.charts import waterfall_chart
from resilience.report.load import WeekData
from resilience.report.options import age_words, compact_options, line_options, record_age_days
from resilience.report.waterfall import concept_contributions, waterfall_steps
from resilience.report.words import (
    clean_text,
    clipped,
    day,
    number,
    one_line,
    points_text,
    slice_value_text,
    when,
)


def reasons(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    return [text for text in (clean_text(row.get(c)).strip() for c in columns) if text]


# A decision and its reason run to 2,000 characters each in the log (governance.decisions): the
# briefing prints the first DECISION_CHARS of each in its decisions section and the first
# DECISION_SHORT_CHARS of a decision beside a line, so the PDF keeps its 16 pages; the log and the
# line explorer hold every character.
DECISION_CHARS = 100
DECISION_SHORT_CHARS = 20


def decisions_by_line(
    decisions: list[dict] | None,
) -> tuple[list[dict] | None, dict[str, list[dict]]]:
    """The recorded decisions as display rows (decision and reason clipped, ``short`` for beside a
    line, ``clipped`` when either was cut), and the same grouped by line."""
    if decisions is None:
        return None, {}
    rows, by_line = [], {}
    for item in decisions:
        if not isinstance(item, Mapping):
            continue
        row = {k: clean_text(item.get(k)) for k in ("line_id", "decision", "reason", "by")}
        full = {k: one_line(row[k]) for k in ("decision", "reason")}
        row.update({k: clipped(text, DECISION_CHARS) for k, text in full.items()})
        row["clipped"] = any(row[k] != text for k, text in full.items())
        row["short"] = clipped(full["decision"], DECISION_SHORT_CHARS)
        row["at"] = when(item.get("at"))
        rows.append(row)
        by_line.setdefault(row["line_id"], []).append(row)
    return rows, by_line


def concepts_of(explanations: pd.DataFrame, contract) -> dict | None:
    """The explanations summed by concept, with each disruption's baseline (None: no explanations)."""
    if explanations.empty or "baseline_probability" not in explanations.columns:
        return None
    by_concept, concepts = concept_contributions(explanations, contract)
    baseline = explanations.drop_duplicates("disruption_id").set_index(
        explanations["disruption_id"].drop_duplicates().astype(str)
    )["baseline_probability"]
    return {"by_concept": by_concept, "concepts": concepts, "baseline": baseline}


def waterfall(line: dict, explained: dict | None, number_: int) -> dict:
    """Waterfall steps and chart for one line (or none when its explanation is missing)."""
    item = {**line, "number": number_, "steps": None, "chart": None, "anchor": f"detail-{number_}"}
    disruption = line["disruption_id"]
    if explained is None or disruption not in explained["by_concept"].index:
        return item
    contributions = explained["by_concept"].loc[[disruption]].iloc[0]
    baseline = float(explained["baseline"].loc[disruption]) * 100
    steps = waterfall_steps(baseline, contributions.to_dict(), explained["concepts"])
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


def line_words(row: Mapping[str, Any], change_row: Mapping[str, Any], context: Mapping) -> dict:
    """Everything the briefing says about one line. ``context``: contract, policy, rules, as_of,
    decisions by line, moved-most words and record-update words by disruption, unchanged points."""
    contract, policy = context["contract"], context["policy"]
    line_id = clean_text(row.get("line_id"))
    disruption = clean_text(row.get("disruption_id"))
    harm = number(row.get("harm_index"))
    exploited = (policy.get("protect") or {}).get("exploited") or []
    age = record_age_days(row.get("disruption_date"), context["as_of"])
    options = line_options(row, context["rules"], context["as_of"])
    return {
        **first_page.line_words(row),
        "rank": int(row["rank"]),
        "priority_rank": int(row.get("priority_rank") or row["rank"]),
        "line_id": line_id,
        "disruption_id": disruption,
        "slices": " \u00b7 ".join(
            slice_value_text(contract, c, row.get(c)) for c in contract.slices if c in row
        ),
        "harm": f"{harm:.0f}" if harm is not None else "",
        "harm_words": first_page.harm_words(row, policy),
        "people_words": first_page.harm_words(row, policy, exploited),
        "reasons_for": reasons(row, REASON_COLUMNS[:TOP_REASONS]),
        "reasons_against": reasons(row, REASON_COLUMNS[TOP_REASONS:]),
        "change": changes.change_words(
            change_row["change"],
            change_row["change_points"],
            change_row["previous_percent"],
            context["unchanged_points"],
            context["moved"].get(disruption, ""),
            context.get("record", {}).get(disruption, ""),
        ),
        "options": options,
        "options_compact": compact_options(options, age_words(age)),
        "age": age_words(age),
        "decisions": context["decisions"].get(line_id, []),
        "summary": clean_text(row.get("summary")),
        "date": day(row.get("disruption_date")),
        "people": int(
            sum(number(row.get(week_files.HARM_COMPONENT_PREFIX + str(n))) or 0 for n in exploited)
        ),
        "referrals": number(row.get("protect_referrals")),
        "anchor": None,
    }


def chosen_rows(
    week: WeekData, previous: WeekData | None, change: pd.DataFrame, picks: list
) -> dict:
    """Full rows and explanations of the picked row indexes, the reason that moved each most, and
    for the same disruption as last week what its record changed (:func:`changes.record_updates`)."""
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
