"""Right for every kind of line (calibration by cohort, its exact explanation) and ranges that
inform the week's decision (joint draws, the shortlist's shares)."""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from resilience.explain import explain
from resilience.learn.calibration import Calibrator, CohortRows, cluster_covariance, cohort_trend
from resilience.learn.glm import fit_logistic
from resilience.learn.models import PersistenceModel
from resilience.learn.ranges import (
    COMPONENT_COLUMNS,
    IntervalConfig,
    bounds,
    draw_groups,
    fit_ensemble,
    joint_draws,
    logit_normal_centre,
)
from resilience.learn.ranges.draws import shared_share
from resilience.learn.ranges.table import interval_table
from resilience.learn.split import SplitConfig, split_history
from resilience.pipelines.train_evidence import carried_drift
from resilience.weekly.shortlist import (
    AT_BEST_ESTIMATE,
    NEARLY_EVERY_DRAW,
    DrawSettings,
    likely_threshold,
    shortlist_draws,
)


def planted_cohorts(rng, n=6000, offsets=(0.0, 0.5), drift=(0.0, 0.0)):
    """Margins, cohorts, dates and outcomes with a known intercept (and drift per year) per cohort."""
    cohort = np.where(rng.random(n) < 0.5, "a", "b")
    margin = rng.normal(0, 1.2, n)
    dates = pd.Series(
        pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 900, n)), "D")
    )
    years = ((dates - dates.max()).dt.days / 365.25).to_numpy()
    shift = np.where(cohort == "a", offsets[0] + drift[0] * years, offsets[1] + drift[1] * years)
    y = (rng.random(n) < expit(0.9 * margin - 0.2 + shift)).astype(float)
    return margin, cohort, dates, y


def rows_of(cohort, dates, cal_share=0.3, alpha=0.001, pooling="none", clusters=None):
    n = len(cohort)
    cut = int(n * (1 - cal_share))
    return CohortRows(
        "kind",
        cohort.astype(object),
        np.arange(cut),
        np.arange(cut, n),
        dates,
        dates.max(),
        alpha,
        clusters,
        pooling,
    )


def test_one_intercept_per_cohort_makes_every_cohort_right_on_the_calibration_rows():
    rng = np.random.default_rng(3)
    margin, cohort, dates, y = planted_cohorts(rng)
    rows = rows_of(cohort, dates)
    calibrator = Calibrator("sigmoid").fit_by_cohort(margin, y, rows)
    cal = rows.cal_pos
    frame = pd.DataFrame({"kind": cohort[cal]})
    p = calibrator(margin[cal] + calibrator.offset(frame))
    for kind in ("a", "b"):  # maximum likelihood with an intercept per cohort: means match exactly
        at = cohort[cal] == kind
        assert p[at].mean() == pytest.approx(y[cal][at].mean(), abs=1e-6)
    # the planted difference (0.5 log-odds) comes back in margin units (divided by the slope 0.9)
    offsets = calibrator.cohorts_.offsets
    assert offsets["b"] - offsets["a"] == pytest.approx(0.5 / 0.9, abs=0.2)
    # one intercept for all leaves the cohorts wrong in opposite directions
    plain = Calibrator("sigmoid").fit(margin[cal], y[cal])(margin[cal])
    assert abs(plain[cohort[cal] == "b"].mean() - y[cal][cohort[cal] == "b"].mean()) > 0.02
    # a value never fitted gets offset 0: the fitted rows' mix
    assert calibrator.offset(pd.DataFrame({"kind": ["unseen", None]})).tolist() == [0.0, 0.0]


def _planted_rows(seed, n, planted, pooling="partial"):
    margin, cohort, dates, y = planted_cohorts(
        np.random.default_rng(seed), n=n, offsets=(0, planted)
    )
    return margin, y, rows_of(cohort, dates, pooling=pooling)


def _gap(rng, n, planted, pooling):
    margin, cohort, dates, y = planted_cohorts(rng, n=n, offsets=(0.0, planted))
    rows = rows_of(cohort, dates, pooling=pooling)
    cohorts = Calibrator("sigmoid").fit_by_cohort(margin, y, rows).cohorts_
    return cohorts.intercepts["b"] - cohorts.intercepts["a"], cohorts


def test_partial_pooling_keeps_a_gap_the_data_show_and_shrinks_one_they_do_not():
    # no gap, a small calibration slice (600 rows): the fitted intercepts differ by noise alone;
    # pooled by their evidence they differ far less (most often not at all)
    seeds = range(30)
    raw = [abs(_gap(np.random.default_rng(s), 2000, 0.0, "none")[0]) for s in seeds]
    pooled = [abs(_gap(np.random.default_rng(s), 2000, 0.0, "partial")[0]) for s in seeds]
    assert np.mean(pooled) < 0.5 * np.mean(raw)
    assert np.mean(np.array(pooled) == 0.0) >= 0.4
    # a real gap of 0.6 log-odds on 3,600 calibration rows is kept nearly whole
    gap, cohorts = _gap(np.random.default_rng(1), 12000, 0.6, "partial")
    assert gap == pytest.approx(0.6, abs=0.2) and min(cohorts.kept.values()) > 0.8
    assert cohorts.as_dict()["between_sd"] > 0.2
    # what a run records: each cohort's offset, the share of its gap kept and the drift test's
    # p-value (no drift planted: no slopes carried)
    summary = Calibrator("sigmoid").fit_by_cohort(*_planted_rows(1, 12000, 0.6)).summary()
    assert set(summary) == {
        "cohort_offset.a",
        "cohort_offset.b",
        "cohort_kept.a",
        "cohort_kept.b",
        "cohort_between_sd",
        "cohort_trend_p_value",
        "cohort_gap_p_value",
    }
    assert summary["cohort_offset.b"] > summary["cohort_offset.a"]
    assert Calibrator("sigmoid").fit(np.zeros(4), np.array([0, 1, 0, 1])).summary() == {}


def test_the_gap_test_holds_its_level_without_a_gap_and_finds_a_real_one():
    """Cochran's test that the cohorts' intercepts differ (what lets the reason screen name the
    line type for its offset): without a gap it rejects at about its level, a real gap of 0.6
    log-odds on 3,600 calibration rows it finds surely; the evidence is the smaller of the gap and
    drift tests' p-values, doubled."""
    null = [_gap(np.random.default_rng(s), 2000, 0.0, "partial")[1] for s in range(60)]
    assert np.mean([c.gap_p_value < 0.05 for c in null]) <= 0.12
    _, real = _gap(np.random.default_rng(1), 12000, 0.6, "partial")
    assert real.gap_p_value < 1e-4
    assert real.evidence_p_value() == pytest.approx(
        min(1.0, 2 * min(real.gap_p_value, real.trend_p_value))
    )
    # intercepts used as fitted are not tested, and a calibrator pickled before the test has none
    assert _gap(np.random.default_rng(1), 2000, 0.6, "none")[1].gap_p_value is None
    old = copy.copy(real)
    del old.__dict__["gap_p_value"], old.__dict__["trend_p_value"]
    assert old.evidence_p_value() is None


def test_rows_of_one_line_count_as_one_piece_of_evidence():
    # every row twice, each pair one line: clustered by line, the intercepts are as uncertain as
    # with the rows once (the copies add nothing); counted as independent, falsely twice as sure
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.normal(size=3000), np.ones(3000)])
    y = (rng.random(3000) < expit(X[:, 0] - 0.3)).astype(float)
    once = fit_logistic(X, y)
    twice = fit_logistic(np.vstack([X, X]), np.concatenate([y, y]))
    residual = np.concatenate([y, y]) - expit(np.vstack([X, X]) @ twice.coef)
    lines = np.concatenate([np.arange(3000), np.arange(3000)])
    clustered = cluster_covariance(twice.covariance, np.vstack([X, X]), residual, lines)
    assert np.diag(twice.covariance) == pytest.approx(np.diag(once.covariance) / 2, rel=0.01)
    assert np.diag(clustered) == pytest.approx(np.diag(once.covariance), rel=0.15)


def test_a_drift_carries_the_intercepts_to_the_date_served_only_when_the_test_finds_it():
    rng = np.random.default_rng(4)
    margin, cohort, dates, y = planted_cohorts(rng, n=12000, drift=(0.0, 0.8))
    levels = ["a", "b"]
    slopes, p_value, _ = cohort_trend(margin, y, rows_of(cohort, dates), levels)
    assert p_value < 0.001 and slopes["b"] - slopes["a"] == pytest.approx(0.8, abs=0.3)
    margin, cohort, dates, y = planted_cohorts(rng, n=12000)
    slopes, p_value, _ = cohort_trend(margin, y, rows_of(cohort, dates), levels)
    assert slopes == {} and p_value > 0.001
    assert cohort_trend(margin, y, rows_of(cohort, dates, alpha=0.0), levels) == ({}, None, {})
    # a run records whether a drift was carried (model.calibration.* params): the test's p-value,
    # and the slopes only when carried
    carried = Calibrator().fit_by_cohort(margin, y, rows_of(cohort, dates, alpha=1.0)).summary()
    assert {"cohort_trend_p_value", "cohort_trend_per_year.a", "cohort_trend_per_year.b"} <= set(
        carried
    )
    plain = Calibrator().fit_by_cohort(margin, y, rows_of(cohort, dates)).summary()
    assert "cohort_trend_p_value" in plain and not any("per_year" in k for k in plain)


def test_the_default_carries_a_moderate_drift_forward_at_a_small_cost_where_there_is_none(contract):
    """The model's default level for the drift test (benchmarks/cohorts.py --calibration-only: it
    brought the worst line type closer on drifting worlds and cost little elsewhere): over 30
    planted worlds, the gap between two cohorts at the date served is found closer to the truth
    than with strong evidence only (0.001) when one cohort drifts by 0.4 log-odds a year, and not
    much further from it when neither drifts."""
    default = PersistenceModel(contract).cohort_trend_alpha
    assert 0.001 < default < 1

    def mean_error(alpha: float, drift: tuple[float, float]) -> float:
        errors = []
        for seed in range(30):
            margin, cohort, dates, y = planted_cohorts(
                np.random.default_rng(seed), offsets=(0.0, 0.3), drift=drift
            )
            rows = rows_of(cohort, dates, alpha=alpha)
            found = Calibrator().fit_by_cohort(margin, y, rows).cohorts_.intercepts
            errors.append(abs(found["b"] - found["a"] - 0.3))  # the planted gap where it serves
        return float(np.mean(errors))

    assert mean_error(default, (0.0, 0.4)) < 0.85 * mean_error(0.001, (0.0, 0.4))
    assert mean_error(default, (0.0, 0.0)) < 1.25 * mean_error(0.001, (0.0, 0.0))


def test_the_ranges_refits_carry_a_drift_exactly_when_the_model_does(small_history, contract):
    """A refit for the ranges does not test for a drift again (a test that passes in some refits
    and fails in others would widen every range): it fits its slopes when the model carries a
    drift, and none when the model does not, whatever the setting says now."""
    rows = small_history.head(3000)
    config = IntervalConfig(n_models=2, seed=3)
    for alpha in (1.0, 0.0):  # always carried; never
        model = PersistenceModel(contract, n_jobs=1, cohort_trend_alpha=alpha).fit(rows)
        assert model.carries_trend() is (alpha == 1.0)
        # the setting flipped after the fit counts for nothing
        model.cohort_trend_alpha = 1.0 - alpha
        members = fit_ensemble(model, rows, config).members
        assert [bool(m.calibrator.cohorts_.trend) for m in members] == [alpha == 1.0] * 2
        # what the model's evidence (and so each week's briefing) says it carries
        drift = carried_drift(model)
        assert (set(drift.get("per_year", {})) == {"home_grown", "imported"}) is (alpha == 1.0)


@pytest.fixture(scope="module")
def two_models(small_history, contract):
    """The same recipe fitted with and without cohort calibration (the same trees)."""
    split = split_history(small_history, contract, SplitConfig())
    # as fitted: the tiny world's slice is too small to show a gap, and the test needs one
    by_cohort = PersistenceModel(contract, n_jobs=1, cohort_pooling="none").fit(split.train)
    one = PersistenceModel(contract, n_jobs=1, calibration_by_cohort=False).fit(split.train)
    return by_cohort, one, split.test


def test_the_cohort_offset_is_the_cohort_columns_contribution_and_points_still_add_up(two_models):
    by_cohort, one, test = two_models
    rows = test.head(400)
    explained, plain = explain(by_cohort, rows), explain(one, rows)
    column = by_cohort.cohort_feature()
    offset = by_cohort.calibrator_.offset(by_cohort.prepare(rows), by_cohort.dates_of(rows))
    assert column == "line_type" and np.ptp(offset) > 0 and one.cohort_feature() is None
    difference = explained.contributions - plain.contributions  # the trees are the same
    np.testing.assert_allclose(difference[column], offset, atol=1e-9)
    np.testing.assert_allclose(difference.drop(columns=[column]).to_numpy(), 0.0, atol=1e-9)
    assert explained.base_log_odds == pytest.approx(plain.base_log_odds)
    np.testing.assert_allclose(
        explained.points.sum(axis=1),
        100 * (explained.probability - explained.baseline_probability),
        atol=1e-9,
    )
    # signs are kept: every nonzero contribution has the sign of its log-odds value
    signs = np.sign(explained.points.to_numpy()) * np.sign(explained.contributions.to_numpy())
    assert (signs >= 0).all()
    np.testing.assert_allclose(explained.probability, by_cohort.persistence_probability(rows))


def test_a_model_calibrates_by_cohort_only_when_the_cohort_is_one_of_its_features(
    small_history, contract
):
    model = PersistenceModel(contract, n_jobs=1, exclude=["line_type", "origin_hub"])
    model.fit(small_history.head(2500))
    assert model.cohort_feature() is None and model.calibrator_.cohorts_ is None


def test_shared_share_recovers_a_planted_share():
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 20, 4000)
    shared = rng.normal(0, np.sqrt(0.4), (6, 20))[:, groups]
    own = rng.normal(0, np.sqrt(0.6), (6, 4000))
    assert shared_share(shared + own, groups) == pytest.approx(0.4, abs=0.15)
    assert shared_share(own, groups) < 0.05


def components(p, shared, own):
    sd = np.hypot(shared, own)
    return pd.DataFrame(
        dict(
            zip(
                COMPONENT_COLUMNS,
                (logit_normal_centre(p, sd), np.full_like(p, shared), np.full_like(p, own)),
            )
        )
    )


def test_joint_draws_keep_each_lines_range_and_share_what_groups_share():
    p = np.array([0.2, 0.5, 0.8, 0.5])
    table = components(p, 0.4, 0.3)
    groups = draw_groups(np.array(["a", "a", "a", "b"]), np.array([0.5, 0.5, 0.5, 0.5]))
    draws = np.vstack(list(joint_draws(table, groups, 20000, seed=1, batch=5000)))
    assert draws.mean(axis=0) == pytest.approx(p, abs=0.01)  # the estimate is the draws' mean
    low, high = bounds(p, np.zeros(4), 1.2816, 0.5)  # the 80% range of the same spread
    np.testing.assert_allclose(np.quantile(draws, 0.1, axis=0), low, atol=0.01)
    np.testing.assert_allclose(np.quantile(draws, 0.9, axis=0), high, atol=0.01)
    correlation = np.corrcoef(logit(draws).T)
    assert correlation[1, 0] == pytest.approx(0.16 / 0.25, abs=0.03)  # same group: shared / total
    assert abs(correlation[1, 3]) < 0.03  # another cohort: independent


def test_the_shortlist_split_says_which_places_are_sure():
    p = np.array([0.95, 0.9, 0.52, 0.5, 0.49, 0.2, 0.1])
    harm = np.array([50.0, 50, 50, 50, 50, 50, 50])
    ranks = np.arange(1, len(p) + 1)
    table = shortlist_draws(
        p, harm, 5.0, 3, ranks, components(p, 0.1, 0.4), np.zeros(len(p)), DrawSettings(draws=400)
    )
    share = table["on_shortlist_share"].to_numpy()
    assert share[:2].min() >= 0.9 and share[5:].max() < 0.05
    assert 0.2 < share[2] < 0.9  # a close call with the lines just below
    assert table["shortlist_group"].tolist()[:4] == [NEARLY_EVERY_DRAW] * 2 + [AT_BEST_ESTIMATE, ""]
    assert share.sum() == pytest.approx(3.0)  # three places in every draw
    assert likely_threshold() == 0.525
    chance = table["likely_or_more_chance"].to_numpy()
    assert chance[0] > 0.99 and chance[-1] < 0.01 and 0.4 < chance[3] < 0.6
    again = shortlist_draws(
        p, harm, 5.0, 3, ranks, components(p, 0.1, 0.4), np.zeros(len(p)), DrawSettings(draws=400)
    )
    pd.testing.assert_frame_equal(table, again)  # repeatable: the same week gives the same draws


def test_a_carried_drift_follows_each_disruptions_own_date_up_to_its_limit():
    """A drift found in the training span goes on past the first date served: a disruption scored
    13 weeks later is estimated closer to the truth with the drift carried to its own date than
    with the drift stopped at the first date served; past ``carry_weeks`` it is carried no
    further, before the first date served not at all, and without dates as before."""
    rng = np.random.default_rng(11)
    margin, cohort, dates, y = planted_cohorts(rng, n=12000, drift=(0.0, 0.8))
    rows = replace(rows_of(cohort, dates, alpha=1.0), carry_weeks=26)
    calibrator = Calibrator().fit_by_cohort(margin, y, rows)
    served = dates.max()
    X = pd.DataFrame({"kind": ["a", "b"]})

    def offsets(weeks: float) -> np.ndarray:
        return calibrator.offset(X, [served + pd.Timedelta(weeks=weeks)] * 2)

    start = calibrator.offset(X)
    np.testing.assert_allclose(offsets(0), start)
    np.testing.assert_allclose(offsets(-30), start)
    np.testing.assert_allclose(offsets(40), offsets(26))
    zoned = pd.Series([served + pd.Timedelta(weeks=13)] * 2).dt.tz_localize("Europe/London")
    np.testing.assert_allclose(calibrator.offset(X, zoned), offsets(13))
    assert offsets(13)[1] - start[1] > 0.1 and abs(offsets(13)[0] - start[0]) < 0.1
    # the planted world 13 weeks past the first date served: cohort b is 0.2 log-odds higher
    m = rng.normal(0, 1.2, 4000)
    truth = expit(0.9 * m - 0.2 + 0.5 + 0.8 * 13 / 52.18)
    later = pd.DataFrame({"kind": ["b"] * len(m)})
    own = calibrator(m + calibrator.offset(later, [served + pd.Timedelta(weeks=13)] * len(m)))
    stopped = calibrator(m + calibrator.offset(later))
    assert abs(own.mean() - truth.mean()) < 0.5 * abs(stopped.mean() - truth.mean())
    # a calibrator told not to carry it on gives every date the first date served's offsets
    still = Calibrator().fit_by_cohort(margin, y, rows_of(cohort, dates, alpha=1.0))
    np.testing.assert_allclose(
        still.offset(X, [served + pd.Timedelta(weeks=13)] * 2), still.offset(X)
    )


def test_a_model_carrying_a_drift_to_the_date_scored_stays_exact_and_whole(small_history, contract):
    """The drift carried to each disruption's own date is part of the estimate everywhere: the
    explanation still adds up to the probability scored, the range is drawn around it, and rows
    without a date column get the drift at the first date served (the model fitted with
    ``cohort_drift_weeks=0``, the same trees)."""
    split = split_history(small_history, contract, SplitConfig())
    model = PersistenceModel(contract, n_jobs=1, cohort_trend_alpha=1.0).fit(split.train)
    stopped = copy.copy(model)
    stopped.calibrator_ = copy.deepcopy(model.calibrator_)
    stopped.calibrator_.cohorts_ = replace(model.calibrator_.cohorts_, margin_per_year={})
    rows = split.test.head(300).reset_index(drop=True)
    p = model.persistence_probability(rows)
    assert model.carries_trend() and np.ptp(p - stopped.persistence_probability(rows)) > 0
    explained = explain(model, rows)
    np.testing.assert_allclose(explained.probability, p)
    np.testing.assert_allclose(
        explained.points.sum(axis=1), 100 * (p - explained.baseline_probability), atol=1e-9
    )
    undated = rows.drop(columns=[contract.date_column])
    np.testing.assert_allclose(
        model.persistence_probability(undated), stopped.persistence_probability(rows)
    )
    ranges = fit_ensemble(model, split.train.head(3000), IntervalConfig(n_models=2, seed=3))
    model.interval_ensemble_ = ranges
    # each range is drawn around the probability scored (the table's own is the same)
    pd.testing.assert_frame_equal(interval_table(model, rows), interval_table(model, rows, p))
    assert not interval_table(model, rows).equals(
        interval_table(model, rows, stopped.persistence_probability(rows))
    )


def test_the_carried_drifts_own_error_is_its_trend_standard_error_times_the_years_carried():
    """The slope a calibrator carries is an estimate: across planted worlds its reported standard
    error matches how much the slope really varies, and each row's drift error is that times the
    years it is carried (none at the first date served or before it, capped at ``carry_weeks``,
    none without dates or for offsets pickled before the errors were kept)."""
    rng = np.random.default_rng(21)
    slopes, errors = [], []
    for _ in range(30):
        margin, cohort, dates, y = planted_cohorts(rng, n=4000, drift=(0.0, 0.8))
        cohorts = (
            Calibrator()
            .fit_by_cohort(margin, y, replace(rows_of(cohort, dates, alpha=1.0), carry_weeks=26))
            .cohorts_
        )
        slopes.append(cohorts.trend["b"])
        errors.append(cohorts.trend_se["b"])
    assert np.mean(errors) == pytest.approx(np.std(slopes, ddof=1), rel=0.35)
    X = pd.DataFrame({"kind": ["a", "b"]})
    served = pd.Timestamp(cohorts.served_from)

    def sd(weeks: float) -> np.ndarray:
        return cohorts.drift_sd(X, [served + pd.Timedelta(weeks=weeks)] * 2)

    np.testing.assert_allclose(sd(13), [cohorts.trend_se[k] * 13 * 7 / 365.25 for k in "ab"])
    np.testing.assert_allclose(sd(0), 0)
    np.testing.assert_allclose(sd(-10), 0)
    np.testing.assert_allclose(sd(40), sd(26))
    np.testing.assert_allclose(cohorts.drift_sd(X), 0)
    old = pickle.loads(pickle.dumps(cohorts))
    del old.__dict__["trend_se"]  # as pickled before
    np.testing.assert_allclose(old.drift_sd(X, [served + pd.Timedelta(weeks=13)] * 2), 0)
    stopped = replace(cohorts, carry_weeks=0.0)  # a drift held at the first date: no error grows
    np.testing.assert_allclose(stopped.drift_sd(X, [served + pd.Timedelta(weeks=13)] * 2), 0)


def test_a_range_widens_with_the_distance_a_drift_is_carried(small_history, contract):
    """A line scored further past the first date served carries more of the drift's own error:
    its range is wider, by exactly that error added to the rest, and no wider once the drift is
    carried no further; a model that carries no drift gives the same range at every date."""
    split = split_history(small_history, contract, SplitConfig())
    model = PersistenceModel(contract, n_jobs=1, cohort_trend_alpha=1.0).fit(split.train)
    model.interval_ensemble_ = fit_ensemble(
        model, split.train.head(3000), IntervalConfig(n_models=2, seed=3)
    )
    cohorts = model.calibrator_.cohorts_
    assert cohorts.follows_date() and cohorts.trend_se
    rows = split.test.head(200).reset_index(drop=True)
    served = pd.Timestamp(cohorts.served_from)

    def at(weeks: float) -> pd.DataFrame:
        moved = rows.assign(**{contract.date_column: served + pd.Timedelta(weeks=weeks)})
        p = np.full(len(moved), 0.5)  # one centre, so only the spread differs between dates
        table = interval_table(model, moved, p)
        return table["probability_high"] - table["probability_low"]

    start, later, capped = at(0), at(20), at(26)
    assert (later >= start - 1e-12).all() and (later > start + 1e-6).any()
    np.testing.assert_allclose(at(60), capped)
    X = model.prepare(rows)
    moved = rows.assign(**{contract.date_column: served + pd.Timedelta(weeks=20)})
    drift = model.drift_sd_of(X, moved)
    np.testing.assert_allclose(
        drift, np.abs(X[cohorts.column].astype(str).map(cohorts.trend_se)) * 20 * 7 / 365.25
    )
    held = copy.copy(model)
    held.calibrator_ = copy.deepcopy(model.calibrator_)
    held.calibrator_.cohorts_ = replace(cohorts, carry_weeks=0.0)
    moved_p = interval_table(held, moved, np.full(len(moved), 0.5))
    np.testing.assert_allclose(
        moved_p["probability_high"] - moved_p["probability_low"], start, atol=1e-12
    )


def test_offsets_pickled_before_the_drift_followed_the_date_still_score():
    """A calibrator registered with cohort offsets before they could follow the date (its pickle
    lacks the new fields) gives every row the offset at the first date served, as it did."""
    rng = np.random.default_rng(5)
    margin, cohort, dates, y = planted_cohorts(rng, n=6000, drift=(0.0, 0.8))
    rows = replace(rows_of(cohort, dates, alpha=1.0), carry_weeks=26)
    cohorts = Calibrator().fit_by_cohort(margin, y, rows).cohorts_
    old = pickle.loads(pickle.dumps(cohorts))
    del old.__dict__["margin_per_year"], old.__dict__["carry_weeks"]  # as pickled before
    X = pd.DataFrame({"kind": ["a", "b"]})
    later = [dates.max() + pd.Timedelta(weeks=13)] * 2
    assert not old.follows_date() and cohorts.follows_date()
    np.testing.assert_allclose(old.of(X, later), cohorts.of(X))
    assert old.carried_drift()["carried_weeks"] == 0.0
