"""Probability calibration: a margin (log-odds) in, ``persistence_probability`` out.

A calibrator is fitted on a held-out, most-recent slice of the training span
(:func:`resilience.learn.split.calibration_slice`): ``sigmoid`` (Platt scaling, strictly
increasing, the default), ``isotonic`` (a non-decreasing step function) or ``none`` (the
logistic function of the margin itself).

**One intercept per cohort** (:func:`fit_cohort_offsets`, the model's ``calibration_by_cohort``).
One calibrator averages over a mix of kinds of line that drifts (the home-grown share rose from
0.40 in training to 0.50 in the test period of the default world) and leaves each kind
systematically wrong: home-grown lines 2-9 points too low, imported ones 0-3 points too high
(issue 21). Platt scaling with one intercept per value of the data config's ``cohort_column``,

    logit p = a * margin + g_cohort,

fitted on the calibration slice, makes every cohort right on average where the training span
ends. The intercepts become *margin offsets* ``o_c = (g_c - g) / a``, centred on the cohorts' mix
in the rows the model was fitted on (``g`` their weighted mean), so that

    p = calibrator(margin + o_cohort),    calibrator(x) = expit(a * x + g),

is an ordinary strictly increasing calibrator of an *adjusted* margin. The model adds the offset
to its margin and to the contribution of the cohort's own column
(:meth:`~resilience.learn.models.PersistenceModel.contributions`), so explanations stay exact:
the offset is attributed to the concept that defines the cohort (the line's origin), the base is
unchanged, and the points still add up to the calibrated probability and keep their signs.
A cohort with fewer than :data:`COHORT_MIN_ROWS` calibration rows (or one outcome only) shares the
others' pooled intercept; a value never seen gets offset 0 (the fitted rows' mix).

**Pooled by their evidence** (``pooling="partial"``, the default; :func:`partial_pooling`). At a
force's scale the calibration slice holds a few hundred rows per cohort, and intercepts fitted
on it alone differ by noise (0.45 log-odds between line types in a 6,000-line world with no
line-type effect, moving each type 4-5 points the wrong way). Each intercept therefore keeps only
the share of its own gap its data support: a random-effects model of the intercepts, their
standard errors clustered by line (:func:`cluster_covariance`). With no evidence of a gap every
cohort gets the common intercept; a clear gap is kept nearly whole (``benchmarks/cohorts.py
--calibration-only``; ``docs/cohorts.md``).

**Drift to the date served.** When the training span's own rows show the cohorts drifting apart
(a per-cohort linear trend in time on top of the model's margin, likelihood-ratio test at the
model's ``cohort_trend_alpha``, 0.2 by default), each intercept is taken at the date the model
starts to serve (the last training date plus the horizon) instead of the calibration slice's own
dates, and the drift goes on from there to each scored disruption's own date, for at most the
model's ``cohort_drift_weeks`` (26; :meth:`CohortOffsets.of` with the rows' dates): a line scored
13 weeks later gets 13 weeks more of it (``pursue_driven``: the worst line type's mean error
4.4 -> 2.1 points at 8,000 lines, 3.9 -> 2.3 at 20,000; ``docs/cohorts.md``). The level is
moderate evidence, not strong: the calibration slice lies months before the weeks scored, so a
drift left out costs more than a weak one carried. Measured
(``benchmarks/cohorts.py --calibration-only 8000 20000 --seeds 21 22 23 24``, the same trees):
against strong evidence only (0.001), on worlds of the default mechanism (line types drifting
apart) the worst line type of the worst world came closer (8,000 lines: 4.4 -> 3.7 points;
20,000: 5.5 -> 4.2), the mean of ``pursue_driven``'s at 8,000 lines 5.0 -> 4.4, AUC unchanged
within 0.0004. Where no cohort drifts, a chance trend is sometimes carried: the mean grew by
0.05-0.11 points there, and on planted data the gap's error by about a sixth
(``tests/test_cohorts.py``). A run records the test's p-value and the slopes carried
(``model.calibration.cohort_trend_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import chi2
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from resilience.core.errors import ResilienceError
from resilience.learn.glm import fit_logistic

CALIBRATIONS = ("sigmoid", "isotonic", "none")
COHORT_MIN_ROWS = 50  # calibration rows a cohort needs for its own intercept
POOLINGS = ("partial", "none")
POOLED = "\x00pooled"  # the shared level of cohorts too small for their own intercept
DAYS_PER_YEAR = 365.25
# a carried drift at least this steep (log-odds a year, about a point a year near 50%) is a
# limitation the model card and the briefing state; a gentler one moves no estimate that much
MATERIAL_DRIFT_PER_YEAR = 0.05


def require_one_of(setting: str, value, allowed) -> None:
    """A setting that must be one of a few names: a clear error naming them otherwise."""
    if value not in allowed:
        raise ResilienceError(f"{setting} must be one of {tuple(allowed)}, not {value!r}")


@dataclass(frozen=True)
class CohortOffsets:
    """Per value of the cohort column, the margin offset the calibrator adds (centred on the fitted
    rows' mix), with what it rests on: calibration rows, the calibrated intercepts, and the trend
    (log-odds per year per cohort, empty when the test did not find one) with its p-value."""

    column: str
    offsets: dict[str, float]
    rows: dict[str, int] = field(default_factory=dict)
    intercepts: dict[str, float] = field(default_factory=dict)
    trend: dict[str, float] = field(default_factory=dict)
    trend_p_value: float | None = None
    served_from: str | None = None  # the date the intercepts are taken at when a trend is used
    # partial pooling: the spread of the cohorts' true intercepts (log-odds, DerSimonian-Laird) and
    # the share of each cohort's own deviation kept (None: intercepts used as fitted)
    between_sd: float | None = None
    kept: dict[str, float] | None = None
    # the drift carried on past ``served_from`` to each scored disruption's own date, in margin
    # units a year per cohort, for at most ``carry_weeks`` weeks (empty / 0: every row gets the
    # offset at ``served_from``, as calibrators pickled before this did)
    margin_per_year: dict[str, float] = field(default_factory=dict)
    carry_weeks: float = 0.0
    # the trend's standard error per cohort (log-odds a year): the carried drift's own uncertainty,
    # which grows with the distance carried (empty: calibrators pickled before it, none added)
    trend_se: dict[str, float] = field(default_factory=dict)
    # Cochran's test that the cohorts' intercepts differ (p-value; None: not tested, as with
    # intercepts used as fitted or calibrators pickled before it)
    gap_p_value: float | None = None

    def evidence_p_value(self) -> float | None:
        """How surely the cohorts' offsets rest on a real difference: the smaller p-value of the
        gap test and the drift test, doubled for taking the smaller of two (Bonferroni); None
        when neither ran. What lets the reason screen name the cohort column for its offset."""
        tested = [p for p in (self.gap_p_value, self.trend_p_value) if p is not None]
        return min(1.0, len(tested) * min(tested)) if tested else None

    def of(self, X: pd.DataFrame, dates=None) -> np.ndarray:
        """Each row's offset from its value of the cohort column (0 for a value never fitted),
        plus, given each row's disruption date (``dates``), the drift carried from ``served_from``
        to that date (at most ``carry_weeks``; none for a date before it or unknown)."""
        if self.column not in X.columns:
            return np.zeros(len(X))
        values = self._values(X)
        offsets = _by_cohort(values, self.offsets)
        if dates is None or not self.follows_date():
            return offsets
        return offsets + self._drift(values, dates)

    def follows_date(self) -> bool:
        """Whether the offset goes on with each row's date (offsets pickled before they could,
        which lack these fields, do not)."""
        return bool(getattr(self, "margin_per_year", None) and getattr(self, "carry_weeks", 0))

    def _drift(self, values: pd.Series, dates) -> np.ndarray:
        """The drift past ``served_from`` of each row (margin units; 0 for a date before it)."""
        return _by_cohort(values, self.margin_per_year) * self._years_carried(dates)

    def _years_carried(self, dates) -> np.ndarray:
        """Each row's years past ``served_from``, at most ``carry_weeks`` (0 before it or unknown)."""
        when = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce")
        if when.dt.tz is not None:  # a zoned date is its own wall-clock day, as the extract reads
            when = when.dt.tz_localize(None)
        days = (when - pd.Timestamp(self.served_from)).dt.days
        days = days.clip(lower=0, upper=7 * self.carry_weeks).fillna(0)
        return days.to_numpy(float) / DAYS_PER_YEAR

    def drift_sd(self, X: pd.DataFrame, dates=None) -> np.ndarray:
        """The standard error of each row's carried drift, in calibrated log-odds: its cohort's
        trend standard error times the years carried (0 without dates, a drift that does not
        follow the date, or standard errors: offsets pickled before they were kept)."""
        se = getattr(self, "trend_se", None)
        if dates is None or not self.follows_date() or not se or self.column not in X.columns:
            return np.zeros(len(X))
        return np.abs(_by_cohort(self._values(X), se)) * self._years_carried(dates)

    def _values(self, X: pd.DataFrame) -> pd.Series:
        """Each row's value of the cohort column (None where it is missing)."""
        return X[self.column].astype(object).where(X[self.column].notna(), None)

    def carried_drift(self) -> dict:
        """The drift carried to the date served: ``{"column", "per_year": {cohort: log-odds a
        year}, "served_from"}``; {} when the test found none (what the model's evidence, each
        week's manifest and the briefing read)."""
        if not self.trend:
            return {}
        return {
            "column": self.column,
            "per_year": {k: round(v, 4) for k, v in self.trend.items() if k != POOLED},
            "served_from": self.served_from,
            "carried_weeks": self.carry_weeks if self.follows_date() else 0.0,
        }

    def as_dict(self) -> dict:
        """What a run records (offsets in margin units, intercepts in calibrated log-odds)."""
        return {
            "column": self.column,
            "offsets": {k: v for k, v in self.offsets.items() if k != POOLED},
            "rows": dict(self.rows),
            "intercepts": {k: v for k, v in self.intercepts.items() if k != POOLED},
            "trend_per_year": dict(self.trend),
            "trend_p_value": self.trend_p_value,
            "served_from": self.served_from,
            "between_sd": self.between_sd,
            "kept": {k: v for k, v in (self.kept or {}).items() if k != POOLED},
            "gap_p_value": self.gap_p_value,
        }


@dataclass(frozen=True)
class CohortRows:
    """What fitting per-cohort intercepts needs: the cohort of every training row (text), which
    rows fitted the model and which calibrate it, their dates, and the date the model serves from."""

    column: str
    values: np.ndarray
    fit_pos: np.ndarray
    cal_pos: np.ndarray
    dates: pd.Series
    serves_from: pd.Timestamp
    trend_alpha: float  # the model's cohort_trend_alpha (0: no trend)
    # the line of every row (rows of one line are not independent: the intercepts' standard errors
    # are clustered by it); None: each row its own
    clusters: np.ndarray | None = None
    pooling: str = "partial"  # "partial": shrunk towards each other by their evidence; "none"
    carry_weeks: float = 0.0  # the model's cohort_drift_weeks: the drift carried past serves_from


class Calibrator:
    """Maps a margin (log-odds) to a probability; fitted on held-out rows. With ``cohorts_`` (see
    the module docstring) the margin it maps is the model's margin plus :meth:`offset`."""

    cohorts_: CohortOffsets | None = None  # calibrators pickled before cohorts read None

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        require_one_of("calibration", self.method, CALIBRATIONS)
        margin = np.asarray(margin, float).reshape(-1)
        y = np.asarray(y, float).reshape(-1)
        if self.method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if self.slope_ <= 0:  # a model worse than chance on recent data: keep it identity
                self.slope_, self.intercept_ = 1.0, 0.0
        elif self.method == "isotonic":
            self.isotonic_ = IsotonicRegression(
                out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4
            ).fit(margin, y)
        return self

    def fit_by_cohort(self, margin: np.ndarray, y: np.ndarray, rows: CohortRows) -> Calibrator:
        """Fit with one intercept per cohort (``margin`` and ``y``: every training row; the
        calibration rows are ``rows.cal_pos``). Falls back on :meth:`fit` when fewer than two
        cohorts can have their own intercept or the fit fails."""
        require_one_of("calibration", self.method, CALIBRATIONS)
        margin, y = np.asarray(margin, float), np.asarray(y, float)
        fitted = fit_cohort_offsets(margin, y, rows) if self.method != "none" else None
        cal = rows.cal_pos
        if fitted is None:
            return self.fit(margin[cal], y[cal])
        cohorts, slope, level = fitted
        if self.method == "sigmoid":
            self.slope_, self.intercept_ = slope, level
        else:  # isotonic: the step function of the adjusted margin
            adjusted = margin[cal] + cohorts.of(pd.DataFrame({rows.column: rows.values[cal]}))
            self.fit(adjusted, y[cal])
        self.cohorts_ = cohorts
        return self

    def summary(self) -> dict[str, float]:
        """What a run records of the cohorts' calibration: each cohort's margin offset, when
        pooled the share of its own gap kept and the spread between cohorts, and the drift test's
        p-value with the slopes carried to the date served (empty without cohorts)."""
        c = self.cohorts_
        if c is None:
            return {}
        out = {f"cohort_offset.{k}": round(v, 4) for k, v in c.offsets.items() if k != POOLED}
        out.update(
            {f"cohort_kept.{k}": round(v, 3) for k, v in (c.kept or {}).items() if k != POOLED}
        )
        if c.between_sd is not None:
            out["cohort_between_sd"] = round(c.between_sd, 4)
        if c.gap_p_value is not None:  # the cohorts' intercepts differ?
            out["cohort_gap_p_value"] = round(c.gap_p_value, 6)
        if c.trend_p_value is not None:  # the drift test ran; its slopes when the drift is carried
            out["cohort_trend_p_value"] = round(c.trend_p_value, 6)
        per_year = c.carried_drift().get("per_year", {})
        out.update({f"cohort_trend_per_year.{k}": v for k, v in per_year.items()})
        return out

    def drift_sd(self, X: pd.DataFrame, dates=None) -> np.ndarray:
        """Each row's uncertainty of the drift carried to its date (:meth:`CohortOffsets.drift_sd`;
        zeros without cohorts)."""
        cohorts = self.cohorts_
        return np.zeros(len(X)) if cohorts is None else cohorts.drift_sd(X, dates)

    def offset(self, X: pd.DataFrame, dates=None) -> np.ndarray:
        """Each row's cohort offset (margin units) from the prepared input ``X`` and, when given,
        each row's disruption date (the drift carried to it); zeros without cohorts."""
        return np.zeros(len(X)) if self.cohorts_ is None else self.cohorts_.of(X, dates)

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, float)
        if self.method == "sigmoid":
            return expit(self.slope_ * margin + self.intercept_)
        if self.method == "isotonic":
            return self.isotonic_.predict(margin.reshape(-1))
        return expit(margin)


def _by_cohort(values: pd.Series, table: dict[str, float]) -> np.ndarray:
    """Each row's entry of ``table`` by its cohort value (the pooled entry for a value without
    its own, 0 for a value never fitted or missing)."""
    mapped = values.map(lambda v: table.get(str(v), table.get(POOLED, 0.0)))
    return mapped.astype(float).fillna(0.0).to_numpy()


def _levels(values: np.ndarray, y: np.ndarray) -> list[str]:
    """Cohorts with enough calibration rows and both outcomes for their own intercept."""
    frame = pd.DataFrame({"c": values, "y": y})
    stats = frame.groupby("c")["y"].agg(["size", "nunique"])
    return sorted(
        str(c) for c, s in stats.iterrows() if s["size"] >= COHORT_MIN_ROWS and s["nunique"] == 2
    )


def _indicators(values: np.ndarray, levels: list[str]) -> np.ndarray:
    """One column per level (a pooled column for the rest, if any row is in none of them)."""
    columns = [values == level for level in levels]
    rest = ~np.any(columns, axis=0)
    if rest.any():
        columns.append(rest)
    return np.column_stack(columns).astype(float)


def cohort_trend(margin: np.ndarray, y: np.ndarray, rows: CohortRows, levels: list[str]):
    """Per-cohort linear trend in time (log-odds per year, at the date served) on the rows the model
    was fitted on, beyond its margin: ``({cohort: slope}, p-value, {cohort: standard error})``;
    no slopes (nor errors) when the likelihood-ratio test does not pass ``rows.trend_alpha`` (or
    it is 0); at 1 the slopes are kept whatever the test says (the ranges' refits of a model that
    carries a trend)."""
    pos = rows.fit_pos
    if rows.trend_alpha <= 0 or len(pos) < 2 * COHORT_MIN_ROWS:
        return {}, None, {}
    years = (
        pd.to_datetime(rows.dates.iloc[pos]) - rows.serves_from
    ).dt.days.to_numpy() / DAYS_PER_YEAR
    groups = _indicators(rows.values[pos], levels)
    base = np.column_stack([margin[pos], groups])
    reduced = fit_logistic(base, y[pos])
    full = fit_logistic(np.column_stack([base, groups * years[:, None]]), y[pos])
    if not (reduced.converged and full.converged):
        return {}, None, {}
    statistic = max(2 * (full.log_likelihood - reduced.log_likelihood), 0.0)
    p_value = float(chi2.sf(statistic, groups.shape[1]))
    if p_value >= rows.trend_alpha and rows.trend_alpha < 1:  # 1: carried whatever the test says
        return {}, p_value, {}
    names = levels + ([POOLED] if groups.shape[1] > len(levels) else [])
    slopes, errors = full.coef[base.shape[1] :], full.se[base.shape[1] :]
    return (
        {name: float(s) for name, s in zip(names, slopes)},
        p_value,
        {name: float(e) for name, e in zip(names, errors)},
    )


def fit_cohort_offsets(
    margin: np.ndarray, y: np.ndarray, rows: CohortRows
) -> tuple[CohortOffsets, float, float] | None:
    """Platt scaling with one intercept per cohort on the calibration rows (see the module
    docstring): ``(offsets, slope a, centred level g)``, or None when fewer than two cohorts
    qualify or the fit fails (the caller then fits one intercept)."""
    cal = rows.cal_pos
    levels = _levels(rows.values[cal], y[cal])
    if len(levels) < 2:
        return None
    trend, p_value, trend_se = cohort_trend(margin, y, rows, levels)
    groups = _indicators(rows.values[cal], levels)
    names = levels + ([POOLED] if groups.shape[1] > len(levels) else [])
    years = (
        pd.to_datetime(rows.dates.iloc[cal]) - rows.serves_from
    ).dt.days.to_numpy() / DAYS_PER_YEAR
    slopes = np.array([trend.get(name, 0.0) for name in names])
    fit = fit_logistic(
        np.column_stack([margin[cal], groups]), y[cal], offset=groups @ slopes * years
    )
    slope = float(fit.coef[0])
    if not fit.converged or slope <= 0:
        return None
    shrunk, between_sd, kept, gap_p = fit.coef[1:], None, None, None
    if rows.pooling == "partial":
        design = np.column_stack([margin[cal], groups])
        residual = y[cal] - expit(groups @ slopes * years + design @ fit.coef)
        clusters = None if rows.clusters is None else np.asarray(rows.clusters)[cal]
        covariance = cluster_covariance(fit.covariance, design, residual, clusters)
        shrunk, between_sd, kept = partial_pooling(fit.coef[1:], covariance[1:, 1:])
        gap_p = intercept_gap_p_value(fit.coef[1:], covariance[1:, 1:])
    intercepts = dict(zip(names, (float(g) for g in shrunk)))
    # centred on the mix of the rows the model was fitted on (its SHAP base is their expectation)
    weights = _indicators(rows.values[rows.fit_pos], levels)
    if weights.shape[1] < len(names):  # the pooled cohorts had no fitted rows
        weights = np.column_stack([weights, np.zeros(len(weights))])
    share = weights[:, : len(names)].mean(axis=0) if len(weights) else np.ones(len(names))
    level = float(share @ shrunk / max(share.sum(), 1e-12))
    offsets = CohortOffsets(
        column=rows.column,
        offsets={n: (g - level) / slope for n, g in intercepts.items()},
        rows={n: int(np.sum(rows.values[cal] == n)) for n in levels},
        intercepts=intercepts,
        trend=trend,
        trend_p_value=p_value,
        served_from=str(rows.serves_from.date()) if trend else None,
        between_sd=between_sd,
        kept=None if kept is None else dict(zip(names, (float(k) for k in kept))),
        # the calibrator maps a * margin: a drift of b log-odds is b / a in the margin
        margin_per_year={n: b / slope for n, b in trend.items()} if rows.carry_weeks else {},
        carry_weeks=float(rows.carry_weeks) if trend else 0.0,
        trend_se=trend_se if rows.carry_weeks else {},
        gap_p_value=gap_p,
    )
    return offsets, slope, level


def cluster_covariance(
    covariance: np.ndarray, X: np.ndarray, residual: np.ndarray, clusters: np.ndarray | None
) -> np.ndarray:
    """The sandwich covariance of a logistic fit's coefficients (``covariance``: its inverse
    information; ``residual``: y minus its fitted probability) with the scores summed within
    ``clusters`` (rows of one line are not independent); ``covariance`` itself without clusters."""
    if clusters is None:
        return covariance
    scores = pd.DataFrame(X * residual[:, None]).groupby(pd.factorize(clusters)[0]).sum()
    meat = scores.to_numpy().T @ scores.to_numpy()
    return covariance @ meat @ covariance


def _cochran_q(g: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, float]:
    """Precision weights and Cochran's Q of estimates ``g`` with variances ``v``: the weighted sum
    of squared deviations from their precision-weighted mean."""
    w = 1.0 / v
    return w, float(w @ (g - w @ g / w.sum()) ** 2)


def intercept_gap_p_value(intercepts: np.ndarray, covariance: np.ndarray) -> float | None:
    """Cochran's test that the cohorts' intercepts differ: Q against chi-square with one degree of
    freedom fewer than the cohorts (None without usable standard errors)."""
    g = np.asarray(intercepts, float)
    v = np.clip(np.diag(covariance), 1e-12, None)
    if len(g) < 2 or not np.all(np.isfinite(v)):
        return None
    return float(chi2.sf(_cochran_q(g, v)[1], len(g) - 1))


def partial_pooling(intercepts: np.ndarray, covariance: np.ndarray):
    """Each cohort's intercept shrunk towards the cohorts' common level by its evidence: a
    random-effects (DerSimonian-Laird) estimate of the spread ``tau`` of the true intercepts, then
    each intercept kept in proportion ``tau^2 / (tau^2 + v_c)`` (``v_c``: its variance) around their
    precision-weighted level. Without evidence of a gap (``tau`` = 0) every cohort gets the common
    intercept, one calibrator as before. Returns ``(shrunk, tau, kept shares)`` (``tau`` and the
    shares None when the intercepts have no usable variances: then as fitted)."""
    g = np.asarray(intercepts, float)
    v = np.clip(np.diag(covariance), 1e-12, None)
    if not np.all(np.isfinite(v)):  # no usable standard errors: the intercepts as fitted
        return g, None, None
    w, q = _cochran_q(g, v)
    tau2 = max(0.0, (q - (len(g) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    kept = tau2 / (tau2 + v)
    level = float((g / (v + tau2)).sum() / (1.0 / (v + tau2)).sum())
    return level + kept * (g - level), float(np.sqrt(tau2)), kept
