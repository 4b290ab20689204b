"""A range for every line: an ensemble of refits on bootstrap resamples of lines.

What is computed
----------------
**Members.** ``n_models`` copies of the main model's recipe are refitted, each on a resample
*of lines* (rows of one line are not independent, so resampling rows would understate the
spread): by default half the lines drawn without replacement (``resample: half``; for a smooth
statistic the half-sample spread equals the bootstrap's, at half the cost of a fit), or a
bootstrap of lines (``resample: bootstrap``: a line drawn ``k`` times brings its rows ``k``
times). One ensemble is fitted on the training span: its out-of-bag rows and the test period set the
extra spread, and it ships with the deployed model (see :func:`attach_intervals`). Each refit is the
main fit made cheap: the same parameters and the main fit's number of trees (no inner
early-stopping folds), the main model's feature space (so every member reads the same
categories), and its own calibrator fitted on the most recent ``calibration_fraction`` of its
resample, exactly as the main recipe does.

**The interval.** For a line, let ``m`` be the main model's calibrated log-odds and ``s`` the
standard deviation of the members' calibrated log-odds. The interval at level ``level`` is::

    sigmoid(mu - z * sqrt(s^2 + tau^2 + u^2))  ..  sigmoid(mu + z * sqrt(s^2 + tau^2 + u^2)),
    z = Phi^-1((1 + level) / 2)

where ``mu`` makes the printed probability the *mean* of the logit-normal distribution
(:func:`logit_normal_centre`: a calibrated estimate is the mean of the truth given the estimate,
and below 0.5 the truth is skewed towards 0 in log-odds; measured on 20,000-line worlds, this
lifted the worst band's coverage by 3-12 points). It always contains the printed probability,
never leaves 0-1, and uses the members' standard deviation rather than their empirical
percentiles (eight members cannot place a 10th percentile; their spread they can).

**The extra spread: what labels can show (tau) and what they cannot (u).** Refits share the main
model's shrinkage and cannot see how the world moved after their span, so ``s`` alone is far too
narrow (on the default synthetic world it held the true probability for 48% of test lines; the
model's log-odds error had sd 0.51 against a median ``s`` of 0.25). But one outcome per disruption
identifies nothing about a *row's* error: for a calibrated model the Brier score equals
``E[p(1-p)]`` whatever its error to the truth, so only errors *shared* by groups of rows can be
measured. ``tau`` is that shared part, a variance-components estimate (:func:`estimate_extra_spread`:
maximum marginal likelihood of ``y ~ Bernoulli(expit(offset + b_g))``, ``b_g ~ N(0, tau^2 + v_g)``
over groups of ``group_rows`` similar rows) on every held-out row there is: the test period and
every training row out of the bag of some member (about 5x the test period). It never goes
negative and no longer collapses, but it is small (0.0-0.25 on the worlds measured). What varies from row to row or from
line to line (a line's unrecorded character; a line's rows cannot help, since a line is disrupted
again only if it persisted) is invisible to any outcome check: ``u`` = ``unobserved_sd`` is an
**assumption** in config (default 0.5), not an estimate. Coverage of the *true* probability is
only *measured*, never fitted, where a truth exists (``truth.parquet``): :func:`coverage`, logged
by training overall and per yardstick band.

**Limits (measured, see ``benchmarks/intervals.py``).** Coverage depends on how far the assumed
``u`` is from the world's: with u = 0.5 the 80% ranges held the truth for 88% (default), 92%
(``protect_driven``), 76% (``pursue_driven``, strong drift) and 70% (``sparse``, line effect sd
0.6) of test lines (30,000 lines, seed 11), against 48-78% for the earlier test-period widening
factor. Thin end bands are worse (``sparse``: 47% "almost certain", 64% "remote chance"). The
ranges are wide enough that most lines are "band uncertain" (94-98%): yardstick bands are
narrower than what one outcome per disruption can pin down.

**Band uncertain.** ``band_uncertain`` is true when the interval's two ends fall in different
yardstick bands (:func:`resilience.yardstick.band`, gaps going to the nearer band), i.e. the words
a commander reads could be different for a probability inside the range.

Example
-------
>>> ensemble = fit_ensemble(model, train_frame, IntervalConfig(n_models=10))
>>> table = interval_table(model, ensemble, week_frame)   # probability_low, probability_high, band_uncertain
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from resilience.errors import ResilienceError
from resilience.models import Calibrator
from resilience.segments import interval_table_segmented, is_segmented
from resilience.split import calibration_slice
from resilience.yardstick import BAND_NAMES, band

log = logging.getLogger(__name__)

INTERVAL_COLUMNS = ("probability_low", "probability_high", "band_uncertain")
MAX_OUT_OF_BAG_ROWS = 20_000  # out-of-bag rows used by the extra-spread estimate (a random subset beyond)
_EPS = 1e-6
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)  # E[f(Z)], Z ~ N(0, 1) = sum f(node) * weight
_MEAN_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_LOG_WEIGHTS = np.log(_MEAN_WEIGHTS)


@dataclass(frozen=True)
class IntervalConfig:
    """How the per-line ranges are made (``configs/intervals/default.yaml``)."""

    enabled: bool = True
    n_models: int = 8           # refits (cost: about half a final fit each with resample="half")
    resample: str = "half"      # half: half the lines without replacement | bootstrap: lines with replacement
    level: float = 0.8          # nominal coverage of the interval
    widen: str = "held_out"     # held_out: extra spread estimated on held-out labels | none: refit spread only
    group_rows: int = 50        # rows per group of similar lines when estimating the extra spread
    unobserved_sd: float = 0.5  # ASSUMED log-odds sd of what no outcome can show (see the module docstring)
    max_extra_sd: float = 3.0   # a guard: the estimated extra spread never exceeds this
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise ResilienceError(f"intervals.level must lie strictly between 0 and 1, not {self.level}")
        if self.n_models < 2:
            raise ResilienceError(f"intervals.n_models must be at least 2, not {self.n_models}")
        if self.resample not in ("half", "bootstrap"):
            raise ResilienceError(f"intervals.resample must be half or bootstrap, not {self.resample!r}")
        if self.widen not in ("held_out", "none"):
            raise ResilienceError(f"intervals.widen must be held_out or none, not {self.widen!r}")
        if not 0 <= self.unobserved_sd <= 5:
            raise ResilienceError(
                f"intervals.unobserved_sd must lie between 0 and 5 (log-odds), not {self.unobserved_sd}")


@dataclass
class Member:
    """One refit: the estimator and its calibrator (the main model's feature space is reused)."""

    estimator: object
    calibrator: Calibrator


@dataclass
class IntervalEnsemble:
    """The bootstrap refits behind every line's range, stored on the deployed model."""

    members: list[Member]
    level: float
    widen: float = 1.0          # multiplier of the refit spread (1: models trained since the extra spread)
    widen_details: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    extra_sd: float = 0.0       # log-odds sd added in quadrature: sqrt(estimated^2 + unobserved_sd^2)
    positions: list = field(default_factory=list, repr=False)  # rows each member trained on (dropped after widening)

    @property
    def z(self) -> float:
        return float(norm.ppf(0.5 + self.level / 2))


# ----------------------------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------------------------
def line_bootstrap(lines: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Row positions of a bootstrap resample of lines (each drawn line brings all its rows)."""
    codes, uniques = pd.factorize(pd.Series(lines).astype(str), sort=False)
    counts = np.bincount(rng.integers(0, len(uniques), size=len(uniques)), minlength=len(uniques))
    weights = counts[codes]
    return np.repeat(np.arange(len(codes)), weights)


def line_half_sample(lines: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Row positions of half the lines drawn without replacement (each drawn line brings all its
    rows). For a smooth statistic the spread over half-samples equals the bootstrap's (a mean of
    n/2 of n values drawn without replacement varies by sigma^2/(n/2) * (1 - 1/2) = sigma^2/n),
    at half the cost of a fit."""
    codes, uniques = pd.factorize(pd.Series(lines).astype(str), sort=False)
    chosen = np.zeros(len(uniques), dtype=bool)
    chosen[rng.choice(len(uniques), size=max(1, len(uniques) // 2), replace=False)] = True
    return np.flatnonzero(chosen[codes])


def _fit_member(model, X: pd.DataFrame, y: np.ndarray, dates: pd.Series, positions: np.ndarray,
                seed: int) -> Member:
    from sklearn.base import clone

    Xb, yb, db = X.iloc[positions], y[positions], dates.iloc[positions].reset_index(drop=True)
    fraction = model.calibration_fraction if model.calibration != "none" else 0
    fit_pos, cal_pos = calibration_slice(db, fraction)
    if len(np.unique(yb[fit_pos])) < 2:
        raise ResilienceError("a bootstrap resample held only one outcome; the history is too small for intervals")
    estimator = clone(model.estimator_)
    if model.family == "lightgbm":
        estimator.set_params(random_state=seed)  # same recipe and trees; its own row/feature subsampling
        estimator.fit(Xb.iloc[fit_pos], yb[fit_pos])
        margin = lambda rows: estimator.predict(Xb.iloc[rows], raw_score=True)  # noqa: E731
    else:
        design = model.design_
        estimator.fit(design.transform(Xb.iloc[fit_pos]), yb[fit_pos])
        margin = lambda rows: estimator.decision_function(design.transform(Xb.iloc[rows]))  # noqa: E731
    calibrator = Calibrator(model.calibration)
    if len(cal_pos) and len(np.unique(yb[cal_pos])) == 2:
        calibrator.fit(margin(cal_pos), yb[cal_pos])
    else:
        calibrator = Calibrator("none").fit(np.zeros(2), np.array([0, 1]))
    return Member(estimator, calibrator)


def fit_ensemble(model, frame: pd.DataFrame, config: IntervalConfig, widen: float = 1.0) -> IntervalEnsemble:
    """Refit ``model``'s recipe on ``config.n_models`` bootstrap resamples of the lines of ``frame``
    (the rows ``model`` was fitted on)."""
    start = time.perf_counter()
    contract = model.contract
    frame = frame.reset_index(drop=True)
    X = model.prepare(frame)
    y = frame[contract.label].astype(int).to_numpy()
    dates = frame[contract.date_column]
    rng = np.random.default_rng(config.seed)
    members = []
    resample = line_half_sample if config.resample == "half" else line_bootstrap
    drawn = []
    for b in range(config.n_models):
        positions = resample(frame[contract.line_column], rng)
        members.append(_fit_member(model, X, y, dates, positions, seed=int(config.seed) * 1000 + b + 1))
        drawn.append(positions)
    return IntervalEnsemble(members, config.level, widen, fit_seconds=time.perf_counter() - start,
                            positions=drawn)


# ----------------------------------------------------------------------------------------------
# Prediction
# ----------------------------------------------------------------------------------------------
def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def member_log_odds(model, ensemble: IntervalEnsemble, X: pd.DataFrame) -> np.ndarray:
    """Calibrated log-odds of every member (members x rows) on the model's input matrix ``X``."""
    out = np.empty((len(ensemble.members), len(X)))
    if not len(X):
        return out
    for i, member in enumerate(ensemble.members):
        if model.family == "lightgbm":
            margin = member.estimator.predict(X, raw_score=True)
        else:
            margin = member.estimator.decision_function(model.design_.transform(X))
        out[i] = _logit(member.calibrator(margin))
    return out


def spread(model, ensemble: IntervalEnsemble, X: pd.DataFrame) -> np.ndarray:
    """Standard deviation of the members' calibrated log-odds per row."""
    return member_log_odds(model, ensemble, X).std(axis=0, ddof=1)


def logit_normal_centre(probability: np.ndarray, sd: np.ndarray, iterations: int = 30) -> np.ndarray:
    """The log-odds ``mu`` whose logit-normal distribution ``expit(mu + sd * Z)`` has mean ``probability``.

    A calibrated estimate is the *mean* of the true probabilities of the lines given it, not the
    centre of their log-odds: below 0.5 the truth is skewed towards 0 in log-odds (most lines a
    little lower, a few much higher), above 0.5 towards 1. Newton's method on Gauss-Hermite
    quadrature, started at the estimate's own log-odds."""
    p = np.clip(np.asarray(probability, float), _EPS, 1 - _EPS)
    sd = np.broadcast_to(np.asarray(sd, float), p.shape)
    mu = np.log(p / (1 - p))
    for _ in range(iterations):
        q = expit(mu[:, None] + sd[:, None] * _NODES[None, :])
        gap = q @ _MEAN_WEIGHTS - p
        if not len(gap) or np.abs(gap).max() < 1e-9:
            break
        mu = mu - gap / np.maximum((q * (1 - q)) @ _MEAN_WEIGHTS, 1e-12)
    return mu


def bounds(probability: np.ndarray, sd: np.ndarray, z: float, widen: float,
           extra_sd: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The interval for a refit log-odds standard deviation ``sd`` (times ``widen``) with
    ``extra_sd`` added in quadrature: ``expit(mu +- z * total)``, where ``mu`` makes
    ``probability`` the mean (:func:`logit_normal_centre`); it always contains ``probability``."""
    probability = np.asarray(probability, float)
    total = np.sqrt((widen * np.asarray(sd, float)) ** 2 + extra_sd ** 2)
    centre = logit_normal_centre(probability, total)
    low = np.minimum(expit(centre - z * total), probability)
    high = np.maximum(expit(centre + z * total), probability)
    return low, high


_BAND_OF_PERCENT = np.array([BAND_NAMES.index(band(percent / 100)) for percent in range(101)])


def band_index(probability: np.ndarray) -> np.ndarray:
    """Position in :data:`resilience.yardstick.BAND_NAMES` of each probability's band (vectorised
    :func:`resilience.yardstick.band`: whole percents, round half to even like ``round``)."""
    percent = np.rint(np.clip(np.asarray(probability, float), 0.0, 1.0) * 100).astype(int)
    return _BAND_OF_PERCENT[percent]


def band_uncertain(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """True where the interval's ends fall in different yardstick bands."""
    return band_index(low) != band_index(high)


def interval_table(model, frame: pd.DataFrame, probability: np.ndarray | None = None,
                   ensemble: IntervalEnsemble | None = None) -> pd.DataFrame:
    """``probability_low``, ``probability_high``, ``band_uncertain`` for the rows of ``frame``.

    Uses ``model.interval_ensemble_`` unless ``ensemble`` is given; ``probability`` defaults to the
    model's own. A model trained without intervals gives an empty frame (no columns).
    """
    if ensemble is None and is_segmented(model):
        return interval_table_segmented(model, frame, probability)
    ensemble = ensemble if ensemble is not None else getattr(model, "interval_ensemble_", None)
    if ensemble is None:
        return pd.DataFrame(index=pd.RangeIndex(len(frame)))
    X = model.prepare(frame.reset_index(drop=True))
    if probability is None:
        probability = model.calibrator_(model._margin(X))
    low, high = bounds(np.asarray(probability, float), spread(model, ensemble, X), ensemble.z, ensemble.widen,
                       getattr(ensemble, "extra_sd", 0.0))
    return pd.DataFrame({"probability_low": low, "probability_high": high,
                         "band_uncertain": band_uncertain(low, high)})


# ----------------------------------------------------------------------------------------------
# Widening on held-out labels, and coverage against a known truth
# ----------------------------------------------------------------------------------------------
def similar_groups(model, X: pd.DataFrame, group_rows: int, seed: int = 0) -> np.ndarray:
    """Group rows the model sees alike: k-means on each row's log-odds contributions (SHAP for
    LightGBM, coefficient x standardised value for the logistic model), about ``group_rows`` rows
    per group."""
    from sklearn.cluster import KMeans

    n_groups = max(2, len(X) // max(group_rows, 1))
    if model.family == "lightgbm":
        features = model.estimator_.booster_.predict(X, pred_contrib=True)[:, :-1]
    else:
        features = model.design_.transform(X) * np.asarray(model.estimator_.coef_, float).reshape(-1)
    if len(X) <= n_groups:
        return np.arange(len(X))
    return KMeans(n_clusters=n_groups, n_init=1, random_state=seed).fit_predict(features)




def _group_part(model, logits: np.ndarray, X: pd.DataFrame, offset: np.ndarray, y: np.ndarray,
                group_rows: int, seed: int) -> tuple:
    """(offset log-odds, outcome, group, members' variance of each group's mean log-odds), given the
    members' log-odds ``logits`` (members x rows) on ``X``."""
    groups = similar_groups(model, X, group_rows, seed)
    counts = np.bincount(groups)
    means = np.stack([np.bincount(groups, row) / np.maximum(counts, 1) for row in logits])
    return offset, y, groups, means.var(axis=0, ddof=1)


def _negative_log_likelihood(tau: float, parts: list[tuple]) -> float:
    """-log marginal likelihood of y ~ Bernoulli(expit(offset + b_g)), b_g ~ N(0, tau^2 + v_g)
    shared by each group's rows (Gauss-Hermite quadrature over b_g)."""
    from scipy.special import log_expit, logsumexp

    total = 0.0
    for offset, y, groups, v in parts:
        sd = np.sqrt(tau * tau + v)[groups]
        eta = offset[:, None] + sd[:, None] * _NODES[None, :]
        loglik = np.where(y[:, None] == 1, log_expit(eta), log_expit(-eta))
        per_group = np.stack([np.bincount(groups, loglik[:, k], minlength=len(v)) for k in range(len(_NODES))], axis=1)
        total -= float(logsumexp(per_group + _LOG_WEIGHTS, axis=1).sum())
    return total


def _profile(parts: list[tuple], max_extra_sd: float) -> tuple[float, float, float]:
    """Maximum-likelihood ``tau`` and its 95% profile-likelihood interval."""
    from scipy.optimize import minimize_scalar

    fit = minimize_scalar(lambda t: _negative_log_likelihood(t, parts), bounds=(0.0, max_extra_sd), method="bounded")
    tau, best = float(fit.x), float(fit.fun)
    grid = np.linspace(0.0, max_extra_sd, 61)
    inside = grid[[2 * (_negative_log_likelihood(t, parts) - best) <= 3.84 for t in grid]]
    if not len(inside):
        return tau, tau, tau
    return tau, float(min(inside.min(), tau)), float(max(inside.max(), tau))


def out_of_bag(ensemble: IntervalEnsemble, n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, member) pairs: each training row not drawn by at least one member, with one such
    member chosen at random (so every row enters the estimate once)."""
    drawn = np.zeros((len(ensemble.positions), n_rows), dtype=bool)
    for b, positions in enumerate(ensemble.positions):
        drawn[b, np.asarray(positions, int)] = True
    score = np.where(drawn, -1.0, np.random.default_rng(seed).random(drawn.shape))
    member = score.argmax(axis=0)
    rows = np.flatnonzero(score.max(axis=0) >= 0)
    return rows, member[rows]


def estimate_extra_spread(model, ensemble: IntervalEnsemble, held_out: pd.DataFrame, train: pd.DataFrame | None = None,
                          group_rows: int = 50, max_extra_sd: float = 3.0, seed: int = 0) -> tuple[float, dict]:
    """The log-odds spread of the errors *beyond* the refits' spread that held-out labels can show.

    A variance-components estimate: rows are grouped ``group_rows`` at a time by what the model
    sees (:func:`similar_groups`) and ``tau`` maximises the marginal likelihood of
    ``y ~ Bernoulli(expit(offset + b_g))``, ``b_g ~ N(0, tau^2 + v_g)``, where ``v_g`` is the members'
    variance of the group's mean log-odds. The rows are the test period (``held_out``, offset: the
    model's log-odds) and, when ``train`` (the members' training span) is given, every training row
    out of the bag of some member (offset: that member's log-odds; about 5x more rows than the test
    period; at most ``MAX_OUT_OF_BAG_ROWS``, a random subset beyond). The member's own deviation
    from the main model is counted in ``b_g``, so the estimate leans wide. A 95% profile-likelihood
    interval is returned in the details. The deployed model
    faces the future as the test period did, so when the test period's own estimate is clearly
    larger (its 95% interval lies above the pooled estimate: drift the training span cannot show),
    the test period's estimate is used.

    **What labels cannot show.** For a calibrated model the Brier score equals ``E[p(1-p)]`` whatever
    its error to the true probability, and one outcome per disruption identifies nothing about a
    single row's error beyond the mean: only errors *shared* by a group of rows are identifiable.
    Anything constant within a line that no column measures, and any error that varies from row to
    row, is invisible (rows of one line cannot help: a line is disrupted again only if it persisted).
    That part is :attr:`IntervalConfig.unobserved_sd`, an assumption, added by the caller.
    """
    contract = model.contract
    held_out = held_out.reset_index(drop=True)
    X = model.prepare(held_out)
    parts = [_group_part(model, member_log_odds(model, ensemble, X), X, _logit(model.calibrator_(model._margin(X))),
                         held_out[contract.label].astype(int).to_numpy(), group_rows, seed)]
    oob_rows = 0
    if train is not None and ensemble.positions:
        train = train.reset_index(drop=True)
        rows, member = out_of_bag(ensemble, len(train), seed)
        if len(rows) > MAX_OUT_OF_BAG_ROWS:  # bounds the cost (members' predictions, SHAP, k-means)
            keep = np.sort(np.random.default_rng(seed).choice(len(rows), MAX_OUT_OF_BAG_ROWS, replace=False))
            rows, member = rows[keep], member[keep]
        Xo = model.prepare(train.iloc[rows].reset_index(drop=True))
        logits = member_log_odds(model, ensemble, Xo)
        offset = logits[member, np.arange(len(rows))]
        parts.append(_group_part(model, logits, Xo, offset, train[contract.label].astype(int).to_numpy()[rows],
                                 group_rows, seed))
        oob_rows = len(rows)
    tau, low, high = _profile(parts, max_extra_sd)
    details = {"rows": int(len(held_out)), "out_of_bag_rows": oob_rows,
               "groups": int(sum(len(p[3]) for p in parts)), "estimated_sd": tau,
               "estimated_sd_low": low, "estimated_sd_high": high, "source": "pooled"}
    if len(parts) > 1:
        # the deployed model faces the future as the test period did: if the test period alone
        # shows a clearly larger shared error (drift the training span cannot show), it wins
        test_tau, test_low, test_high = _profile(parts[:1], max_extra_sd)
        details.update(test_period_sd=test_tau, test_period_sd_low=test_low, test_period_sd_high=test_high)
        if test_low > tau:
            tau = test_tau
            details.update(estimated_sd=tau, estimated_sd_low=test_low, estimated_sd_high=test_high,
                           source="test period")
    return tau, details


def coverage(low: np.ndarray, high: np.ndarray, truth: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    """Share of rows whose true probability lies in their interval: overall and per yardstick band
    of the printed estimate, with the rows counted and the median width."""
    low, high, truth = (np.asarray(a, float) for a in (low, high, truth))
    inside = (truth >= low) & (truth <= high)
    bands = np.asarray(BAND_NAMES, dtype=object)[band_index(probability)]
    frame = pd.DataFrame({"band": bands, "inside": inside, "width": high - low})
    rows = [{"band": "all", "rows": len(frame), "coverage": float(inside.mean()) if len(frame) else float("nan"),
             "median_width": float(frame["width"].median()) if len(frame) else float("nan")}]
    for name in BAND_NAMES:
        part = frame[frame["band"] == name]
        if len(part):
            rows.append({"band": name, "rows": len(part), "coverage": float(part["inside"].mean()),
                         "median_width": float(part["width"].median())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Training: fit, widen, measure, attach
# ----------------------------------------------------------------------------------------------
def _slug(name: str) -> str:
    return name.replace(" ", "_")


def _pairs(evaluated, deployed, train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame) -> dict:
    """(evaluated model, deployed model, its training rows, test rows, all rows) per ensemble to fit:
    one for a single model, one per segment for segment models (:mod:`resilience.segments`)."""
    if not is_segmented(evaluated):
        return {"": (evaluated, deployed, train, test, history)}
    column = evaluated.column_
    pairs = {}
    for value, model in evaluated.segments_.items():
        rows = lambda frame: frame[frame[column].astype(str) == value]  # noqa: E731
        pairs[value] = (model, deployed.segments_[value], rows(train), rows(test), rows(history))
    return pairs


def attach_intervals(deployed, evaluation, history: pd.DataFrame, split_config, config: IntervalConfig,
                     truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Give ``deployed`` its ensemble (``interval_ensemble_``; per segment for segment models) and
    measure it; returns the coverage table (empty without a truth).

    One ensemble is fitted on the evaluated model's training rows (the training span); the
    out-of-bag and test-period labels set its extra spread (:func:`estimate_extra_spread`), its test-period ranges
    are measured against ``truth`` when one is given (synthetic worlds), and the deployed model
    (refitted on every labelled row) ships with it: a deployed line's range is the deployed
    estimate +- the spread of these refits and the extra spread. Refitting a second ensemble on every row
    would double the cost for a spread that is, if anything, slightly narrower (more rows). Metrics are added to ``evaluation.metrics`` as ``interval_*`` and the
    test-period predictions gain ``probability_low`` / ``probability_high`` / ``band_uncertain``.
    """
    from resilience.split import split_by_line_and_time

    contract = deployed.contract
    evaluated = evaluation.model
    train_idx, _, _ = split_by_line_and_time(history, contract.date_column, contract.line_column, split_config)
    test = evaluation.test_frame
    metrics, widths = {"interval_level": config.level}, []
    for key, (model, target, train, held_out, _rows) in _pairs(evaluated, deployed, history.loc[train_idx], test, history).items():
        ensemble = fit_ensemble(model, train, config)
        estimated = 0.0
        if config.widen == "held_out":
            estimated, ensemble.widen_details = estimate_extra_spread(
                model, ensemble, held_out, train, config.group_rows, config.max_extra_sd, config.seed)
        ensemble.positions = []  # only needed for the estimate; not shipped
        ensemble.extra_sd = float(np.hypot(estimated, config.unobserved_sd))
        model.interval_ensemble_ = ensemble  # for the test-period table below
        target.interval_ensemble_ = ensemble  # the deployed model's spread: refits on the training span
        suffix = f"_{_slug(key)}" if key else ""
        metrics[f"interval_extra_sd{suffix}"] = ensemble.extra_sd
        for name in ("estimated_sd", "estimated_sd_low", "estimated_sd_high"):
            if name in ensemble.widen_details:
                metrics[f"interval_{name}{suffix}"] = ensemble.widen_details[name]
        widths.append((estimated, ensemble.extra_sd, len(held_out)))
    predictions = evaluation.test_predictions
    probability = predictions["persistence_probability"].to_numpy(float)
    table = interval_table(evaluated, test, probability)
    if evaluated is not deployed:
        for key, (model, *_rest) in _pairs(evaluated, evaluated, test, test, test).items():
            model.interval_ensemble_ = None  # carried by the deployed model only
    for column in INTERVAL_COLUMNS:
        predictions[column] = table[column].to_numpy()
    rows = max(sum(n for *_, n in widths), 1)
    metrics["interval_estimated_sd"] = float(sum(w * n for w, _, n in widths) / rows)
    metrics["interval_extra_sd"] = float(sum(w * n for _, w, n in widths) / rows)
    metrics["interval_unobserved_sd"] = config.unobserved_sd
    metrics["interval_median_width"] = float(np.median(table["probability_high"] - table["probability_low"]))
    metrics["interval_band_uncertain_share"] = float(table["band_uncertain"].mean())
    covered = pd.DataFrame()
    if truth is not None:
        true_probability = predictions[[contract.id_column]].merge(truth, on=contract.id_column, how="left")["true_probability"]
        if true_probability.notna().all():
            covered = coverage(table["probability_low"], table["probability_high"], true_probability, probability)
            for row in covered.to_dict("records"):
                key = "interval_coverage" if row["band"] == "all" else f"interval_coverage_{_slug(row['band'])}"
                metrics[key] = row["coverage"]
    evaluation.metrics.update(metrics)
    log.info("intervals: extra log-odds sd %.2f estimated + %.2f assumed, coverage %s",
             metrics["interval_estimated_sd"], config.unobserved_sd, metrics.get("interval_coverage", "not measured"))
    return covered
