"""Plain-English sentences of the review: associations under stated assumptions, never proof.

Every sentence says what was compared with what ("lines given X were ... than comparable lines
without it"), the range, and whether the analysis calls the figure fragile. None says a tactic
causes, drives or stops anything; a test checks them against the list of causal words.
"""

from __future__ import annotations

import math

ASSUMPTIONS = (
    "No unrecorded reason why police chose a tactic also bears on whether the line persisted: "
    "everything that steered the choice and matters for persistence is in the record adjusted for "
    "(the line as it stood at the disruption and the tactics before this one).",
    "Enough comparable lines: for every disruption kept, lines like it were seen both with and "
    "without the tactic. Disruptions without such lines are trimmed and counted, and the figures "
    "are about the disruptions that remain.",
    "One disruption's tactics do not change another disruption's outcome (a line's group may still "
    "adapt: see the group context).",
    "The record is accurate: a tactic recorded as not given was not given.",
)
STANDING = (
    "These figures are evidence about associations under the assumptions above, not proof that a "
    "tactic works or does not. They are decision support for a review of practice; a person decides."
)


def signed(points: float, decimals: int = 1) -> str:
    """+3.2 / −1.0 / 0.0, with a real minus sign."""
    if points is None or not math.isfinite(points):
        return "—"
    rounded = round(points, decimals)
    if rounded == 0:
        return f"{0:.{decimals}f}"
    return ("+" if rounded > 0 else "\u2212") + f"{abs(rounded):.{decimals}f}"


def finding(row: dict) -> str:
    """One sentence for one tactic and cohort."""
    if row.get("note"):
        return f"{row['label'][:1].upper() + row['label'][1:]}: not estimated ({row['note']})."
    low, high = row["ci_low_points"], row["ci_high_points"]
    interval = f"95% interval {signed(low)} to {signed(high)} points"
    label = row["label"][:1].upper() + row["label"][1:]
    tail = f"({interval}; naive comparison {signed(row['naive_points'])})."
    if low > 0 or high < 0:
        size = f"{abs(row['estimate_points']):.1f} points {'more' if low > 0 else 'less'} likely"
        sentence = (
            f"{label}: disruptions given it were {size} to persist than comparable disruptions "
            f"without it {tail}"
        )
    else:
        sentence = (
            f"{label}: no clear difference in persisting between disruptions given it and comparable "
            f"disruptions without it ({signed(row['estimate_points'])} points; {tail[1:]}"
        )
    return sentence + fragility(row)


def fragility(row: dict) -> str:
    """What the sensitivity analysis says about one estimate, in a clause."""
    if row.get("fragile") is None or (
        isinstance(row["fragile"], float) and math.isnan(row["fragile"])
    ):
        return " Fragility not judged: too few lines disrupted more than once to gauge an unrecorded line character."
    if row["fragile"]:
        return (
            f" Fragile: an unrecorded line character as strong as the record suggests could move it by "
            f"{row['shift_points']:.1f} points, more than its interval allows for chance."
        )
    return " Not fragile to an unrecorded line character of the strength the record suggests."
