"""Fairness: does the model run high or low for a group (area, line type, hub), and what could the
check have seen?

For each group the toolkit measures **calibration in the large** (mean predicted minus observed
rate: positive = the model over-predicts persistence for that group) with its standard error, and
the **calibration slope** (1 = ideal). A group is flagged when

1. there is evidence of a gap: its interval excludes zero. The interval is widened for the groups
   compared (Bonferroni): the **pre-declared cohort** (the data config's ``cohort_column``, line
   type by default) is its own family, at ``cohort_level`` (2%) over its own values only, so the
   question asked before looking is not diluted by every area and hub; every other group shares
   ``family_level`` (2.5%). Together any false flag on a model fair to every group stays under 5%
   (3.8% of 600 simulated test periods of 9,000 lines; ``tests/test_responsible.py``); and
2. the gap may be beyond ``tolerance``: the far end of that interval passes the tolerance. A gap
   the evidence pins inside the tolerance (a real but negligible difference in a large group) is
   reported, not flagged.

**Each set of lines once.** Two groups holding exactly the same lines (home-grown lines and lines
from origin hub "local") are one group: it is tested once, under its first name, and the other
row says whose lines it holds (``same_lines_as``), so it neither counts twice in the Bonferroni
correction nor reports the same finding twice.

**What it could have seen.** Beside every result stands the smallest gap it detects with 80%
power (``detectable_gap``): with ``se`` the group's standard error and ``z`` its flag's critical
value, a gap ``g`` is flagged when the estimate passes ``max(z se, tolerance - z se)``, so

    detectable_gap = max(z se, tolerance - z se) + Phi^-1(0.8) se.

With the group's estimates at hand the standard error is taken at that gap (:func:`detectable_gap`:
a small group's gap is large, and the spread of its outcomes changes with it). It is verified per
group by simulation (:func:`simulated_detectable_gap`: outcomes drawn from the group's own
estimates shifted by a planted gap, the flag rule applied, the planted gap found at which 80% of
draws are flagged) and recorded beside it (``detectable_gap_simulated``): within 1 point for
groups from 100 to 10,000 lines (``tests/test_responsible.py``).
Slices too small to say anything (``suppressed``) stay suppressed.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from resilience.learn.metrics import calibration_in_the_large, calibration_slope, slice_groups

POWER = 0.8  # the power at which the detectable gap is stated
FLAGGED = ("over-predicts", "under-predicts")
SAME_LINES = "same lines"  # the flag of a group whose lines another group holds


def _members(frame: pd.DataFrame, column: str) -> dict[str, str]:
    """Per value of ``column``: a digest of the positions of its rows (equal digests: same lines)."""
    positions = frame.reset_index(drop=True).groupby(column, observed=True, sort=True).indices
    return {
        str(value): hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()
        for value, rows in positions.items()
    }


def group_calibration(
    frame: pd.DataFrame, slice_columns: list[str], label: str, probability: str, min_size: int = 50
) -> pd.DataFrame:
    """One row per (slice column, value): rows, calibration gap with standard error, slope; a group
    holding exactly the lines of an earlier one carries ``same_lines_as`` instead of numbers."""
    seen: dict[str, str] = {}
    members = {column: _members(frame, column) for column in slice_columns}
    rows = []
    for row, y, p in slice_groups(frame, slice_columns, label, probability, min_size):
        digest = members[row["slice"]].get(row["value"])
        if digest in seen:
            rows.append({**row, "same_lines_as": seen[digest]})
            continue
        seen[digest] = f"{row['slice']} = {row['value']}"
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


def minimum_detectable_gap(se: float, z: float, tolerance: float, power: float = POWER) -> float:
    """The smallest gap flagged with probability ``power`` (normal approximation, see the module
    docstring)."""
    return float(max(z * se, tolerance - z * se) + norm.ppf(power) * se)


def detectable_gap(
    probability: np.ndarray, z: float, tolerance: float, power: float = POWER
) -> float:
    """:func:`minimum_detectable_gap` with the standard error the check would see at that gap
    (outcomes at the estimates plus the gap: ``sqrt(mean(q (1 - q)) / n)``), solved by iteration;
    for a small group the gap is large and its own outcomes' spread matters."""
    p = np.asarray(probability, float)
    if len(p) < 2:
        return float("nan")
    gap = 0.0
    for _ in range(20):
        q = np.clip(p + gap, 0, 1)
        se = float(np.sqrt(np.mean(q * (1 - q)) / len(p)))
        gap, previous = minimum_detectable_gap(se, z, tolerance, power), gap
        if abs(gap - previous) < 1e-6:
            break
    return gap


def _critical_values(
    records: list[dict], cohort: str | None, family_level: float, cohort_level: float
) -> dict[str, tuple[float, str]]:
    """Per family of compared groups: (z, the family's name in words)."""
    compared = [
        r
        for r in records
        if not r.get("suppressed")
        and not r.get("same_lines_as")
        and r.get("calibration_gap_se") is not None
    ]
    in_cohort = sum(r["slice"] == cohort for r in compared) if cohort else 0
    others = len(compared) - in_cohort
    families = {
        "others": (
            float(norm.ppf(1 - family_level / (2 * max(others, 1)))),
            f"{'every other group' if cohort else 'every group'} (Bonferroni at "
            f"{family_level:g} over {others} groups)",
        )
    }
    if cohort:
        families["cohort"] = (
            float(norm.ppf(1 - cohort_level / (2 * max(in_cohort, 1)))),
            f"the pre-declared cohort, {cohort} (Bonferroni at {cohort_level:g} over its "
            f"{in_cohort} values)",
        )
    return families


def _flag(row: dict, z: float, tolerance: float) -> None:
    """The flag of one compared group, its adjusted interval and the gap it could detect."""
    gap, se = row.get("calibration_gap"), row.get("calibration_gap_se")
    if gap is None or se is None:
        row["flag"] = "ok"
        return
    low, high = gap - z * se, gap + z * se
    row.update(
        flag_interval_low=low,
        flag_interval_high=high,
        flag_z=z,
        tolerance=tolerance,
        detectable_gap=minimum_detectable_gap(se, z, tolerance),
        beyond_tolerance=bool(low > tolerance or high < -tolerance),
    )
    if low > 0 and high > tolerance:
        row["flag"] = "over-predicts"
    elif high < 0 and low < -tolerance:
        row["flag"] = "under-predicts"
    else:
        row["flag"] = "ok"


def fairness_flags(
    groups: pd.DataFrame,
    tolerance: float,
    family_level: float = 0.025,
    cohort: str | None = None,
    cohort_level: float = 0.02,
) -> list[dict]:
    """Each group's row with ``flag``: ``over-predicts`` / ``under-predicts`` / ``ok`` /
    ``suppressed`` / ``same lines``, the multiplicity-adjusted interval the flag uses
    (``flag_interval_low``/``_high``, ``flag_z``, ``flag_family``), ``beyond_tolerance`` (the whole
    interval lies beyond the tolerance) and ``detectable_gap`` (80% power). ``cohort``: the
    pre-declared cohort column, tested as its own family (None: every group in one family)."""
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in groups.to_dict("records")
    ]
    critical = _critical_values(records, cohort, family_level, cohort_level)
    for row in records:
        if row.get("same_lines_as"):
            row["flag"] = SAME_LINES
        elif row.get("suppressed"):
            row["flag"] = "suppressed"
        else:
            z, family = critical["cohort" if cohort and row["slice"] == cohort else "others"]
            row["flag_family"] = family
            _flag(row, z, tolerance)
    return records


def simulated_detectable_gap(
    probability: np.ndarray,
    z: float,
    tolerance: float,
    rng: np.random.Generator,
    power: float = POWER,
    replications: int = 200,
) -> float:
    """The planted under-prediction flagged in ``power`` of simulated test periods: outcomes drawn
    from the group's own estimates plus the gap (common random numbers across gaps, so the rate
    rises with the gap), the flag rule applied to each draw, the gap found by bisection."""
    p = np.asarray(probability, float)
    n = len(p)
    if n < 2:
        return float("nan")
    uniform = rng.random((replications, n))

    def flagged_share(gap: float) -> float:
        difference = p - (uniform < np.clip(p + gap, 0, 1))
        estimate = difference.mean(axis=1)
        se = difference.std(axis=1, ddof=1) / np.sqrt(n)
        return float(np.mean((estimate + z * se < 0) & (estimate - z * se < -tolerance)))

    low, high = 0.0, 0.5
    if flagged_share(high) < power:
        return float("nan")  # not even a 50-point gap: nothing this group can show
    for _ in range(12):  # to about 0.01 points
        middle = (low + high) / 2
        low, high = (middle, high) if flagged_share(middle) < power else (low, middle)
    return float(high)


def verify_detectable_gaps(
    records: list[dict],
    frame: pd.DataFrame,
    label: str,
    probability: str,
    min_size: int = 50,
    seed: int = 0,
) -> list[dict]:
    """``records`` (from :func:`fairness_flags`) with each ``detectable_gap`` computed at the gap
    itself (:func:`detectable_gap`) and ``detectable_gap_simulated`` beside it, simulated from the
    group's own estimates in ``frame``."""
    rng = np.random.default_rng(seed)
    by_key = {(r["slice"], r["value"]): r for r in records if r.get("detectable_gap") is not None}
    columns = sorted({slice_ for slice_, _ in by_key})
    for row, _, p in slice_groups(frame, columns, label, probability, min_size):
        record = by_key.get((row["slice"], row["value"]))
        if record is not None:
            z, tolerance = record["flag_z"], record["tolerance"]
            record["detectable_gap"] = detectable_gap(p, z, tolerance)
            record["detectable_gap_simulated"] = simulated_detectable_gap(p, z, tolerance, rng)
    return records


def plain_findings(flags: list[dict]) -> list[str]:
    """Sentences naming the groups whose estimates run high or low, with the interval the flag used
    (for the card and the report)."""
    sentences = []
    for row in flags:
        if row.get("flag") not in FLAGGED:
            continue
        direction = "high" if row["flag"] == "over-predicts" else "low"
        points = abs(row["calibration_gap"]) * 100
        interval = ""
        if row.get("flag_interval_low") is not None:
            interval = (
                f"; adjusted interval {row['flag_interval_low'] * 100:+.1f} to "
                f"{row['flag_interval_high'] * 100:+.1f} points"
            )
        sentences.append(
            f"Estimates run {direction} for {row['slice']} = {row['value']}: on average "
            f"{points:.1f} points {'above' if direction == 'high' else 'below'} what happened "
            f"({row['rows']} lines; predicted {row['mean_predicted']:.0%}, observed "
            f"{row['observed_rate']:.0%}{interval})."
        )
    return sentences


def flagged_groups(flags: list[dict]) -> list[str]:
    """``slice = value`` of every flagged group (what blocks an automatic promotion)."""
    return [f"{r['slice']} = {r['value']}" for r in flags if r.get("flag") in FLAGGED]
