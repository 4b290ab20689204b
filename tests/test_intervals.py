"""A range for every line: the bootstrap ensemble, its widening, coverage and where it shows up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from resilience.core.yardstick import BAND_NAMES, band, band_index
from resilience.learn import ranges as iv
from resilience.learn.evaluation import EvaluationConfig, fit_and_evaluate
from resilience.learn.models import WHOLE, PersistenceModel
from resilience.learn.ranges.bounds import logit
from resilience.learn.ranges.extra_spread import _negative_log_likelihood
from resilience.learn.split import SplitConfig, split_history
from resilience.tracking.pyfunc import ResiliencePyfunc

FAST = {"n_estimators": 300, "learning_rate": 0.08}
CONFIG = iv.IntervalConfig(n_models=6, seed=1)


@pytest.fixture(scope="module")
def evaluated(small_history, small_world, contract):
    """The small world's evaluation with its ranges, assembled as the training pipeline does
    (deployed = evaluated, no refit)."""
    truth = small_world.truth[["disruption_id", "true_probability"]]
    split = split_history(small_history, contract, SplitConfig())
    model = PersistenceModel(contract, params=FAST)
    evaluation = fit_and_evaluate(split, contract, model, EvaluationConfig(n_bootstrap=20), truth)
    ranges = iv.fit_ranges(evaluation, split, CONFIG, truth)
    assert model.interval_ensemble_ is None, "the step attaches nothing itself"
    iv.attach_ranges(evaluation.model, ranges.ensembles)
    evaluation.metrics.update(ranges.metrics)
    for column in iv.INTERVAL_COLUMNS:
        evaluation.test_predictions[column] = ranges.test_ranges[column].to_numpy()
    return evaluation, ranges.coverage


def test_interval_contains_the_estimate_and_stays_in_0_1(evaluated):
    evaluation, _ = evaluated
    table = iv.interval_table(evaluation.model, evaluation.test_frame)
    p = evaluation.model.persistence_probability(evaluation.test_frame)
    assert list(table.columns) == list(iv.INTERVAL_COLUMNS)
    assert (table["probability_low"] <= p + 1e-12).all() and (
        p <= table["probability_high"] + 1e-12
    ).all()
    assert (
        table["probability_low"].between(0, 1).all()
        and table["probability_high"].between(0, 1).all()
    )
    assert (table["probability_high"] - table["probability_low"]).median() > 0.01


def test_interval_widens_with_fewer_lines(small_history, contract):
    lines = small_history[contract.line_column].drop_duplicates().sample(frac=0.25, random_state=0)
    few = small_history[small_history[contract.line_column].isin(lines)]
    config = iv.IntervalConfig(n_models=5, widen="none", seed=2)
    widths = []
    for frame in (small_history, few):
        # the same recipe on both: the whole history shows the world's drift between line types
        # (p 0.02), a quarter of it does not, and a drift carried adds its own uncertainty
        model = PersistenceModel(
            contract, params=FAST, early_stopping_rounds=0, cohort_trend_alpha=0
        ).fit(frame)
        ensemble = iv.fit_ensemble(model, frame, config)
        table = iv.interval_table(model, small_history.head(400), ensembles={WHOLE: ensemble})
        widths.append(float((table["probability_high"] - table["probability_low"]).median()))
    assert widths[1] > 1.3 * widths[0], widths


def test_the_range_is_centred_so_the_estimate_is_the_mean_of_the_truth():
    """A calibrated 5% is the mean of true probabilities skewed towards 0 in log-odds: the range
    sits lower in log-odds than the estimate, and the logit-normal it describes has mean 5%."""
    p, sd = np.array([0.05, 0.5, 0.9]), np.array([0.8, 0.8, 0.3])
    mu = iv.logit_normal_centre(p, sd)
    draws = 1 / (
        1 + np.exp(-(mu[:, None] + sd[:, None] * np.random.default_rng(0).standard_normal(400_000)))
    )
    assert np.allclose(draws.mean(axis=1), p, atol=2e-3)
    assert mu[0] < np.log(0.05 / 0.95) and abs(mu[1]) < 1e-9 and mu[2] > np.log(9)
    low, high = iv.bounds(p, np.zeros(3), 1.2816, extra_sd=0.8)
    assert (low <= p).all() and (p <= high).all()
    inside = [(np.quantile(d, 0.1), np.quantile(d, 0.9)) for d in draws[:2]]
    assert np.allclose([low[0], high[0], low[1], high[1]], np.ravel(inside), atol=3e-3)


def test_band_uncertain_exactly_when_the_ends_fall_in_different_bands():
    grid = np.linspace(0, 1, 201)
    low, high = np.meshgrid(grid, grid)
    low, high = np.minimum(low, high).ravel(), np.maximum(low, high).ravel()
    expected = np.array([band(a) != band(b) for a, b in zip(low, high)])
    assert (iv.band_uncertain(low, high) == expected).all()
    # a boundary: 0.20 is 'highly unlikely', 0.23 rounds to the gap's upper half ('unlikely')
    assert iv.band_uncertain(np.array([0.15]), np.array([0.23]))[0]
    assert not iv.band_uncertain(np.array([0.12]), np.array([0.20]))[0]
    assert band_index(np.array([0.0, 0.5, 1.0])).tolist() == [
        0,
        BAND_NAMES.index(band(0.5)),
        len(BAND_NAMES) - 1,
    ]


def test_band_uncertain_in_the_model_output_matches_the_yardstick(evaluated):
    predictions = evaluated[0].test_predictions
    expected = [
        band(a) != band(b)
        for a, b in zip(predictions["probability_low"], predictions["probability_high"])
    ]
    assert predictions["band_uncertain"].tolist() == expected
    assert 0 < predictions["band_uncertain"].mean() < 1


def test_coverage_is_measured_and_the_extra_spread_is_the_test_periods(evaluated):
    evaluation, covered = evaluated
    metrics = evaluation.metrics
    assert covered.set_index("band").loc["all", "coverage"] == pytest.approx(
        metrics["interval_coverage"]
    )
    assert covered["band"].iloc[0] == "all" and set(covered["band"].iloc[1:]) <= set(BAND_NAMES)
    ensemble = evaluation.model.interval_ensemble_
    details = ensemble.widen_details
    assert details["rows"] == len(evaluation.test_frame) and details["groups"] >= 2
    assert details["estimated_sd_low"] <= details["estimated_sd"] <= details["estimated_sd_high"]
    # the shipped extra spread is the estimate and the assumed part in quadrature
    assert metrics["interval_extra_sd"] == pytest.approx(
        np.hypot(details["estimated_sd"], CONFIG.unobserved_sd)
    )
    # what ships: the spread model, not the refits (scoring predicts one small model)
    assert (
        ensemble.spread_model is not None and ensemble.members == [] and ensemble.reference is None
    )


def test_the_ranges_width_is_reported_beside_a_flat_range_of_the_same_coverage(evaluated):
    """Beside the ranges' median width, the width of a flat range (the estimate ± one w for every
    line) that holds the same share of true probabilities: a flat range of that width really does
    hold that share, and the run logs both and their ratio."""
    from resilience.learn.ranges.extra_spread import coverage

    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 0.95, 4000)
    truth = np.clip(p + rng.normal(0, 0.08 * (1 + (p > 0.5)), len(p)), 0, 1)
    sd = 0.08 * (1 + (p > 0.5))  # ranges that know where the estimates are worse
    table = coverage(p - 1.28 * sd, p + 1.28 * sd, truth, p).set_index("band")
    w = table.loc["all", "flat_width"] / 2
    held = np.mean(np.abs(truth - p) <= w)
    assert held == pytest.approx(table.loc["all", "coverage"], abs=0.002)
    assert table.loc["all", "median_width"] < table.loc["all", "flat_width"]
    # ranges as wide everywhere as a flat one: no narrower than it
    flat = coverage(p - w, p + w, truth, p).set_index("band").loc["all"]
    assert flat["median_width"] == pytest.approx(flat["flat_width"], rel=0.01)
    metrics = evaluated[0].metrics
    assert metrics["interval_width_to_flat"] == pytest.approx(
        metrics["interval_median_width"] / metrics["interval_flat_width"]
    )
    assert metrics["interval_score_to_flat"] == pytest.approx(
        metrics["interval_score"] / metrics["interval_flat_score"]
    )


def test_exactly_right_ranges_beat_every_flat_range_on_the_score_though_not_on_width():
    """Why the run logs the interval score beside the widths: lines' true probabilities drawn
    from exactly the distribution each range states (log-odds spread 0.5 around estimates across
    the middle) are held 80% of the time as promised, and the ranges score better than the best
    flat range; yet their median (and here their mean) width is above a flat range holding as
    many, because exactly right ranges are widest near 50%. Ranges 5 points off centre, as wide,
    score worse than the best flat range."""
    from scipy.special import expit

    from resilience.learn.ranges.bounds import bounds, logit_normal_centre
    from resilience.learn.ranges.extra_spread import coverage

    rng = np.random.default_rng(11)
    p = rng.uniform(0.1, 0.9, 20_000)
    sd = np.full(len(p), 0.5)
    truth = expit(logit_normal_centre(p, sd) + sd * rng.standard_normal(len(p)))
    low, high = bounds(p, sd, z=1.2815515655446004)
    row = coverage(low, high, truth, p, level=0.8).set_index("band").loc["all"]
    assert row["coverage"] == pytest.approx(0.80, abs=0.01)
    assert row["interval_score"] < 0.97 * row["flat_interval_score"]
    assert row["median_width"] > row["mean_width"] > row["flat_width"]
    off = coverage(low + 0.05, high + 0.05, truth, p, level=0.8).set_index("band").loc["all"]
    assert off["interval_score"] > off["flat_interval_score"]


def test_members_are_measured_against_the_model_their_labels_came_from(small_history, contract):
    model = PersistenceModel(contract, params=FAST, early_stopping_rounds=0).fit(small_history)
    ensemble = iv.fit_ensemble(model, small_history, iv.IntervalConfig(n_models=3, seed=4))
    assert ensemble.reference.estimator is model.estimator_ and len(ensemble.members) == 3
    X = model.prepare(small_history.head(300))
    errors = iv.deviations(model, ensemble, X)
    own = logit(model.calibrator_(model.raw_margin(X)))
    assert np.allclose(errors, iv.member_log_odds(model, ensemble, X) - own)
    # the shipped spread model follows the members' mean squared error
    everything = model.prepare(small_history)
    spread_model = iv.fit_spread_model(
        model, everything, iv.deviations(model, ensemble, everything)
    )
    fitted = spread_model.predict(X)
    assert np.corrcoef(fitted, (errors**2).mean(axis=0))[0, 1] > 0.3
    shipped = iv.IntervalEnsemble([], 0.8, spread_model=spread_model)
    assert np.allclose(iv.spread(model, shipped, X) ** 2, np.clip(fitted, 1e-6, None))


def test_drawn_labels_keep_the_model_rate_and_lines_together():
    """Labels drawn for the parametric refits: each row's rate is its probability, and rows of one
    line share an effect (their outcomes agree more often than independent draws would)."""
    rng = np.random.default_rng(0)
    lines = pd.Series(np.repeat(np.arange(4000), 2))
    probability = np.tile(np.array([0.2, 0.7]), 4000)
    draws = np.stack([iv.draw_labels(probability, lines, 1.0, rng) for _ in range(40)])
    assert np.allclose(draws.mean(axis=(0, 1)), probability.mean(), atol=0.01)
    assert abs(draws[:, 0::2].mean() - 0.2) < 0.01 and abs(draws[:, 1::2].mean() - 0.7) < 0.01
    agree = (draws[:, 0::2] == draws[:, 1::2]).mean()
    independent = 0.2 * 0.7 + 0.8 * 0.3
    assert agree > independent + 0.02, (agree, independent)
    flat = np.stack([iv.draw_labels(probability, lines, 0.0, rng) for _ in range(40)])
    assert abs((flat[:, 0::2] == flat[:, 1::2]).mean() - independent) < 0.01


def test_parametric_refits_see_the_error_resampled_refits_miss(
    small_history, small_world, contract
):
    """Against the true probability (without the unrecorded line effect no label can show), the
    members' error to a known truth covers more lines than the spread of refits on resampled lines,
    which share the recipe's bias."""
    split = split_history(small_history, contract, SplitConfig())
    train, test = split.train, split.test.reset_index(drop=True)
    # the cohorts' intercepts as fitted: pooled by their evidence (the default) the members' shares
    # of each gap vary with each refit's calibration slice, and on this small world parametric
    # refits then cover 2.6 points more than resampled ones (measured), not 3
    model = PersistenceModel(contract, params=FAST, cohort_pooling="none").fit(train)
    truth = test[["disruption_id"]].merge(small_world.truth, how="left")
    target = (
        np.log(truth["true_probability"] / (1 - truth["true_probability"]))
        - truth["term_line_random_effect"]
    )
    X = model.prepare(test)
    estimate = logit(model.calibrator_(model.raw_margin(X)))
    covered = {}
    for resample in ("parametric", "lines"):
        ensemble = iv.fit_ensemble(
            model,
            train,
            iv.IntervalConfig(n_models=6, resample=resample, unobserved_sd=0.0, seed=3),
        )
        covered[resample] = float(
            (np.abs(target - estimate) <= 1.2816 * iv.spread(model, ensemble, X)).mean()
        )
    assert covered["parametric"] > covered["lines"] + 0.03, covered


def test_extra_spread_recovers_a_shared_error_it_is_given():
    """Simulated groups sharing a log-odds error of sd 0.6: the estimate finds it (and 0 when none)."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(400), 50)
    offset = rng.normal(0, 1, groups.size)
    for tau in (0.0, 0.6):
        shift = rng.normal(0, tau, 400)[groups]
        y = (rng.random(groups.size) < 1 / (1 + np.exp(-(offset + shift)))).astype(int)
        parts = [(offset, y, groups, np.zeros(400))]
        grid = np.linspace(0, 1.5, 31)
        best = grid[np.argmin([_negative_log_likelihood(t, parts) for t in grid])]
        assert abs(best - tau) <= 0.15, (tau, best)


@pytest.mark.slow
def test_coverage_of_the_true_probability_is_near_nominal(contract):
    """A real world (~2,600 test rows) whose unrecorded line effect (sd 0.25) is near the assumed
    0.3: overall coverage within 5 points of nominal."""
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame

    world = generate_world(WorldConfig(n_lines=20000, seed=5))
    history = validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp("2026-11-22")
    ).frame
    truth = world.truth[["disruption_id", "true_probability"]]
    split = split_history(history, contract, SplitConfig())
    model = PersistenceModel(contract, params=FAST)
    evaluation = fit_and_evaluate(split, contract, model, EvaluationConfig(n_bootstrap=20), truth)
    config = iv.IntervalConfig(n_models=8, seed=1)
    covered = iv.fit_ranges(evaluation, split, config, truth).coverage
    overall = covered.set_index("band").loc["all", "coverage"]
    # measured: 0.798 here, 0.817 with world seed 6; bands 0.55 ("remote chance", 188 lines; 0.57
    # before the cohorts' drift was carried at moderate evidence) to 0.85 here, 0.78 to 0.89 with
    # seed 6: the end bands miss by most. Worlds whose unrecorded spread differs from the assumed
    # 0.3 miss by more overall (benchmarks/intervals.py): that part is assumed.
    assert abs(overall - config.level) <= 0.05, covered
    bands = covered[(covered["band"] != "all") & (covered["rows"] >= 30)]
    assert (abs(bands["coverage"] - config.level) <= 0.3).all(), covered


def test_pyfunc_output_has_the_range_columns(evaluated, small_world):
    model = evaluated[0].model
    week = small_world.weekly[sorted(small_world.weekly)[-1]]
    out = ResiliencePyfunc(model).predict(None, week)
    for column in iv.INTERVAL_COLUMNS:
        assert column in out.columns
    assert out["band_uncertain"].dtype == bool
    assert (out["probability_low"] <= out["persistence_probability"]).all()
    assert (out["persistence_probability"] <= out["probability_high"]).all()


def test_a_model_without_intervals_gives_no_columns(small_history, contract):
    model = PersistenceModel(contract, params=FAST, early_stopping_rounds=0).fit(
        small_history.head(1500)
    )
    assert iv.interval_table(model, small_history.head(10)).shape == (10, 0)


def test_line_bootstrap_keeps_lines_whole():
    lines = pd.Series(["a", "a", "b", "c", "c", "c"])
    positions = iv.line_bootstrap(lines, np.random.default_rng(0))
    drawn = lines.iloc[positions]
    counts = drawn.value_counts()
    for line, n in counts.items():
        assert n % int((lines == line).sum()) == 0
    assert len(positions) > 0


def test_config_refuses_nonsense():
    with pytest.raises(Exception, match="level"):
        iv.IntervalConfig(level=1.5)
    with pytest.raises(Exception, match="n_models"):
        iv.IntervalConfig(n_models=1)


def test_weekly_scores_carry_the_range(evaluated, small_world_dir, tmp_path):
    from resilience.weekly.score import ModelRef, score_week

    model = evaluated[0].model
    week_file = sorted((small_world_dir / "weekly").glob("*.parquet"))[-1]
    result = score_week(
        week_file,
        model,
        ModelRef("test", "test", "1", None),
        tmp_path,
        today=pd.Timestamp("2026-11-22"),
    )
    scores = pd.read_parquet(result.folder / "scores.parquet")
    csv = pd.read_csv(result.folder / "scores.csv")
    for frame in (scores, csv):
        assert {"probability_low", "probability_high", "band_uncertain"} <= set(frame.columns)
        assert (frame["probability_low"] <= frame["persistence_probability"] + 1e-6).all()
        assert (frame["persistence_probability"] <= frame["probability_high"] + 1e-6).all()
    assert scores["band_uncertain"].dtype == bool


def test_a_tiny_test_period_still_gives_ranges(small_history, contract):
    """A few held-out rows: no extra spread can be shown (0, not a jump), and the spread model
    learns from the training span too."""
    model = PersistenceModel(contract, params=FAST, early_stopping_rounds=0).fit(small_history)
    ensemble = iv.fit_ensemble(model, small_history, iv.IntervalConfig(n_models=3, seed=5))
    for rows in (0, 12):
        held_out = small_history.tail(rows).reset_index(drop=True)
        X = model.prepare(held_out)
        tau, details = iv.estimate_extra_spread(
            model, held_out, X, iv.deviations(model, ensemble, X)
        )
        assert details["rows"] == rows and 0.0 <= tau <= 0.3, (rows, tau)
    X = model.prepare(small_history)
    spread_model = iv.fit_spread_model(model, X, iv.deviations(model, ensemble, X))
    shipped = iv.IntervalEnsemble([], 0.8, spread_model=spread_model, extra_sd=0.3)
    table = iv.interval_table(model, small_history.head(50), ensembles={WHOLE: shipped})
    assert (table["probability_high"] > table["probability_low"]).all()


def test_the_range_summary_is_one_line_of_rounded_numbers_against_the_nominal_level():
    from resilience.learn.ranges.fit import range_summary

    metrics = {
        "interval_level": 0.8,
        "interval_estimated_sd": 0.0,
        "interval_unobserved_sd": 0.3,
        "interval_coverage": 0.5666305525460456,
    }
    assert range_summary(metrics) == (
        "intervals: extra log-odds sd 0.00 estimated + 0.30 assumed, coverage 0.57 of nominal 0.80"
    )
    del metrics["interval_coverage"]
    assert range_summary(metrics).endswith("assumed, coverage not measured")
