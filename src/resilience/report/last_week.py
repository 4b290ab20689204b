"""What became of last week's shortlist and protect list, line by line.

Each line named last week is found again by its disruption (a disruption stays open in the weekly
extracts until its outcome is known) and given one status, the first that applies:

1. **outcome known**: no longer open, and ``outcomes.parquet`` records what happened, against the
   estimate the line was last given *before* its outcome was known (never a refitted model's);
2. **no longer open**: no outcome recorded yet;
3. **still on the list** (with its priority then and now);
4. off the list because **the model changed** (the manifests name different models), because the
   **record was updated** (its fingerprint of model inputs changed, or a harm or referral count did;
   "referral now recorded" for a protect-list line), because its **estimate fell** (by more than the
   board's ``unchanged_points``), or else because **others ranked above it** (its own estimate and
   harm unchanged).

The decisions recorded for each line last week are shown beside it. The words say what changed,
never why a line persisted or closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from resilience.core.week_files import HARM_COMPONENT_PREFIX, RECORD_FINGERPRINT
from resilience.report.changes import outcome_words
from resilience.report.words import clean_text, number, plural
from resilience.weekly.priority import REFERRALS_COLUMN

STATUSES = (
    ("outcome", "outcome now known"),
    ("closed", "no longer open, outcome not yet recorded"),
    ("still", "still on the list"),
    ("model", "off: the model changed"),
    ("referral", "off: referral now recorded"),
    ("record", "off: record updated"),
    ("fell", "off: estimate fell"),
    ("outranked", "off: others ranked above it"),
)


def _changed_counts(before: Mapping, now: Mapping, labels: Mapping[str, str]) -> list[str]:
    """ "Safeguarding referrals 0 → 2", one per harm or referral count that differs."""
    words = []
    for column in sorted(set(labels) | {REFERRALS_COLUMN}):
        a, b = number(before.get(column)), number(now.get(column))
        if a is None or b is None or round(a, 3) == round(b, 3):
            continue
        label = labels.get(column, "Safeguarding referrals")
        words.append(f"{label} {a:,.0f} \u2192 {b:,.0f}")
    return words


def _open_fate(before: Mapping, now: Mapping, on_now: bool, context: Mapping) -> dict:
    """Status and reasons of a line still open this week."""
    percent_before, percent_now = int(before["percent"]), int(now["percent"])
    counts = _changed_counts(before, now, context["labels"])
    record = bool(counts) or (
        clean_text(before.get(RECORD_FINGERPRINT)) != clean_text(now.get(RECORD_FINGERPRINT))
        and bool(clean_text(before.get(RECORD_FINGERPRINT)))
    )
    reasons = [f"the model changed ({context['model_change']})"] if context["model_change"] else []
    if record:
        shown = "; ".join(counts[:3]) + (f"; {len(counts) - 3} more" if len(counts) > 3 else "")
        reasons.append("record updated" + (f": {shown}" if counts else ""))
    moved = percent_now - percent_before
    if abs(moved) > context["unchanged_points"]:
        reasons.append(
            f"estimate {'fell' if moved < 0 else 'rose'} {percent_before}% \u2192 {percent_now}%"
        )
    referral_now = (
        (number(before.get(REFERRALS_COLUMN)) or 0) <= 0 < (number(now.get(REFERRALS_COLUMN)) or 0)
    )
    if on_now:
        status = "still"
    elif context["model_change"]:
        status = "model"
    elif referral_now and context["list"] == "protect":
        status = "referral"
    elif record:
        status = "record"
    elif moved < -context["unchanged_points"]:
        status = "fell"
    else:
        status = "outranked"
        reasons.append(f"its estimate ({percent_now}%) and harm unchanged")
    rank = f"priority {int(before['priority_rank']):,} \u2192 {int(now['priority_rank']):,}"
    return {"status": status, "reasons": [rank, *reasons]}


def _closed_fate(outcome: Mapping | None) -> dict:
    if outcome is None:
        return {"status": "closed", "reasons": []}
    words = outcome_words(
        bool(outcome["outcome"]),
        outcome.get("persistence_probability"),
        outcome.get("yardstick_band"),
        outcome.get("probability_low"),
        outcome.get("probability_high"),
    )
    week = clean_text(outcome.get("week"))
    return {
        "status": "outcome",
        "reasons": [words["text"] + (f" (estimate of week {week})" if week else "")],
        "kind": words["kind"],
    }


def fates(
    previous: pd.DataFrame,
    named: Sequence[int],
    rows: pd.DataFrame,
    on_now: set[int],
    outcomes: pd.DataFrame | None,
    context: Mapping[str, Any],
) -> list[dict]:
    """One entry per row index of ``previous`` in ``named`` (last week's list, in its order)."""
    ids = previous.loc[list(named), "disruption_id"].astype(str)
    now_index = rows.index[rows["disruption_id"].astype(str).isin(set(ids))]
    position = dict(zip(rows.loc[now_index, "disruption_id"].astype(str), now_index))
    known = {} if outcomes is None else outcomes.set_index("disruption_id").to_dict("index")
    out = []
    for j in named:
        before = previous.loc[j].to_dict()
        disruption = str(before["disruption_id"])
        if disruption in position:
            i = position[disruption]
            fate = _open_fate(before, rows.loc[i].to_dict(), i in on_now, context)
        else:
            fate = _closed_fate(known.get(disruption))
        line = clean_text(before["line_id"])
        out.append(
            {
                **fate,
                "status_words": dict(STATUSES)[fate["status"]],
                "line_id": line,
                "disruption_id": disruption,
                "before": f"priority {int(before['priority_rank']):,}, "
                f"{int(before['percent'])}%{_range_words(before)}",
                "decisions": context["decisions"].get(line, []),
            }
        )
    return out


def _range_words(row: Mapping[str, Any]) -> str:
    """ " (95–99%)": last week's plausible range beside its estimate; "" for a week without."""
    low, high = number(row.get("probability_low")), number(row.get("probability_high"))
    return "" if low is None or high is None else f" ({low * 100:.0f}\u2013{high * 100:.0f}%)"


def summary(entries: Sequence[Mapping], one: str, many: str | None = None) -> str:
    """ "Of last week's 10 shortlisted lines: 6 still on the list; 2 off: record updated; ..."."""
    if not entries:
        return ""
    counts = pd.Series([e["status"] for e in entries]).value_counts()
    parts = [f"{int(counts[key]):,} {words}" for key, words in STATUSES if key in counts.index]
    return f"Of last week's {plural(len(entries), one, many)}: " + "; ".join(parts) + "."


def harm_labels(policy: Mapping[str, Any]) -> dict[str, str]:
    """``harm_<component>`` -> its label, for the record's changed counts."""
    return {
        HARM_COMPONENT_PREFIX + str(c["name"]): clean_text(c.get("label_text") or c["name"])
        for c in (policy.get("components") or [])
        if isinstance(c, Mapping) and c.get("name")
    }


def model_change(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """ "line-resilience/3 → line-resilience/4" when the two weeks' models differ, else ""."""
    a, b = before.get("fingerprint") or {}, now.get("fingerprint") or {}
    if not a or not b or a == b:
        return ""
    return f"{clean_text(before.get('identity'))} \u2192 {clean_text(now.get('identity'))}"
