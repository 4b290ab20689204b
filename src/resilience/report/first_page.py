"""Page 1: the shortlist (priority = likelihood x harm, sized to the weekly capacity), the protect
list (independent of rank), the likelihood x harm matrix, and the harm policy in force.

Everything here reads the harm policy recorded in the week's manifest (never today's config), so a
report rebuilt later prints the weights that actually ranked the week.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from resilience.core.week_files import HARM_COMPONENT_PREFIX
from resilience.core.yardstick import BAND_NAMES, place
from resilience.report.charts import matrix_chart
from resilience.report.words import band_range, clean_text, number, plural
from resilience.weekly.priority import REFERRALS_COLUMN

HARM_BANDS = (("low", 0.0), ("moderate", 20.0), ("high", 40.0), ("very high", 60.0))
LIKELY_BANDS = ("likely", "highly likely", "almost certain")


def policy_components(policy: Mapping[str, Any]) -> list[dict]:
    return [c for c in (policy.get("components") or []) if isinstance(c, Mapping) and c.get("name")]


def harm_words(
    row: Mapping[str, Any], policy: Mapping[str, Any], only: Sequence[str] | None = None
) -> list[str]:
    """The harm components recorded for a line, largest weight first: "Exploited children: 2"
    (``only``: just these components, e.g. those that count exploited people)."""
    words = []
    chosen = [c for c in policy_components(policy) if only is None or c["name"] in only]
    for component in sorted(chosen, key=lambda c: -float(c.get("weight") or 0)):
        value = number(row.get(HARM_COMPONENT_PREFIX + str(component["name"])))
        if not value:
            continue
        label = clean_text(component.get("label_text") or component["name"])
        words.append(label if component.get("kind") == "flag" else f"{label}: {value:,.0f}")
    return words


def uncertainty_words(row: Mapping[str, Any]) -> str:
    """ "plausible range 48-66%; 81% chance it is likely or more" from the optional interval and
    draw columns; "" when absent. (Whether the range spans two bands, ``band_uncertain``, is true of
    most lines, so it is kept in the outputs but not said.)"""
    low, high = number(row.get("probability_low")), number(row.get("probability_high"))
    if low is None or high is None:
        return ""
    text = f"plausible range {low * 100:.0f}\u2013{high * 100:.0f}%"
    likely = number(row.get("likely_or_more_chance"))
    if likely is not None:
        text += f"; {likely * 100:.0f}% chance it is likely or more"
    return text


# -- issue 21: what the ranges mean for the shortlist (the week's joint draws) -------------------
def draw_words(row: Mapping[str, Any]) -> str:
    """ "on the list in 98% of reruns" from ``on_shortlist_share``; "" for a week without draws."""
    share = number(row.get("on_shortlist_share"))
    return "" if share is None else f"on the list in {share * 100:.0f}% of reruns"


def shortlist_split(lines: Sequence[Mapping[str, Any]], draws: Mapping[str, Any] | None) -> dict:
    """The shortlist split by how sure its places are: lines on the list in nearly every joint draw
    of the week's ranges, and lines on it at their best estimate; a sentence for page 1. Empty for
    a week scored without joint draws."""
    if not draws:
        return {"sentence": "", "nearly_every": [], "best_estimate": []}
    sure = [line for line in lines if line.get("shortlist_group") == "in nearly every draw"]
    rest = [line for line in lines if line not in sure]
    shares = [number(line.get("on_shortlist_share")) or 0.0 for line in rest]
    nearly = float(number(draws.get("nearly_every")) or 0.9) * 100
    runs = int(number(draws.get("draws")) or 0)
    sentence = (
        f"{plural(len(sure), 'line')} {'stays' if len(sure) == 1 else 'stay'} on the list in at "
        f"least {nearly:.0f}% of {runs:,} reruns of the week with every estimate varied within "
        "its plausible range"
    )
    if rest:
        sentence += (
            f"; {plural(len(rest), 'line')} {'is' if len(rest) == 1 else 'are'} on it at "
            f"{'its' if len(rest) == 1 else 'their'} best estimate but in only "
            f"{min(shares) * 100:.0f}\u2013{max(shares) * 100:.0f}% of reruns: close calls a "
            "person may weigh against lines just below"
        )
    return {
        "nearly_every": [line["line_id"] for line in sure],
        "best_estimate": [line["line_id"] for line in rest],
        "sentence": sentence + ".",
    }


def fairness_notice(model: Mapping[str, Any], flagged: Sequence[Mapping[str, Any]] = ()) -> str:
    """Page 1's warning when the model scoring the week is flagged by the fairness check: which
    lines and which way, in the trust section's words (``flagged``: its flagged rows), never the
    check's ``column = value``."""
    if not model.get("fairness_flags"):
        return ""
    said = [str(f["sentence"]) for f in flagged if f.get("sentence")]
    # each sentence starts a list item in the trust section; here they follow a colon
    which = (
        f": {'; '.join(s[:1].lower() + s[1:] for s in said)}"
        if said
        else " for some groups of lines"
    )
    return (
        f"When it was tested, the model's estimates were clearly off{which}. "
        "Weigh its estimates for those lines with that in mind."
    )


def protect_list(rows: pd.DataFrame, policy: Mapping[str, Any], limit: int) -> dict:
    """Lines whose extract records exploited people, bounded to ``limit``: the most exploited children
    first (the statutory safeguarding duty), then those with no safeguarding referral recorded, then
    the most exploited people, then priority. Every such line is counted."""
    protect = policy.get("protect") or {}
    exploited = [HARM_COMPONENT_PREFIX + str(n) for n in (protect.get("exploited") or [])]
    exploited = [c for c in exploited if c in rows.columns]
    if not exploited:
        return {"available": False, "rows": [], "total": 0, "no_referral": 0}
    children_col = (
        HARM_COMPONENT_PREFIX + str(protect.get("children")) if protect.get("children") else None
    )
    people = rows[exploited].sum(axis=1)
    children = (
        rows[children_col] if children_col in rows.columns else pd.Series(0.0, index=rows.index)
    )
    referrals = (
        rows[REFERRALS_COLUMN]
        if REFERRALS_COLUMN in rows.columns
        else pd.Series(np.nan, index=rows.index)
    )
    chosen = rows.index[people.to_numpy() > 0]
    frame = pd.DataFrame(
        {
            "people": people[chosen],
            "children": children[chosen],
            "no_referral": (referrals[chosen].fillna(0) <= 0),
            "priority_rank": rows.loc[chosen, "priority_rank"],
        }
    )
    frame = frame.sort_values(
        ["children", "no_referral", "people", "priority_rank"],
        ascending=[False, False, False, True],
        kind="stable",
    )
    labels = {
        HARM_COMPONENT_PREFIX + str(c["name"]): clean_text(c.get("label_text") or c["name"])
        for c in policy_components(policy)
    }
    kinds = [
        {"label": labels.get(c, c), "people": int(rows[c].sum()), "lines": int((rows[c] > 0).sum())}
        for c in exploited
    ]
    result = {
        "available": True,
        "order": list(frame.index[:limit]),
        "total": int(len(frame)),
        "no_referral": int(frame["no_referral"].sum()),
        "referrals_known": REFERRALS_COLUMN in rows.columns,
        "children_total": int(children.sum()),
        "people_total": int(people.sum()),
        "kinds": kinds,
    }
    return {**result, "sentence": protect_sentence(result)}


def protect_sentence(protect: Mapping[str, Any]) -> str:
    """Page 1's protect headline: "12 lines record exploited people (9 exploited children, 4
    exploited vulnerable adults); 5 of these lines have no safeguarding referral recorded"."""
    total = int(protect.get("total") or 0)
    if not total:
        return "No line scored this week records exploited people."
    kinds = [
        f"{k['people']:,} {k['label'][:1].lower()}{k['label'][1:]}"
        for k in protect.get("kinds", [])
        if k["people"]
    ]
    text = f"{plural(total, 'line')} record{'s' if total == 1 else ''} exploited people"
    text += f" ({', '.join(kinds)})" if kinds else ""
    if protect.get("referrals_known"):
        n = int(protect.get("no_referral") or 0)
        text += (
            f"; {n:,} of them {'has' if n == 1 else 'have'} no safeguarding referral recorded"
            if n
            else "; each has a safeguarding referral recorded"
        )
    return text + "."


def harm_band_index(harm: np.ndarray) -> np.ndarray:
    thresholds = np.array([t for _, t in HARM_BANDS[1:]])
    return np.searchsorted(thresholds, np.nan_to_num(harm, nan=0.0), side="right")


def matrix(rows: pd.DataFrame) -> dict | None:
    """Counts of lines per (likelihood band, harm band), with its chart and data table."""
    if "harm_index" not in rows.columns or rows["harm_index"].isna().all():
        return None
    x = pd.Categorical(rows["band"], categories=BAND_NAMES).codes
    y = harm_band_index(rows["harm_index"].to_numpy(dtype=float))
    counts = np.zeros((len(HARM_BANDS), len(BAND_NAMES)), dtype=int)
    np.add.at(counts, (y, x), 1)
    cells = [
        {
            "x": i,
            "y": j,
            "count": int(counts[j, i]),
            "urgent": BAND_NAMES[i] in LIKELY_BANDS and j >= 2,
        }
        for j in range(len(HARM_BANDS))
        for i in range(len(BAND_NAMES))
    ]
    short = [band_range(name) for name in BAND_NAMES]
    harm_labels = [harm_band_label(j) for j in range(len(HARM_BANDS))]
    chart = matrix_chart(cells, short, harm_labels, "chart-matrix")
    chart["aria_label"] = (
        "Likelihood and harm matrix: lines counted by yardstick band (across) and harm band (up). "
        + "; ".join(
            f"{harm_labels[j]}: "
            + ", ".join(f"{BAND_NAMES[i]} {counts[j, i]:,}" for i in range(len(BAND_NAMES)))
            for j in reversed(range(len(HARM_BANDS)))
        )
        + "."
    )
    table = [
        {"harm": harm_labels[j], "counts": [int(c) for c in counts[j]]}
        for j in reversed(range(len(HARM_BANDS)))
    ]
    urgent = int(sum(c["count"] for c in cells if c["urgent"]))
    return {
        "chart": chart,
        "table": table,
        "band_names": list(BAND_NAMES),
        "band_ranges": short,
        "urgent": urgent,
    }


def harm_band_label(j: int) -> str:
    name, low = HARM_BANDS[j]
    high = HARM_BANDS[j + 1][1] if j + 1 < len(HARM_BANDS) else None
    return (
        f"{name.capitalize()} harm ({low:.0f}\u2013{high:.0f})"
        if high is not None
        else f"{name.capitalize()} harm ({low:.0f}+)"
    )


def policy_table(policy: Mapping[str, Any]) -> dict | None:
    """The harm weights in force, as recorded in the manifest, for the report to print."""
    components = policy_components(policy)
    if not components:
        return None
    rows = [
        {
            "label": clean_text(c.get("label_text") or c["name"]),
            "column": clean_text(c.get("column")),
            "weight": f"{float(c.get('weight') or 0):g}",
            "rule": (
                "1 if recorded, else 0"
                if c.get("kind") == "flag"
                else f"share of {float(c.get('cap') or 1):g} reached (capped)"
            ),
            "why": clean_text(c.get("why")),
        }
        for c in components
    ]
    return {
        "name": clean_text(policy.get("name")),
        "rows": rows,
        "floor": f"{float(number(policy.get('harm_floor')) or 0):g}",
        "formula": clean_text(policy.get("formula")),
    }


def line_words(row: Mapping[str, Any]) -> dict:
    """The likelihood in words: in full ("words", "range": the plausible range and the chance of
    "likely or more") and compact
    for page 1: the band with its plausible range, "likely (55-78%)", and the best estimate beside it."""
    placement = place(float(row["persistence_probability"]))
    low, high = number(row.get("probability_low")), number(row.get("probability_high"))
    compact, compact_range, estimate = f"{placement.band} ({placement.percent}%)", "", ""
    if low is not None and high is not None:
        compact, compact_range = placement.band, f"({low * 100:.0f}\u2013{high * 100:.0f}%)"
        estimate = f"best estimate {placement.percent}%"
    return {
        "words": placement.words,
        "band": placement.band,
        "percent": placement.percent,
        "range": uncertainty_words(row),
        "compact": compact,
        "compact_range": compact_range,
        "estimate": estimate,
        # issue 21: the line's share of the week's joint draws on the shortlist
        "on_list": draw_words(row),
        "on_shortlist_share": number(row.get("on_shortlist_share")),
        "shortlist_group": clean_text(row.get("shortlist_group")),
    }


def shortlist_sentence(capacity: int, total: int, has_policy: bool) -> str:
    shown = min(capacity, total)
    if has_policy:
        return (
            f"The {plural(shown, 'line')} to consider first this week (weekly capacity {capacity}), by priority: "
            "likelihood of persisting multiplied by harm."
        )
    return (
        f"The {plural(shown, 'line')} most likely to persist (weekly capacity {capacity}). No harm policy was "
        "recorded for this week, so priority is likelihood alone."
    )
