"""The protect list: every exploited person without a safeguarding referral called out.

Exploited children and vulnerable adults are victims; a referral is a duty whatever the line's rank.
Lines whose record holds exploited people (the harm policy's ``protect.exploited`` components) are
ordered

1. children recorded and no safeguarding referral recorded;
2. then vulnerable adults (any other exploited people) recorded and no referral recorded;
3. then the rest, the most exploited people first;

and within each group most children first, then the highest priority, then the oldest record (the
earliest disruption, whose referral has been outstanding longest). The briefing names the first
``limit`` lines and says how many more there are; the annex lists every one, with a filter for the
first two groups. A week whose harm policy names no referral columns cannot tell referred from
unreferred, and says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from resilience.core.week_files import HARM_COMPONENT_PREFIX
from resilience.report.words import clean_text, plural
from resilience.weekly.priority import REFERRALS_COLUMN

UNREFERRED_CHILDREN, UNREFERRED_ADULTS, REFERRED = 1, 2, 3
GROUP_WORDS = {
    UNREFERRED_CHILDREN: "children, no referral recorded",
    UNREFERRED_ADULTS: "vulnerable adults, no referral recorded",
    REFERRED: "referral recorded",
}


def protect_columns(policy: Mapping[str, Any], names: Collection[str]) -> dict[str, Any]:
    """The week's columns of exploited people (of ``names``, the columns it has): all of them, the
    children's, their labels, and whether referrals are recorded."""
    protect = policy.get("protect") or {}
    exploited = [HARM_COMPONENT_PREFIX + str(n) for n in (protect.get("exploited") or [])]
    exploited = [c for c in exploited if c in names]
    children = HARM_COMPONENT_PREFIX + str(protect.get("children") or "")
    labels = {
        HARM_COMPONENT_PREFIX + str(c["name"]): clean_text(c.get("label_text") or c["name"])
        for c in (policy.get("components") or [])
        if isinstance(c, Mapping) and c.get("name")
    }
    return {
        "exploited": exploited,
        "children": children if children in exploited else None,
        "labels": labels,
        "referrals_known": REFERRALS_COLUMN in names,
    }


def protect_frame(rows: pd.DataFrame, policy: Mapping[str, Any]) -> pd.DataFrame:
    """One row per line recording exploited people, in protect order: ``group`` (1-3),
    ``children``, ``adults`` (every other exploited person), ``people``, ``referrals`` (NaN when
    not recorded by the policy), ``priority_rank`` and ``disruption_date``; index = row of ``rows``."""
    cols = protect_columns(policy, rows.columns)
    if not cols["exploited"]:
        return pd.DataFrame(columns=["group", "children", "adults", "people", "referrals"])
    people = rows[cols["exploited"]].astype(float).sum(axis=1)
    children = rows[cols["children"]].astype(float) if cols["children"] else people * 0.0
    referrals = (
        rows[REFERRALS_COLUMN].astype(float)
        if cols["referrals_known"]
        else pd.Series(np.nan, index=rows.index)
    )
    chosen = people.to_numpy() > 0
    frame = pd.DataFrame(
        {
            "children": children[chosen],
            "adults": (people - children)[chosen],
            "people": people[chosen],
            "referrals": referrals[chosen],
            "priority_rank": rows.loc[chosen, "priority_rank"].astype(np.int64),
            "disruption_date": rows.loc[chosen, "disruption_date"].astype(str)
            if "disruption_date" in rows.columns
            else "",
        }
    )
    unreferred = frame["referrals"].fillna(1).to_numpy() <= 0  # not recorded by policy: unknown
    frame["group"] = np.where(
        unreferred & (frame["children"].to_numpy() > 0),
        UNREFERRED_CHILDREN,
        np.where(unreferred, UNREFERRED_ADULTS, REFERRED),
    )
    return frame.sort_values(
        ["group", "children", "priority_rank", "disruption_date"],
        ascending=[True, False, True, True],
        kind="stable",
    )


def protect_list(rows: pd.DataFrame, policy: Mapping[str, Any], limit: int) -> dict:
    """The protect list's counts and the row indexes it names (at most ``limit``), with page 1's
    sentence. Every line recording exploited people is counted; the unreferred come first."""
    cols = protect_columns(policy, rows.columns)
    if not cols["exploited"]:
        return {"available": False, "order": [], "total": 0, "no_referral": 0}
    frame = protect_frame(rows, policy)
    unreferred = frame[frame["group"] != REFERRED]
    kinds = [
        {
            "label": cols["labels"].get(c, c),
            "people": int(rows[c].sum()),
            "lines": int((rows[c] > 0).sum()),
            "unreferred_people": int(rows.loc[unreferred.index, c].sum()),
        }
        for c in cols["exploited"]
    ]
    named = list(frame.index[: max(int(limit), 0)])
    result = {
        "available": True,
        "order": named,
        "groups": {int(i): int(g) for i, g in frame["group"].items() if i in set(named)},
        "total": int(len(frame)),
        "no_referral": int(len(unreferred)),
        "no_referral_children": int((frame["group"] == UNREFERRED_CHILDREN).sum()),
        "unreferred_people": int(unreferred["people"].sum()),
        "unreferred_named": int(sum(1 for i in named if i in unreferred.index)),
        "more_unreferred": int(len(unreferred) - sum(1 for i in named if i in unreferred.index)),
        "referrals_known": cols["referrals_known"],
        "children_total": int(frame["children"].sum()),
        "people_total": int(frame["people"].sum()),
        "kinds": kinds,
        "limit": int(limit),
    }
    return {**result, "sentence": protect_sentence(result)}


def _kinds_text(kinds: list[dict], key: str) -> str:
    parts = [f"{k[key]:,} {k['label'][:1].lower()}{k['label'][1:]}" for k in kinds if k[key]]
    return ", ".join(parts)


def protect_sentence(protect: Mapping[str, Any]) -> str:
    """Page 1's words: "1,069 lines record exploited people with no safeguarding referral recorded
    (1,523 exploited children, 412 exploited vulnerable adults); 2,310 lines record exploited
    people in all"."""
    total = int(protect.get("total") or 0)
    if not total:
        return "No line scored this week records exploited people."
    kinds = protect.get("kinds", [])
    if not protect.get("referrals_known"):
        text = f"{plural(total, 'line')} record{'s' if total == 1 else ''} exploited people"
        people = _kinds_text(kinds, "people")
        return (
            text + (f" ({people})" if people else "") + "; this week's harm policy records no "
            "safeguarding referrals, so lines without one cannot be told apart."
        )
    n = int(protect.get("no_referral") or 0)
    if not n:
        return f"{plural(total, 'line')} record exploited people; each has a safeguarding referral recorded."
    people = _kinds_text(kinds, "unreferred_people")
    return (
        f"{plural(n, 'line')} record{'s' if n == 1 else ''} exploited people with no safeguarding "
        f"referral recorded" + (f" ({people})" if people else "") + f"; {plural(total, 'line')} "
        "record exploited people in all."
    )
