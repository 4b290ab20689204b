"""A range for every line: an ensemble of refits on bootstrap resamples of lines.

What is computed
----------------
**Members.** ``n_models`` copies of the main model's recipe are refitted, each on a resample
*of lines* (rows of one line are not independent, so resampling rows would understate the
spread): by default half the lines drawn without replacement (``resample: half``; for a smooth
statistic the half-sample spread equals the bootstrap's, at half the cost of a fit), or a
bootstrap of lines (``resample: bootstrap``: a line drawn ``k`` times brings its rows ``k``
times). One ensemble is fitted on the training span: it sets the widening on the test period and
ships with the deployed model (see :func:`attach_intervals`). Each refit is the
main fit made cheap: the same parameters and the main fit's number of trees (no inner
early-stopping folds), the main model's feature space (so every member reads the same
categories), and its own calibrator fitted on the most recent ``calibration_fraction`` of its
resample, exactly as the main recipe does.

**The interval.** For a line, let ``m`` be the main model's calibrated log-odds and ``s`` the
standard deviation of the members' calibrated log-odds. The interval at level ``level`` is::

    sigmoid(m - widen * z * s)  ..  sigmoid(m + widen * z * s),    z = Phi^-1((1 + level) / 2)

It is centred on the main estimate (so it always contains the printed probability), symmetric in
log-odds (so it never leaves 0-1), and uses the members' standard deviation rather than their
empirical percentiles (ten members cannot place a 10th percentile; their spread they can).

**Widening, estimated without the truth.** Bootstrap intervals of a regularised, drifting model
miss its bias: the members share the main model's shrinkage and cannot know how the world moved
after their training span (on the default synthetic world the unwidened 80% interval held the
true probability for only 49% of test lines). ``widen`` is estimated on *held-out labels*: the
evaluation's test period, which neither the evaluated model nor its members trained on. One
line's single outcome cannot show how far its probability is from the estimate, but the rate of
a group of lines the model sees alike can: test rows are grouped ``group_rows`` at a time
(k-means on their log-odds contributions), each group's squared error of its mean estimate
against its observed rate, less binomial noise, is compared with the variance the members
predict for that mean, and ``widen`` is the square root of the ratio (at least 1, at most
``max_widen``). The deployed model's ensemble inherits the factor. Small groups are used because
the target is a line's own probability (larger groups average the members' noise away faster
than shared bias and give larger factors: on the default world 25 rows gave 2.1, 100 rows 2.6).
Coverage of the *true* probability is only *measured*, never fitted, where a truth exists
(``truth.parquet`` of a synthetic world): :func:`coverage`, logged by training overall and per
yardstick band.

**Limits (measured, see ``benchmarks/intervals.py``).** The factor is poorly determined by one
test period: resampling its groups gives a 95% interval of 1.0-3.0 on the default world (7,600
test rows), logged as ``interval_widen_low`` / ``_high`` with a warning. On the default world the
ranges held the truth for 81% of lines, but on three worlds with other mechanisms 88%, 52% and
50% (the factor fell to its floor of 1). A line's own unrecorded character (anything constant
within a line that no column measures) is invisible in one outcome per disruption and only
partly in the range.

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
from scipy.stats import norm

from resilience.errors import ResilienceError
from resilience.models import Calibrator
from resilience.segments import interval_table_segmented, is_segmented
from resilience.split import calibration_slice
from resilience.yardstick import BAND_NAMES, band

log = logging.getLogger(__name__)

INTERVAL_COLUMNS = ("probability_low", "probability_high", "band_uncertain")
_EPS = 1e-6
MIN_GROUPS = 100  # fewer groups of held-out lines than this: the widening factor is flagged as unreliable


@dataclass(frozen=True)
class IntervalConfig:
    """How the per-line ranges are made (``configs/intervals/default.yaml``)."""

    enabled: bool = True
    n_models: int = 8           # refits (cost: about half a final fit each with resample="half")
    resample: str = "half"      # half: half the lines without replacement | bootstrap: lines with replacement
    level: float = 0.8          # nominal coverage of the interval
    widen: str = "held_out"     # held_out: factor estimated on the test period's labels | none: 1.0
    group_rows: int = 25        # rows per group of similar lines when estimating the factor
    max_widen: float = 4.0      # a guard: never widen more than this
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
    widen: float = 1.0
    widen_details: dict = field(default_factory=dict)
    fit_seconds: float = 0.0

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
    for b in range(config.n_models):
        positions = resample(frame[contract.line_column], rng)
        members.append(_fit_member(model, X, y, dates, positions, seed=int(config.seed) * 1000 + b + 1))
    return IntervalEnsemble(members, config.level, widen, fit_seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------
# Prediction
# ----------------------------------------------------------------------------------------------
def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


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


def bounds(probability: np.ndarray, sd: np.ndarray, z: float, widen: float) -> tuple[np.ndarray, np.ndarray]:
    """The interval around ``probability`` for a log-odds standard deviation ``sd``."""
    centre = _logit(probability)
    half = widen * z * np.asarray(sd, float)
    low = np.minimum(_sigmoid(centre - half), probability)
    high = np.maximum(_sigmoid(centre + half), probability)
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
    low, high = bounds(np.asarray(probability, float), spread(model, ensemble, X), ensemble.z, ensemble.widen)
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
    return KMeans(n_clusters=n_groups, n_init=3, random_state=seed).fit_predict(features)


def estimate_widen(model, ensemble: IntervalEnsemble, frame: pd.DataFrame, group_rows: int = 50,
                   max_widen: float = 4.0, seed: int = 0) -> tuple[float, dict]:
    """The factor by which the members' spread must grow to explain held-out errors.

    ``frame`` holds labelled rows neither ``model`` nor its members trained on. For each group
    ``g`` of similar lines (:func:`similar_groups`), the squared error of the group's mean
    probability against its observed rate, less binomial noise, is an unbiased estimate of the
    group's squared error against the truth (``excess_g``); the members predict the variance
    of the group's mean probability (``V_g``). ``widen = sqrt(sum n_g excess_g / sum n_g V_g)``,
    at least 1 and at most ``max_widen``. The label of a single line cannot show how far its own
    probability is from the estimate (one outcome per disruption); a group's rate can, which is
    why the factor is measured on groups and applied to lines.
    """
    contract = model.contract
    frame = frame.reset_index(drop=True)
    y = frame[contract.label].astype(int).to_numpy()
    X = model.prepare(frame)
    probability = model.calibrator_(model._margin(X))
    members = _sigmoid(member_log_odds(model, ensemble, X))
    groups = similar_groups(model, X, group_rows, seed)
    table = pd.DataFrame({"group": groups, "residual": y - probability, "noise": probability * (1 - probability)})
    agg = table.groupby("group").agg(residual=("residual", "mean"), noise=("noise", "sum"), n=("residual", "size"))
    excess = agg["residual"] ** 2 - agg["noise"] / agg["n"] ** 2
    member_means = pd.DataFrame(members.T).groupby(groups).mean()
    predicted = member_means.var(axis=1, ddof=1).reindex(agg.index)
    ratio = _variance_ratio(excess, predicted, agg["n"])
    widen = float(np.clip(np.sqrt(max(ratio, 0.0)), 1.0, max_widen))
    # how well the groups pin the factor down: resample the groups (95% percentile interval)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(agg), len(agg)) for _ in range(200)]
    ratios = np.array([_variance_ratio(excess.iloc[d], predicted.iloc[d], agg["n"].iloc[d]) for d in draws])
    low, high = (float(np.clip(np.sqrt(max(r, 0.0)), 1.0, max_widen)) for r in np.quantile(ratios, [0.025, 0.975]))
    details = {"groups": int(len(agg)), "rows": int(len(frame)), "variance_ratio": ratio, "widen": widen,
               "widen_low": low, "widen_high": high}
    if len(agg) < MIN_GROUPS or high > 1.5 * low:
        details["warning"] = (f"{len(frame)} held-out rows ({len(agg)} groups of similar lines) pin the widening "
                              f"factor down only to {low:.2f}-{high:.2f} (estimate {widen:.2f}): the ranges may be "
                              "too narrow or too wide")
        log.warning("intervals: %s", details["warning"])
    return widen, details


def _variance_ratio(excess: pd.Series, predicted: pd.Series, n: pd.Series) -> float:
    return float((excess.to_numpy() * n.to_numpy()).sum() / max(float((predicted.to_numpy() * n.to_numpy()).sum()), 1e-12))


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
    test-period labels set its widening factor (:func:`estimate_widen`), its test-period ranges
    are measured against ``truth`` when one is given (synthetic worlds), and the deployed model
    (refitted on every labelled row) ships with it: a deployed line's range is the deployed
    estimate +- the widened spread of these refits. Refitting a second ensemble on every row
    would double the cost for a spread that is, if anything, slightly narrower (more rows). Metrics are added to ``evaluation.metrics`` as ``interval_*`` and the
    test-period predictions gain ``probability_low`` / ``probability_high`` / ``band_uncertain``.
    """
    from resilience.split import split_by_line_and_time

    start = time.perf_counter()
    contract = deployed.contract
    evaluated = evaluation.model
    train_idx, _, _ = split_by_line_and_time(history, contract.date_column, contract.line_column, split_config)
    test = evaluation.test_frame
    metrics, widths = {"interval_level": config.level}, []
    for key, (model, target, train, held_out, _rows) in _pairs(evaluated, deployed, history.loc[train_idx], test, history).items():
        ensemble = fit_ensemble(model, train, config)
        if config.widen == "held_out":
            ensemble.widen, ensemble.widen_details = estimate_widen(
                model, ensemble, held_out, config.group_rows, config.max_widen, config.seed)
        model.interval_ensemble_ = ensemble  # for the test-period table below
        target.interval_ensemble_ = ensemble  # the deployed model's spread: refits on the training span
        suffix = f"_{_slug(key)}" if key else ""
        metrics[f"interval_widen{suffix}"] = ensemble.widen
        for end in ("low", "high"):
            if f"widen_{end}" in ensemble.widen_details:
                metrics[f"interval_widen{suffix}_{end}"] = ensemble.widen_details[f"widen_{end}"]
        widths.append((ensemble.widen, len(held_out)))
    predictions = evaluation.test_predictions
    probability = predictions["persistence_probability"].to_numpy(float)
    table = interval_table(evaluated, test, probability)
    if evaluated is not deployed:
        for key, (model, *_rest) in _pairs(evaluated, evaluated, test, test, test).items():
            model.interval_ensemble_ = None  # carried by the deployed model only
    for column in INTERVAL_COLUMNS:
        predictions[column] = table[column].to_numpy()
    metrics["interval_widen"] = float(sum(w * n for w, n in widths) / max(sum(n for _, n in widths), 1))
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
    evaluation.timings["intervals"] = time.perf_counter() - start
    log.info("intervals: widen %.2f, coverage %s", metrics["interval_widen"], metrics.get("interval_coverage", "not measured"))
    return covered
