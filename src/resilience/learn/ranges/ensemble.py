"""The ensemble behind every line's range: refits of the model's recipe (on labels drawn from the
model itself, or on resamples of lines), their errors, and the small spread model that ships with
the registered model instead of them (see the package docstring)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from resilience.core.errors import ResilienceError
from resilience.learn.calibration import Calibrator
from resilience.learn.ranges.bounds import EPS, logit, logit_normal_centre
from resilience.learn.split import calibration_slice


@dataclass(frozen=True)
class IntervalConfig:
    """How the per-line ranges are made (``configs/intervals/default.yaml``)."""

    enabled: bool = True
    n_models: int = 6  # refits (cost: about one final fit each, without early-stopping folds)
    resample: str = "parametric"  # parametric: labels drawn from the model | lines: of lines
    level: float = 0.8  # nominal coverage of the interval
    widen: str = "held_out"  # held_out: extra spread estimated on the test period | none
    group_rows: int = 200  # rows per group of similar estimates when estimating the extra spread
    unobserved_sd: float = 0.3  # ASSUMED log-odds sd no outcome can show (package docstring)
    max_extra_sd: float = 3.0  # a guard: the estimated extra spread never exceeds this
    extra_sd_prior: float = 0.5  # half-normal prior scale of the estimated extra spread (0: none)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise ResilienceError(
                f"intervals.level must lie strictly between 0 and 1, not {self.level}"
            )
        if self.n_models < 2:
            raise ResilienceError(f"intervals.n_models must be at least 2, not {self.n_models}")
        if self.resample not in ("parametric", "lines"):
            raise ResilienceError(
                f"intervals.resample must be parametric or lines, not {self.resample!r}"
            )
        if self.widen not in ("held_out", "none"):
            raise ResilienceError(f"intervals.widen must be held_out or none, not {self.widen!r}")
        if self.group_rows < 10:
            raise ResilienceError(
                f"intervals.group_rows must be at least 10, not {self.group_rows}"
            )
        if self.extra_sd_prior < 0:
            raise ResilienceError(
                f"intervals.extra_sd_prior must be 0 (none) or positive, not {self.extra_sd_prior}"
            )
        if not 0 <= self.unobserved_sd <= 5:
            raise ResilienceError(
                f"intervals.unobserved_sd must lie between 0 and 5 (log-odds), not {self.unobserved_sd}"
            )


@dataclass
class Member:
    """One refit: the estimator and its calibrator (``design``: a logistic model's own design,
    when it is not the main model's)."""

    estimator: object
    calibrator: Calibrator
    design: object = None


@dataclass
class IntervalEnsemble:
    """The refits behind every line's range, stored on the deployed model.

    Ensembles pickled before a field existed read its default (a class attribute), so older
    versions keep scoring.
    """

    members: list[Member]
    level: float
    reference: Member | None = None  # parametric: the model the members' labels were drawn from
    # the members' mean squared error as a function of the columns (what ships)
    spread_model: object = None
    widen_details: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    extra_sd: float = 0.0  # log-odds sd added in quadrature: sqrt(estimated^2 + unobserved_sd^2)
    # the components of the spread, for drawing a week's probabilities jointly (resilience.learn.
    # ranges.draws): the estimated extra sd shared by lines of one cohort with similar estimates,
    # the assumed per-line part, and the share of the refits' squared error such lines share.
    # None: an ensemble fitted before they were kept (its week has no joint draws).
    shared_sd: float | None = None
    unobserved_sd: float | None = None
    refit_shared_share: float = 0.0
    # r^2 as a function of the record (records as they stood: resilience.learn.ranges.incompleteness)
    incompleteness_model: object = None

    @property
    def z(self) -> float:
        return float(norm.ppf(0.5 + self.level / 2))


def line_bootstrap(lines: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Row positions of a bootstrap resample of lines (each drawn line brings all its rows)."""
    codes, uniques = pd.factorize(pd.Series(lines).astype(str), sort=False)
    counts = np.bincount(rng.integers(0, len(uniques), size=len(uniques)), minlength=len(uniques))
    weights = counts[codes]
    return np.repeat(np.arange(len(codes)), weights)


def draw_labels(
    probability: np.ndarray,
    lines: pd.Series,
    line_sd: float,
    rng: np.random.Generator,
    disruptions: pd.Series | None = None,
) -> np.ndarray:
    """Outcomes drawn from ``probability`` with a shared per-line log-odds effect ``N(0, line_sd^2)``;
    the log-odds are centred (:func:`logit_normal_centre`) so each row's expected outcome is still
    its probability. ``disruptions`` (an id per row): the rows of one disruption (its snapshots)
    share one outcome, drawn from its first row's probability (the caller puts its most complete
    record first)."""
    codes, uniques = pd.factorize(pd.Series(lines).astype(str), sort=False)
    centre = logit_normal_centre(probability, np.full(len(probability), float(line_sd)))
    effect = rng.normal(0.0, line_sd, len(uniques))[codes] if line_sd > 0 else 0.0
    if disruptions is None:
        return (rng.random(len(probability)) < expit(centre + effect)).astype(int)
    unit, first = np.unique(pd.factorize(pd.Series(disruptions).astype(str))[0], return_index=True)
    drawn = rng.random(len(unit)) < expit(centre + effect)[first]
    return drawn[pd.factorize(pd.Series(disruptions).astype(str))[0]].astype(int)


def _fit_member(
    model,
    X: pd.DataFrame,
    y: np.ndarray,
    dates: pd.Series,
    positions: np.ndarray,
    seed: int,
    disruptions: pd.Series | None = None,
    lines: pd.Series | None = None,
) -> Member:
    Xb, yb, db = X.iloc[positions], y[positions], dates.iloc[positions].reset_index(drop=True)
    fraction = model.calibration_fraction if model.calibration != "none" else 0
    groups = None if disruptions is None else disruptions.iloc[positions].reset_index(drop=True)
    fit_pos, cal_pos = calibration_slice(db, fraction, groups)
    if len(np.unique(yb[fit_pos])) < 2:
        raise ResilienceError(
            "a resample held only one outcome; the history is too small for intervals"
        )
    # the same recipe and capacity; a tree model's own row and feature subsampling
    member = Member(model.refit_estimator(Xb.iloc[fit_pos], yb[fit_pos], seed), Calibrator("none"))
    if model.calibration != "none" and len(cal_pos) and len(np.unique(yb[cal_pos])) == 2:
        # the recipe's own calibration (one intercept per cohort when the model has them)
        margin = _margin(model, member, Xb)
        line_ids = None if lines is None else lines.iloc[positions].to_numpy()
        member.calibrator = model.calibrate(
            margin, Xb, yb, db, fit_pos, cal_pos, line_ids, as_fitted=True
        )
    return member


def fit_ensemble(model, frame: pd.DataFrame, config: IntervalConfig) -> IntervalEnsemble:
    """Refit ``model``'s recipe ``config.n_models`` times on the rows of ``frame`` (the rows ``model``
    was fitted on): on labels drawn from ``model`` itself (``parametric``) or on bootstrap resamples
    of lines (``lines``)."""
    start = time.perf_counter()
    contract = model.contract
    frame = most_complete_first(frame.reset_index(drop=True), contract)
    X = model.prepare(frame)
    y = frame[contract.label].astype(int).to_numpy()
    dates, lines = frame[contract.date_column], frame[contract.line_column]
    disruptions = frame[contract.id_column]
    shared = disruptions if disruptions.duplicated().any() else None  # snapshots share a label
    rng = np.random.default_rng(config.seed)
    reference = None
    if config.resample == "parametric":
        reference = Member(model.estimator_, model.calibrator_)  # the model itself
        probability = model.probability_of(X, frame)
    members = []
    for b in range(config.n_models):
        if reference is not None:
            labels, positions = (
                draw_labels(probability, lines, config.unobserved_sd, rng, shared),
                np.arange(len(frame)),
            )
        else:
            labels, positions = y, line_bootstrap(lines, rng)
        seed = int(config.seed) * 1000 + b + 1
        members.append(_fit_member(model, X, labels, dates, positions, seed, disruptions, lines))
    return IntervalEnsemble(
        members, config.level, reference, fit_seconds=time.perf_counter() - start
    )


def most_complete_first(frame: pd.DataFrame, contract) -> pd.DataFrame:
    """``frame`` ordered by record age, oldest first (stable), so each disruption's most complete
    record comes before its younger snapshots; unchanged without a record-age column."""
    column = contract.record_age_column
    if column is None or column not in frame.columns:
        return frame
    order = np.argsort(-frame[column].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _margin(model, member: Member, X: pd.DataFrame) -> np.ndarray:
    """A member's uncalibrated log-odds on the model's input matrix ``X``."""
    return model.member_margin(member.estimator, member.design, X)


def _log_odds(model, member: Member, X: pd.DataFrame) -> np.ndarray:
    return logit(member.calibrator(_margin(model, member, X) + member.calibrator.offset(X)))


def member_log_odds(model, ensemble: IntervalEnsemble, X: pd.DataFrame) -> np.ndarray:
    """Calibrated log-odds of every member (members x rows) on the model's input matrix ``X``."""
    out = np.empty((len(ensemble.members), len(X)))
    for i, member in enumerate(ensemble.members):
        out[i] = _log_odds(model, member, X) if len(X) else out[i]
    return out


def deviations(model, ensemble: IntervalEnsemble, X: pd.DataFrame) -> np.ndarray:
    """Each member's error (members x rows, log-odds): to the reference it was drawn from
    (parametric), or to the members' mean (resamples of lines)."""
    logits = member_log_odds(model, ensemble, X)
    reference = ensemble.reference
    if not len(X):
        return logits
    if reference is None:
        return (logits - logits.mean(axis=0)) * np.sqrt(len(logits) / max(len(logits) - 1, 1))
    return logits - _log_odds(model, reference, X)


def spread(model, ensemble: IntervalEnsemble, X: pd.DataFrame) -> np.ndarray:
    """Root-mean-square of the members' errors per row (their standard deviation for resamples):
    from the shipped spread model when there is one (:func:`fit_spread_model`), else from the members."""
    spread_model = ensemble.spread_model
    if spread_model is not None:
        return np.sqrt(np.clip(spread_model.predict(X), EPS, None)) if len(X) else np.zeros(0)
    return np.sqrt((deviations(model, ensemble, X) ** 2).mean(axis=0))


SPREAD_MODEL_PARAMS = {
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 8,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "verbose": -1,
}


def fit_spread_model(model, X: pd.DataFrame, errors: np.ndarray, seed: int = 0):
    """A small regression (LightGBM, :data:`SPREAD_MODEL_PARAMS`) of each row's mean squared member
    error (``errors``: members x rows, :func:`deviations`) on the model's input matrix ``X``: the
    test period's rows, which no member trained on and which, like the weeks to be scored, come
    after the training span.

    Scoring then costs one small prediction instead of every member's (measured on the default
    world: each member's ~1,500 trees cost about as much as the main model's probability, so six
    members and the reference tripled scoring time). It also smooths: a row's error over six members
    is a noisy estimate (its correlation with an independent ensemble's was 0.51), and the
    regression keeps what varies with the columns (lines of rare kinds get wider ranges) and
    averages the rest. On the training span's rows (the members' own data) the error ran about 10%
    higher than on the test period (measured), so those rows join only a tiny test period."""
    from lightgbm import LGBMRegressor  # lazy: LightGBM loads its native library at import

    error = (np.asarray(errors) ** 2).mean(axis=0)
    threads = model.n_jobs
    params = {
        **SPREAD_MODEL_PARAMS,
        "random_state": seed,
        **({"n_jobs": int(threads)} if threads else {}),
    }
    return LGBMRegressor(**params).fit(X, error)
