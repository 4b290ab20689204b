"""How strong an unrecorded confounder would have to be, and how strong the data suggest one is.

Three figures per estimate, each answering "could something unrecorded explain this away?":

* **Robustness value** (DoubleML's sensitivity analysis; Chernozhukov, Cinelli, Newey, Sharma
  & Syrgkanis 2022, "Long story short: omitted variable bias in causal machine learning"): the
  share of the residual variation of *both* persistence and the choice of tactic that an
  unrecorded confounder would have to explain to bring the estimate to zero. Small is fragile.
* **E-value** (VanderWeele & Ding 2017): the risk ratio, with both the tactic and persistence,
  that a confounder would need to move the estimated risk ratio (chance of persisting with the
  tactic over without it, from the doubly robust means) to 1. ``e_value`` is the point
  estimate's; ``e_value_ci`` the interval limit nearest to no effect (1 when it includes none).
* **The line's unrecorded character, gauged.** A line disrupted more than once carries the same
  unrecorded character into each disruption. If police choose tactics partly on it, the choice's
  residuals (given minus propensity) of a line's consecutive disruptions correlate. That
  correlation is the *line trace*; pooled over a cohort's tactics (pair-weighted, clipped at 0)
  it gauges an unrecorded line-level influence on the choices. The analysis asks DoubleML how far a confounder of that
  strength on the choice *and* on persistence (``cf_d = cf_y = trace``, ``rho = 1``, the worst
  case) could move the estimate. Persistence itself cannot be gauged this way: a line is
  disrupted again mostly because it persisted, so its outcomes' correlation is selection, not
  character; the symmetric strength is an assumption, stated in the report.

**Fragile** when the gauged confounder could move the estimate by more than its own 95% interval's
half-width (confounding, not chance, would then dominate what we do not know). Limits: a character
that changes between a line's disruptions, or lines disrupted once, leave no trace; with fewer
than ``min_pairs`` consecutive pairs the gauge is not computed and fragility is not judged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resilience.tactics.estimate import Estimate, Fitted

MAX_TRACE = 0.5  # beyond this the bound is meaningless (cf_d / (1 - cf_d) explodes)


@dataclass(frozen=True)
class Sensitivity:
    """The sensitivity figures of one estimate (points where a shift)."""

    robustness_value: float
    e_value: float
    e_value_ci: float
    line_trace: float | None
    line_pairs: int
    gauge: float | None  # the cohort's pooled line trace: the strength the bounds assume
    shift_points: float | None
    fragile: bool | None


def e_value(risk_ratio: float) -> float:
    """VanderWeele & Ding's E-value of a risk ratio (either side of 1)."""
    if not np.isfinite(risk_ratio) or risk_ratio <= 0:
        return float("inf")
    ratio = risk_ratio if risk_ratio >= 1 else 1 / risk_ratio
    return float(ratio + np.sqrt(ratio * (ratio - 1)))


def _risk_ratio(untreated_mean: float, effect_points: float) -> float:
    return (untreated_mean + effect_points / 100) / untreated_mean if untreated_mean > 0 else np.inf


def e_values(estimate: Estimate) -> tuple[float, float]:
    """The E-value of the point estimate and of the interval limit nearest to no effect."""
    point = e_value(_risk_ratio(estimate.untreated_mean, estimate.estimate_points))
    if estimate.ci_low_points <= 0 <= estimate.ci_high_points:
        return point, 1.0
    nearest = min(estimate.ci_low_points, estimate.ci_high_points, key=abs)
    return point, e_value(_risk_ratio(estimate.untreated_mean, nearest))


def line_trace(fitted: Fitted, dates: np.ndarray) -> tuple[float | None, int]:
    """Correlation of the choice's residuals between consecutive disruptions of the same line."""
    kept = fitted.kept
    frame = pd.DataFrame(
        {
            "line": fitted.lines[kept],
            "date": dates[kept],
            "residual": fitted.treated[kept].astype(float) - fitted.propensity[kept],
        }
    ).sort_values(["line", "date"], kind="mergesort")
    following = frame.groupby("line", sort=False)["residual"].shift(-1)
    pairs = frame.assign(following=following).dropna(subset=["following"])
    if len(pairs) < 3 or pairs["residual"].std() == 0 or pairs["following"].std() == 0:
        return None, len(pairs)
    return float(np.corrcoef(pairs["residual"], pairs["following"])[0, 1]), len(pairs)


def pooled_trace(traces: list[tuple[float | None, int]], min_pairs: int) -> float | None:
    """The line trace of a cohort: the pair-weighted mean over its tactics with enough pairs.

    One unrecorded character of a line would steer every choice made about it, so the tactics'
    traces are pooled (each alone is noisy: about 0.05 either way at a few hundred pairs).
    """
    usable = [(trace, pairs) for trace, pairs in traces if trace is not None and pairs >= min_pairs]
    if not usable:
        return None
    weights = np.array([pairs for _, pairs in usable], dtype=float)
    return float(np.clip(np.average([t for t, _ in usable], weights=weights), 0, MAX_TRACE))


def sensitivity(
    fitted: Fitted,
    estimate: Estimate,
    trace: tuple[float | None, int],
    strength: float | None,
    level: float,
) -> Sensitivity:
    """Robustness value, E-values and how far a confounder of the gauged ``strength`` could move
    the estimate (DoubleML's bounds with ``cf_y = cf_d = strength`` and ``rho = 1``)."""
    with warnings.catch_warnings():
        # "nu2 not positive": the library then re-estimates it from the Riesz representer, as wanted
        warnings.filterwarnings("ignore", message="The estimated nu2", category=UserWarning)
        fitted.model.sensitivity_analysis(
            cf_y=strength or 1e-6, cf_d=strength or 1e-6, rho=1.0, level=level
        )
    params = fitted.model.sensitivity_params
    theta = fitted.model.coef[0]
    shift = fragile = None
    if strength is not None:
        bounds = (params["theta"]["lower"][0], params["theta"]["upper"][0])
        shift = 100 * float(max(abs(bound - theta) for bound in bounds))
        fragile = bool(shift > (estimate.ci_high_points - estimate.ci_low_points) / 2)
    point, nearest = e_values(estimate)
    return Sensitivity(
        robustness_value=float(params["rv"][0]),
        e_value=point,
        e_value_ci=nearest,
        line_trace=trace[0],
        line_pairs=trace[1],
        gauge=strength,
        shift_points=shift,
        fragile=fragile,
    )
