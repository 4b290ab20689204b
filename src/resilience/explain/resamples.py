"""The reason screen's fits: resamples of the lines, each with every random stream changed.

A screen judged on one sample flips with the seed for features near its bar (the disruption's
grade passed at 4.42 and failed at 3.01 against 3.5 between two seeds; the top reason changed for
8% of lines). Stability here does not come from removing randomness: each of ``resamples``
resamples keeps ``resample_share`` of the training span's **lines** (a drawn line brings all its
rows), and its own random stream draws which lines, which rows the fits use (``max_rows``), the
permuted labels, the model's own row and feature subsampling and the rows whose SHAP values are
averaged. Per resample: one fit on the real labels and ``permutations / resamples`` on permuted
labels (the null), all with the main fit's recipe. The screen (:mod:`resilience.explain.screen`)
judges each feature on the mean of the real importances against the pooled null, and reports
each feature's pass rate: the share of resamples in which it passed on its own.

**A column that summarises others** (``summarises`` in the data config: the force's grading of
the package it grades) is judged by pairs of fits: the lines are split in two folds; on each, the
recipe without its random subsampling (so the two fits differ only by the column), on the same
rows and seed, with every column and without this one, and both predict every disruption of the
other fold. The per-disruption difference in log loss (without minus with: positive when the
column helps) is the evidence of an effect of its own (:func:`own_effect`: one-sided test of its
mean, standard error clustered by line). Cross-fitting holds out every line once: twice the
held-out rows of the resamples' left-out lines, for four fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.special import log_expit
from scipy.stats import norm
from sklearn.base import clone

from resilience.explain.concepts import ConceptMap
from resilience.explain.shap_values import log_odds_contributions


@dataclass
class Draws:
    """What the resamples measured: ``real`` (resamples x features+concepts) and ``null``
    (permuted fits x features+concepts) mean |SHAP|, and the rows each fit used; per summary
    column, the held-out per-disruption log-loss gain of keeping it (``gains``) and the held-out
    rows' lines."""

    real: np.ndarray
    null: np.ndarray
    rows: int
    gains: dict[str, np.ndarray] = field(default_factory=dict)
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))


def line_resample(lines: pd.Series, share: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the rows whose line is among ``share`` of the lines, drawn at random."""
    codes, uniques = pd.factorize(pd.Series(lines).astype(str), sort=True)
    if share >= 1:
        return np.ones(len(codes), dtype=bool)
    kept = rng.permutation(len(uniques))[: max(1, int(round(share * len(uniques))))]
    return np.isin(codes, kept)


def permuted(y: np.ndarray, disruptions: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Labels permuted across disruptions: the rows of one disruption (its snapshots, records as
    they stood) keep one shared label, so the null sees as many outcomes as the real fit."""
    codes = pd.factorize(pd.Series(disruptions).astype(str))[0]
    if len(codes) == len(np.unique(codes)):  # one row per disruption
        return rng.permutation(y)
    first = np.unique(codes, return_index=True)[1]
    return rng.permutation(np.asarray(y)[first])[codes]


def _subset(frame: pd.DataFrame, rows: np.ndarray, limit: int, rng) -> pd.DataFrame:
    """The rows at ``rows``, at most ``limit`` of them drawn at random (0: all)."""
    if limit and len(rows) > limit:
        rows = np.sort(rng.choice(rows, limit, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def _fit(recipe, frame: pd.DataFrame, y: np.ndarray, seed: int):
    return clone(recipe).set_params(random_state=int(seed)).fit(frame, y)


def _importance(recipe, fits: pd.DataFrame, y, seed: int, shap: pd.DataFrame, concept_map):
    """Mean |SHAP| per feature, then per concept, on ``shap`` of the recipe fitted on ``fits``."""
    fitted = _fit(recipe, fits, y, seed)
    raw, _, _ = log_odds_contributions(fitted, fitted.prepare(shap), np.arange(len(shap)))
    return np.concatenate([np.abs(raw).mean(axis=0), np.abs(raw @ concept_map.matrix).mean(axis=0)])


def _held_out_margin(recipe, fits: pd.DataFrame, seed: int, held_out: pd.DataFrame, label: str):
    """The margin on ``held_out`` of ``recipe`` fitted on ``fits`` (real labels)."""
    return _fit(recipe, fits, fits[label].astype(int).to_numpy(), seed).margin(held_out)


def _log_loss(margin: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row log loss of the probabilities ``expit(margin)``."""
    return -np.where(y == 1, log_expit(margin), log_expit(-margin))


def resample_draws(model, frame: pd.DataFrame, config, summaries: tuple[str, ...] = ()) -> Draws:
    """Every fit of the screen (see the module docstring), side by side in ``config.workers()``
    processes: ``config.resamples`` resamples of ``config.resample_share`` of the lines of
    ``frame``, and the summary columns' paired fits (:func:`summary_gains`)."""
    contract = model.contract
    frame = frame.reset_index(drop=True)
    concept_map = ConceptMap.build(contract, list(model.feature_names_))
    recipe = model.fixed_recipe()  # its capacity fixed, no calibrator
    # exactly ``permutations`` null fits in all, spread over the resamples
    nulls = np.diff(np.linspace(0, config.permutations, config.resamples + 1).round().astype(int))
    jobs, kinds = [], []
    for b in range(config.resamples):
        rng = np.random.default_rng([int(config.seed), b])
        inside = line_resample(frame[contract.line_column], config.resample_share, rng)
        fits = _subset(frame, np.flatnonzero(inside), config.max_rows, rng)
        shap = _subset(fits, np.arange(len(fits)), config.shap_rows, rng)
        y = fits[contract.label].astype(int).to_numpy()
        seeds = rng.integers(1, 2**31 - 1, 1 + nulls[b])
        disruptions = fits[contract.id_column]
        labels = [y] + [permuted(y, disruptions, rng) for _ in range(nulls[b])]
        for k, labels_k in enumerate(labels):
            jobs.append(delayed(_importance)(recipe, fits, labels_k, seeds[k], shap, concept_map))
            kinds.append("real" if k == 0 else "null")
    pairs, held_out = _summary_jobs(model, frame, config, summaries)
    # side by side in processes, not threads: LightGBM fits running in two threads of one process
    # crashed it natively once (a segfault in the test suite); the workers start once per
    # process and are reused (on a 6,000-line world: +2 s for the first screen, none after)
    results = Parallel(n_jobs=min(config.workers(), len(jobs) + len(pairs)), prefer="processes")(
        jobs + [job for _, job in pairs]
    )
    importances, margins = results[: len(jobs)], results[len(jobs) :]
    gains, lines = _gains(pairs, margins, held_out, contract)
    return Draws(
        np.vstack([v for v, k in zip(importances, kinds) if k == "real"]),
        np.vstack([v for v, k in zip(importances, kinds) if k == "null"]),
        len(fits),
        gains,
        lines,
    )


def _summary_jobs(model, frame: pd.DataFrame, config, summaries: tuple[str, ...]):
    """The summary columns' paired fits: the lines split in two folds; on each, the paired recipe
    (no random subsampling) with every column and without each summary column, fitted on at most
    ``max_rows`` of the fold's rows, predicting every row of the other fold. Returns the jobs
    (``(fold, column or None)``, job) and the held-out rows of each fold."""
    if not summaries:
        return [], {}
    contract = model.contract
    rng = np.random.default_rng([int(config.seed), config.resamples])
    first = line_resample(frame[contract.line_column], 0.5, rng)
    paired = model.paired_recipe()
    jobs, held_out = [], {}
    for fold, inside in enumerate((first, ~first)):
        fits = _subset(frame, np.flatnonzero(inside), config.max_rows, rng)
        held_out[fold] = frame[~inside].reset_index(drop=True)
        seed = int(rng.integers(1, 2**31 - 1))
        for column in (None, *summaries):
            recipe = paired if column is None else paired.without_features([column])
            job = delayed(_held_out_margin)(recipe, fits, seed, held_out[fold], contract.label)
            jobs.append(((fold, column), job))
    return jobs, held_out


def _gains(pairs, margins, held_out, contract) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per summary column, the per-disruption log-loss gain of keeping it, over both folds."""
    by_key = {key: margin for (key, _), margin in zip(pairs, margins)}
    gains: dict[str, list[np.ndarray]] = {}
    lines = []
    for fold, rows in held_out.items():
        y = rows[contract.label].astype(int).to_numpy()
        with_all = _log_loss(by_key[(fold, None)], y)
        for (key_fold, column), margin in by_key.items():
            if key_fold == fold and column is not None:
                gains.setdefault(column, []).append(_log_loss(margin, y) - with_all)
        lines.append(rows[contract.line_column].astype(str).to_numpy())
    joined = {column: np.concatenate(parts) for column, parts in gains.items()}
    return joined, np.concatenate(lines) if lines else np.zeros(0, dtype=object)


def own_effect(gain: np.ndarray, lines: np.ndarray) -> dict:
    """Does keeping a column lower held-out log loss? The mean per-disruption gain, its standard
    error clustered by line (a line's disruptions are not independent), ``z`` and the one-sided
    p-value of "no gain"."""
    gain = np.asarray(gain, float)
    if len(gain) < 2:
        return {"gain": float("nan"), "se": float("nan"), "z": float("nan"), "p_value": 1.0}
    mean = float(gain.mean())
    per_line = pd.Series(gain - mean).groupby(pd.Series(lines).to_numpy()).sum().to_numpy()
    n_lines = len(per_line)
    se = float(np.sqrt(n_lines / max(n_lines - 1, 1) * (per_line**2).sum()) / len(gain))
    z = mean / se if se > 0 else 0.0
    return {"gain": mean, "se": se, "z": z, "p_value": float(norm.sf(z))}
