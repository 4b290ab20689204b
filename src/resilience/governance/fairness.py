"""Fairness: does the model run high or low for a group (area, line type, hub)?

For each group the toolkit measures **calibration in the large** (mean predicted minus observed
rate: positive = the model over-predicts persistence for that group) with its standard error, and
the **calibration slope** (1 = ideal). A group is flagged when

1. there is evidence of a gap: its interval excludes zero, where the interval is widened for the
   number of groups compared across *all* slices together (Bonferroni at ``family_level``,
   2.5% by default: half the promised 5%, a margin for the normal approximation in groups of a
   few hundred lines), so that on a model fair to every group the chance of flagging any group at
   all stays under 5%; and
2. the gap may be beyond ``tolerance``: the far end of that interval passes the tolerance. A gap
   the evidence pins inside the tolerance (a real but negligible difference in a large group) is
   reported, not flagged; a flagged gap's point estimate is always above half the tolerance.

Slices too small to say anything (``suppressed``) stay suppressed. The rule is checked by
simulation in ``tests/test_responsible.py``: no group effect gives at most a 5% family-wise false
flag rate; a planted 3-point gap in a group of a realistic size is flagged in most replications.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import norm

from resilience.learn.metrics import calibration_in_the_large, calibration_slope, slice_groups


def group_calibration(
    frame: pd.DataFrame, slice_columns: list[str], label: str, probability: str, min_size: int = 50
) -> pd.DataFrame:
    """One row per (slice column, value): rows, calibration gap with standard error, slope."""
    rows = []
    for row, y, p in slice_groups(frame, slice_columns, label, probability, min_size):
        if row["suppressed"]:
            rows.append(row)
            continue
        large = calibration_in_the_large(y, p)
        slope = calibration_slope(y, p)
        rows.append(
            {
                **row,
                "calibration_gap": large["gap"],
                "calibration_gap_se": large["se"],
                "observed_rate": large["observed_rate"],
                "mean_predicted": large["mean_predicted"],
                "calibration_slope": slope["slope"],
                "calibration_slope_se": slope["slope_se"],
            }
        )
    return pd.DataFrame(rows)


def fairness_flags(
    groups: pd.DataFrame, tolerance: float, family_level: float = 0.025
) -> list[dict]:
    """Each group's row with ``flag``: ``over-predicts`` / ``under-predicts`` / ``ok`` / ``suppressed``,
    the multiplicity-adjusted interval (``flag_interval_low``/``_high``) and ``beyond_tolerance``
    (the whole interval lies beyond the tolerance: the gap is confirmed, not only possible)."""
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in groups.to_dict("records")
    ]
    compared = [
        r for r in records if not r.get("suppressed") and r.get("calibration_gap_se") is not None
    ]
    z = float(norm.ppf(1 - family_level / (2 * max(len(compared), 1))))
    for row in records:
        if row.get("suppressed"):
            row["flag"] = "suppressed"
            continue
        gap, se = row.get("calibration_gap"), row.get("calibration_gap_se")
        if gap is None or se is None:
            row["flag"] = "ok"
            continue
        low, high = gap - z * se, gap + z * se
        row.update(
            {
                "flag_interval_low": low,
                "flag_interval_high": high,
                "flag_z": z,
                "tolerance": tolerance,
            }
        )
        if low > 0 and high > tolerance:
            row["flag"] = "over-predicts"
        elif high < 0 and low < -tolerance:
            row["flag"] = "under-predicts"
        else:
            row["flag"] = "ok"
        row["beyond_tolerance"] = bool(low > tolerance or high < -tolerance)
    return records


def plain_findings(flags: list[dict]) -> list[str]:
    """Sentences naming the groups whose estimates run high or low (for the card and the report)."""
    sentences = []
    for row in flags:
        if row.get("flag") not in ("over-predicts", "under-predicts"):
            continue
        direction = "high" if row["flag"] == "over-predicts" else "low"
        points = abs(row["calibration_gap"]) * 100
        sentences.append(
            f"Estimates run {direction} for {row['slice']} = {row['value']}: on average "
            f"{points:.1f} points {'above' if direction == 'high' else 'below'} what happened "
            f"({row['rows']} lines; predicted {row['mean_predicted']:.0%}, observed {row['observed_rate']:.0%})."
        )
    return sentences
