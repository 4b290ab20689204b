"""A range for every line: refits of the model's recipe on labels drawn from the model itself.

What is computed
----------------
**Members (a parametric bootstrap).** The main model's calibrated probabilities on its own
training rows are taken as a *known truth*: ``n_models`` times, labels are drawn from it (with a
shared per-line effect of sd ``unobserved_sd``, so rows of one line stay correlated as real lines
are; the probabilities are centred so each row's label rate is still the model's probability) and
the recipe is refitted on them (``resample: parametric``). A member's error to *its* truth, ``L_b -
r``, where ``r`` is the reference (the model the labels were drawn from), is the recipe's error in
a world where the truth is known: its variance **and its bias** (shrinkage of extremes, smoothing
of interactions, too few trees), which refits on resampled real labels cannot show (they share
the recipe's bias: they held the true probability for 48% of test lines on the default world).
Each refit is the main fit made cheap: the same parameters and the main fit's number of trees (no
inner early-stopping folds), the main model's feature space, and its own calibrator fitted on the
most recent ``calibration_fraction`` of rows, exactly as the main recipe does. ``resample:
lines`` (refits on bootstrap resamples *of lines*, spread = the members' standard deviation) is
kept for comparison; it under-covers because it cannot see bias.

**The interval.** For a line, let ``s`` be the root-mean-square of the members' errors to the
reference, ``sqrt(mean_b (L_b - r)^2)`` (or the members' sd for ``lines``), as a smooth function of
the line's columns: a small regression fitted at training (:func:`fit_spread_model`) ships with the
model instead of the members, so scoring costs one small prediction; ``tau`` the extra
spread the test period shows, and ``u`` the assumed unobserved spread. With ``total = sqrt(s^2 +
tau^2 + u^2)`` the interval at level ``level`` is::

    expit(mu - z * total)  ..  expit(mu + z * total),     z = Phi^-1((1 + level) / 2)

where ``mu`` makes the printed probability the *mean* of the logit-normal distribution
(:func:`logit_normal_centre`: a calibrated estimate is the mean of the truth given the estimate,
and below 0.5 the truth is skewed towards 0 in log-odds). It always contains the printed
probability and never leaves 0-1.

**What labels can show (tau) and what they cannot (u).** One outcome per disruption identifies
nothing about a *row's* error: for a calibrated model the Brier score equals ``E[p(1-p)]`` whatever
its error to the truth. Only errors *shared* by many rows can be measured: ``tau``
(:func:`estimate_extra_spread`) is a variance-components estimate on the test period (maximum
marginal likelihood of ``y ~ Bernoulli(expit(offset + b_g))``, ``b_g ~ N(0, tau^2 + v_g)``, over
groups of ``group_rows`` rows with similar estimates within each cohort of the data config's
``cohort_column``): the drift the training span cannot show. What is constant within a line and
recorded by no column (a line's unrecorded character) is invisible to every outcome check: a
line is disrupted again only if it persisted, so its later rows are a selected sample, and the
"survived against the odds" signal is confounded with the world's own dynamics (measured: it
gave the same estimate, 0.44, for a world with no such effect as for one with sd 0.25). ``u`` =
``unobserved_sd`` is therefore an **assumption** in config, not an estimate, and is written
wherever the ranges are reported. Coverage of the *true* probability is only *measured*, never
fitted, where a truth exists (``truth.parquet``): :func:`coverage`, logged by training overall and
per yardstick band.

**Limits (measured, see ``benchmarks/intervals.py``).** Coverage depends on how far the assumed
``u`` is from the world's unrecorded line-to-line spread: worlds with much more of it than
assumed get ranges that are too narrow. The figures are in the benchmark's docstring and README.

**Band uncertain.** ``band_uncertain`` is true when the interval's two ends fall in different
yardstick bands (:func:`resilience.core.yardstick.band`, gaps going to the nearer band), i.e. the words
a commander reads could be different for a probability inside the range.

Example
-------
>>> ranges = fit_ranges(evaluation, split, IntervalConfig(n_models=8))   # training
>>> model = attach_ranges(model, ranges.ensembles)
>>> table = interval_table(model, week_frame)   # probability_low, probability_high, band_uncertain

**Drawn jointly** (:mod:`.draws`). For a week's decision the lines' probabilities are drawn
jointly from these components: the shared parts (``tau`` and the share of the refits' error that
lines of one cohort and band share) once per group, the rest (``u`` and the refits' own part) line
by line; each line's draws keep exactly its range's distribution.

Modules: :mod:`.bounds` (the interval from a spread), :mod:`.ensemble` (the refits and the spread
model), :mod:`.extra_spread` (what the labels can show, and coverage), :mod:`.table` (every row's
range), :mod:`.draws` (joint draws of a week), :mod:`.fit` (the training step).
"""

from resilience.learn.ranges.bounds import band_uncertain, bounds, logit_normal_centre
from resilience.learn.ranges.draws import (
    COMPONENT_COLUMNS,
    chance_above,
    draw_groups,
    joint_draws,
    range_components,
)
from resilience.learn.ranges.ensemble import (
    IntervalConfig,
    IntervalEnsemble,
    Member,
    deviations,
    draw_labels,
    fit_ensemble,
    fit_spread_model,
    line_bootstrap,
    member_log_odds,
    spread,
)
from resilience.learn.ranges.extra_spread import coverage, estimate_extra_spread, similar_groups
from resilience.learn.ranges.fit import RangeFit, attach_ranges, fit_ranges
from resilience.learn.ranges.table import INTERVAL_COLUMNS, interval_table

__all__ = [
    "COMPONENT_COLUMNS",
    "INTERVAL_COLUMNS",
    "IntervalConfig",
    "IntervalEnsemble",
    "Member",
    "RangeFit",
    "attach_ranges",
    "band_uncertain",
    "bounds",
    "chance_above",
    "draw_groups",
    "coverage",
    "deviations",
    "draw_labels",
    "estimate_extra_spread",
    "fit_ensemble",
    "fit_ranges",
    "fit_spread_model",
    "interval_table",
    "joint_draws",
    "line_bootstrap",
    "logit_normal_centre",
    "member_log_odds",
    "range_components",
    "similar_groups",
    "spread",
]
