"""What the labels can show: the extra log-odds spread the test period shows beyond the members'
(``tau``, a variance-components estimate), and coverage where a truth exists (see the package
docstring)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_expit, logsumexp

from resilience.core.yardstick import BAND_NAMES, band_index
from resilience.learn.ranges.bounds import LOG_WEIGHTS, NODES, logit

# the extra spread's groups: at least this many, of at least this many rows
MIN_GROUPS, MIN_GROUP_ROWS = 20, 25
# what a coverage row holds beside its band and rows (see coverage)
COVERAGE_FIGURES = (
    "coverage",
    "median_width",
    "mean_width",
    "flat_width",
    "interval_score",
    "flat_interval_score",
)


def similar_groups(estimate: np.ndarray, cohort: np.ndarray | None, group_rows: int) -> np.ndarray:
    """Groups of about ``group_rows`` rows with similar estimates (log-odds), within each cohort."""
    estimate = np.asarray(estimate, float)
    cohort_codes = (
        np.zeros(len(estimate), dtype=int)
        if cohort is None
        else pd.factorize(pd.Series(cohort).astype(str))[0]
    )
    groups = np.empty(len(estimate), dtype=int)
    next_group = 0
    for code in np.unique(cohort_codes):
        rows = np.flatnonzero(cohort_codes == code)
        n_groups = max(1, len(rows) // group_rows)
        ranks = np.argsort(np.argsort(estimate[rows], kind="stable"), kind="stable")
        groups[rows] = next_group + ranks * n_groups // len(rows)
        next_group += n_groups
    return groups


def _negative_log_likelihood(tau: float, parts: list[tuple]) -> float:
    """-log marginal likelihood of y ~ Bernoulli(expit(offset + b_g)), b_g ~ N(0, tau^2 + v_g)
    shared by each group's rows (Gauss-Hermite quadrature over b_g)."""
    total = 0.0
    for offset, y, groups, v in parts:
        sd = np.sqrt(tau * tau + v)[groups]
        eta = offset[:, None] + sd[:, None] * NODES[None, :]
        loglik = np.where(y[:, None] == 1, log_expit(eta), log_expit(-eta))
        per_group = np.stack(
            [np.bincount(groups, loglik[:, k], minlength=len(v)) for k in range(len(NODES))],
            axis=1,
        )
        total -= float(logsumexp(per_group + LOG_WEIGHTS, axis=1).sum())
    return total


def _profile(
    parts: list[tuple], max_extra_sd: float, prior_sd: float
) -> tuple[float, float, float]:
    """The most probable ``tau`` under a half-normal prior of scale ``prior_sd`` (the marginal
    likelihood times the prior, on a grid then refined: with few groups the likelihood alone is
    flat and its maximum can jump far, measured: 1.54 on a world of 1,000 test rows whose 95% interval
    ran from 0 to 2), and the likelihood's own 95% profile interval."""
    penalty = (lambda t: 0.5 * (t / prior_sd) ** 2) if prior_sd > 0 else (lambda t: 0.0)
    grid = np.linspace(0.0, max_extra_sd, 61)
    nll = np.array([_negative_log_likelihood(t, parts) for t in grid])
    start = int(np.argmin(nll + np.array([penalty(t) for t in grid])))
    step = grid[1] - grid[0]
    fit = minimize_scalar(
        lambda t: _negative_log_likelihood(t, parts) + penalty(t),
        bounds=(max(0.0, grid[start] - step), min(max_extra_sd, grid[start] + step)),
        method="bounded",
    )
    tau = float(fit.x)
    best = min(float(nll.min()), _negative_log_likelihood(tau, parts))
    inside = grid[2 * (nll - best) <= 3.84]
    if not len(inside):
        return tau, tau, tau
    return tau, float(min(inside.min(), tau)), float(max(inside.max(), tau))


def estimate_extra_spread(
    model,
    held_out: pd.DataFrame,
    X: pd.DataFrame,
    errors: np.ndarray,
    group_rows: int = 200,
    max_extra_sd: float = 3.0,
    prior_sd: float = 0.5,
) -> tuple[float, dict]:
    """The log-odds spread of the errors *beyond* the members' that the test period can show
    (``X``: ``held_out``'s input matrix; ``errors``: the members' errors on it, :func:`deviations`).

    A variance-components estimate: the test period's rows are grouped by the data config's
    ``cohort_column`` and, within it, ``group_rows`` at a time by the model's estimate
    (:func:`similar_groups`; smaller groups, down to ``MIN_GROUP_ROWS``, when that would give fewer
    than ``MIN_GROUPS``), and ``tau`` maximises the marginal likelihood of
    ``y ~ Bernoulli(expit(offset + b_g))``, ``b_g ~ N(0, tau^2 + v_g)`` times a half-normal prior of
    scale ``prior_sd`` (which matters only when the groups are few), where the offset is the
    model's log-odds and ``v_g`` the members' mean squared error of the group's mean log-odds. What
    it sees is what the training span could not: a shift of the world after it (drift), shared by
    lines of one cohort with similar estimates. A 95% profile-likelihood interval is returned in
    the details.

    **What labels cannot show.** For a calibrated model the Brier score equals ``E[p(1-p)]`` whatever
    its error to the true probability, and one outcome per disruption identifies nothing about a
    single row's error beyond what groups of rows share. That part is
    :attr:`IntervalConfig.unobserved_sd`, an assumption, added by the caller.
    """
    contract = model.contract
    held_out = held_out.reset_index(drop=True)
    if not len(held_out):
        return 0.0, _details(0, 0, (0.0, 0.0, 0.0), "no test period")
    offset = logit(model.probability_of(X, held_out))
    cohort = (
        held_out[contract.cohort_column].to_numpy() if contract.cohort_column in held_out else None
    )
    groups = similar_groups(
        offset, cohort, max(MIN_GROUP_ROWS, min(group_rows, len(held_out) // MIN_GROUPS))
    )
    counts = np.bincount(groups)
    group_error = np.stack([np.bincount(groups, row) / np.maximum(counts, 1) for row in errors])
    # a carried drift's own error is known too: shared by a group's rows (one trend per cohort)
    drift = np.bincount(groups, model.drift_sd_of(X, held_out) ** 2) / np.maximum(counts, 1)
    parts = [
        (
            offset,
            held_out[contract.label].astype(int).to_numpy(),
            groups,
            (group_error**2).mean(axis=0) + drift,
        )
    ]
    tau, low, high = _profile(parts, max_extra_sd, prior_sd)
    return tau, _details(len(held_out), len(counts), (tau, low, high), "test period")


def _details(rows: int, groups: int, estimate: tuple[float, float, float], source: str) -> dict:
    """What the extra spread was estimated from: rows, groups, the estimate and its 95% interval."""
    sd, low, high = estimate
    return {
        "rows": int(rows),
        "groups": int(groups),
        "estimated_sd": sd,
        "estimated_sd_low": low,
        "estimated_sd_high": high,
        "source": source,
    }


def interval_score(
    low: np.ndarray, high: np.ndarray, truth: np.ndarray, level: float
) -> np.ndarray:
    """Each row's interval score (Gneiting and Raftery 2007, "Strictly proper scoring rules",
    *JASA* 102(477)) of its central ``level`` range: the width, plus ``2 / (1 - level)`` times how
    far the truth lies outside. Lower is better, and it is *proper*: in expectation no rule beats
    the true quantiles, so it rewards ranges narrow where lines are sure and wide where they are
    not, and no range scores well by coverage or width alone."""
    low, high, truth = (np.asarray(a, float) for a in (low, high, truth))
    penalty = 2.0 / (1.0 - level)
    return (high - low) + penalty * (np.clip(low - truth, 0, None) + np.clip(truth - high, 0, None))


def coverage(
    low: np.ndarray,
    high: np.ndarray,
    truth: np.ndarray,
    probability: np.ndarray,
    level: float = 0.8,
) -> pd.DataFrame:
    """Share of rows whose true probability lies in their interval: overall and per yardstick band
    of the printed estimate, with the rows counted, the median and mean widths beside the width of
    a flat range (the estimate ± the same w for every line) holding the same share of the truths,
    and the ranges' mean interval score (:func:`interval_score`) beside the best flat range's.

    The scores are the test of whether the ranges say more than a flat range: the best flat range
    for this score is the estimate ± the ``level`` quantile of the misses (up to clipping at 0 and
    1), so a ratio below 1 beats every flat width, even one chosen knowing the truth. The widths
    alone are not that test: ranges exactly right for every line are widest near 50%, and where
    most lines sit near the middle their median, and even their mean, can exceed the flat width of
    the same coverage (``docs/ranges.md``)."""
    low, high, truth = (np.asarray(a, float) for a in (low, high, truth))
    probability = np.asarray(probability, float)
    miss = np.abs(truth - probability)
    inside = (truth >= low) & (truth <= high)
    bands = np.asarray(BAND_NAMES, dtype=object)[band_index(probability)]
    frame = pd.DataFrame(
        {
            "band": bands,
            "inside": inside,
            "width": high - low,
            "miss": miss,
            "probability": probability,
            "truth": truth,
            "score": interval_score(low, high, truth, level),
        }
    )
    rows = [_coverage_row("all", frame, level)] + [
        _coverage_row(name, frame[frame["band"] == name], level)
        for name in BAND_NAMES
        if (frame["band"] == name).any()
    ]
    return pd.DataFrame(rows)


def _coverage_row(band: str, part: pd.DataFrame, level: float) -> dict:
    """One band's coverage, widths (and a flat range's of the same coverage) and scores (and the
    best flat range's)."""
    if not len(part):
        return {"band": band, "rows": 0, **dict.fromkeys(COVERAGE_FIGURES, float("nan"))}
    covered = float(part["inside"].mean())
    w = float(np.quantile(part["miss"], level))  # the flat width with the lowest score
    p = part["probability"].to_numpy()
    flat = interval_score(np.clip(p - w, 0, 1), np.clip(p + w, 0, 1), part["truth"], level)
    return {
        "band": band,
        "rows": len(part),
        "coverage": covered,
        "median_width": float(part["width"].median()),
        "mean_width": float(part["width"].mean()),
        "flat_width": float(2 * np.quantile(part["miss"], covered)),
        "interval_score": float(part["score"].mean()),
        "flat_interval_score": float(flat.mean()),
    }
