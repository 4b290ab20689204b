"""Tests for SHAP values: exactness against brute force, additivity, the probability scale, concepts,
chunking, the global view, and fidelity against the synthetic world's true mechanism (slow)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

from resilience.core.errors import ResilienceError
from resilience.explain import (
    ExplanationError,
    calibrator_slope,
    concept_importance,
    concept_importance_by_cohort,
    explain,
    explain_frame,
    feature_importance,
    global_view,
    iter_explanations,
    to_points,
)
from resilience.learn.calibration import Calibrator
from resilience.learn.models import PersistenceModel

TINY_FEATURES = ["contacts", "runners_arrested", "holder_arrested", "closure_type", "policing_area"]
LINEAR_FEATURES = ["contacts", "holder_arrested", "line_type", "weeks_since_last_disruption"]
# One thread: on a busy 2-core machine, OpenMP barriers of a 2-thread fit can stall a small fit 100x.
FAST_LGBM = {"n_estimators": 60, "learning_rate": 0.1, "n_jobs": 1}


# ----------------------------------------------------------------------------------------------
# Fixtures: models fitted on the small seeded world (conftest.small_history)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_tree(contract, small_history):
    """10 trees of 4 leaves on 5 features, two categorical; the outcome leans on the area so the
    trees split on a many-category feature as well as a one-vs-rest one."""
    rng = np.random.default_rng(5)
    areas = small_history["policing_area"].astype(str)
    lean = areas.isin(sorted(areas.unique())[::2]).to_numpy() * 1.5
    logit = (
        -0.3
        + lean
        - 1.2 * small_history["holder_arrested"].to_numpy()
        + 0.4 * np.log1p(small_history["contacts"].to_numpy())
        - 2.0
    )
    y = (rng.random(len(small_history)) < expit(logit)).astype(int)
    params = {
        "n_estimators": 10,
        "num_leaves": 4,
        "learning_rate": 0.3,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "min_child_samples": 20,
        "min_data_per_group": 20,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": 4,
        "n_jobs": 1,
    }
    return PersistenceModel(
        contract, family="lightgbm", features=TINY_FEATURES, params=params, early_stopping_rounds=0
    ).fit(small_history, y)


@pytest.fixture(scope="module")
def tiny_linear(contract, small_history):
    return PersistenceModel(
        contract, family="logistic", features=LINEAR_FEATURES, calibration="none"
    ).fit(small_history)


@pytest.fixture(scope="module")
def lgbm(contract, small_history):
    return PersistenceModel(
        contract, family="lightgbm", params=FAST_LGBM, early_stopping_rounds=0
    ).fit(small_history)


@pytest.fixture(scope="module")
def lgbm_isotonic(contract, small_history):
    return PersistenceModel(
        contract,
        family="lightgbm",
        params=FAST_LGBM,
        early_stopping_rounds=0,
        calibration="isotonic",
    ).fit(small_history)


@pytest.fixture(scope="module")
def logistic(contract, small_history):
    return PersistenceModel(contract, family="logistic").fit(small_history)


@pytest.fixture(scope="module")
def lgbm_explanation(lgbm, small_history):
    return explain(lgbm, small_history)


# ----------------------------------------------------------------------------------------------
# Brute force Shapley values
# ----------------------------------------------------------------------------------------------
def _shapley(value, n_features: int) -> tuple[np.ndarray, float]:
    """Exact Shapley values of a set function ``value(frozenset) -> float`` by enumeration."""
    phi = np.zeros(n_features)
    cache = {}

    def v(subset):
        if subset not in cache:
            cache[subset] = value(subset)
        return cache[subset]

    for j in range(n_features):
        others = [k for k in range(n_features) if k != j]
        for size in range(n_features):
            weight = (
                math.factorial(size)
                * math.factorial(n_features - size - 1)
                / math.factorial(n_features)
            )
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                phi[j] += weight * (v(s | {j}) - v(s))
    return phi, v(frozenset())


def _goes_left(node: dict, x: float) -> bool:
    """LightGBM's decision rule for one split (numerical or categorical) on value ``x``."""
    if node["decision_type"] == "==":
        if np.isnan(x) or x < 0:
            return False
        return int(x) in {int(c) for c in str(node["threshold"]).split("||")}
    missing = node["missing_type"]
    if np.isnan(x) and missing != "NaN":
        x = 0.0
    if (missing == "NaN" and np.isnan(x)) or (missing == "Zero" and abs(x) <= 1e-35):
        return bool(node["default_left"])
    return x <= node["threshold"]


def _count(node: dict) -> float:
    return node["leaf_count"] if "leaf_index" in node else node["internal_count"]


def _path_dependent_value(node: dict, x: np.ndarray, known: frozenset) -> float:
    """E[tree(x) | x_known], following both branches weighted by cover where the feature is unknown."""
    if "leaf_index" in node:
        return node["leaf_value"]
    j = node["split_feature"]
    left, right = node["left_child"], node["right_child"]
    if j in known:
        return _path_dependent_value(left if _goes_left(node, x[j]) else right, x, known)
    n_left, n_right = _count(left), _count(right)
    return (
        n_left * _path_dependent_value(left, x, known)
        + n_right * _path_dependent_value(right, x, known)
    ) / (n_left + n_right)


def _numeric_matrix(X: pd.DataFrame) -> np.ndarray:
    """The prepared matrix as LightGBM sees it: category codes (NaN for missing), floats."""
    columns = []
    for name in X.columns:
        if isinstance(X[name].dtype, pd.CategoricalDtype):
            codes = X[name].cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(X[name].to_numpy(float))
    return np.column_stack(columns)


# ----------------------------------------------------------------------------------------------
# Exactness
# ----------------------------------------------------------------------------------------------
def test_tree_shap_equals_brute_force_path_dependent_shapley(tiny_tree, small_history):
    trees = tiny_tree.estimator_.booster_.dump_model()["tree_info"]
    decision_types = {n.get("decision_type") for t in trees for n in _walk(t["tree_structure"])}
    assert "==" in decision_types, "the tiny model should split on a categorical feature"
    assert any(
        len(str(n.get("threshold")).split("||")) > 1
        for t in trees
        for n in _walk(t["tree_structure"])
        if n.get("decision_type") == "=="
    ), "and on a many-vs-many category split"
    rows = small_history.sample(40, random_state=2)
    explanation = explain(tiny_tree, rows)
    X = _numeric_matrix(tiny_tree.prepare(rows))
    for i in range(len(rows)):

        def value(known, x=X[i]):
            return sum(_path_dependent_value(t["tree_structure"], x, known) for t in trees)

        phi, base = _shapley(value, len(TINY_FEATURES))
        np.testing.assert_allclose(explanation.contributions.iloc[i].to_numpy(), phi, atol=1e-6)
        assert explanation.base_log_odds == pytest.approx(base, abs=1e-6)
    np.testing.assert_allclose(
        explanation.base_log_odds + explanation.contributions.sum(axis=1),
        tiny_tree.margin(rows),
        atol=1e-6,
    )


def _walk(node: dict):
    yield node
    for child in ("left_child", "right_child"):
        if child in node:
            yield from _walk(node[child])


def test_linear_shap_equals_brute_force_interventional_shapley(tiny_linear, small_history):
    background = tiny_linear.prepare(
        small_history
    )  # calibration="none": every row trained the model
    Z = tiny_linear.design_.transform(background)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-9)  # why base = intercept is exact
    rows = small_history.sample(6, random_state=4)
    explanation = explain(tiny_linear, rows)
    X = tiny_linear.prepare(rows)
    for i in range(len(rows)):

        def value(known, x=X.iloc[[i]]):
            hybrid = background.copy()
            for j in known:
                name = LINEAR_FEATURES[j]
                hybrid[name] = pd.Series(
                    np.repeat(x[name].to_numpy(), len(hybrid)),
                    index=hybrid.index,
                    dtype=x[name].dtype,
                )
            return float(tiny_linear.raw_margin(hybrid).mean())

        phi, base = _shapley(value, len(LINEAR_FEATURES))
        np.testing.assert_allclose(explanation.contributions.iloc[i].to_numpy(), phi, atol=1e-6)
        assert explanation.base_log_odds == pytest.approx(base, abs=1e-6)


@pytest.mark.parametrize("family", ["lgbm", "logistic"])
def test_additivity_on_every_row(family, request, small_history):
    model = request.getfixturevalue(family)
    explanation = explain(model, small_history)
    np.testing.assert_allclose(
        explanation.base_log_odds + explanation.contributions.sum(axis=1).to_numpy(),
        model.margin(small_history),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        explanation.probability, model.persistence_probability(small_history), atol=1e-12
    )
    assert list(explanation.contributions.columns) == list(model.feature_names_)


def test_tree_contributions_match_shap_tree_explainer(lgbm, small_history):
    shap = pytest.importorskip("shap")
    rows = small_history.iloc[:300]
    values = shap.TreeExplainer(lgbm.estimator_.booster_).shap_values(lgbm.prepare(rows))
    # the cohort's calibration offset is the cohort column's (the trees' own SHAP values otherwise)
    cohort = lgbm.feature_names_.index(lgbm.cohort_feature())
    values[:, cohort] += lgbm.calibrator_.offset(lgbm.prepare(rows))
    assert np.ptp(lgbm.calibrator_.offset(lgbm.prepare(rows))) > 0
    np.testing.assert_allclose(explain(lgbm, rows).contributions.to_numpy(), values, atol=1e-9)


def test_additivity_failure_raises_a_project_error(lgbm, small_history, monkeypatch):
    booster = lgbm.estimator_.booster_
    original = booster.predict

    def drifting(X, *args, **kwargs):
        out = original(X, *args, **kwargs)
        if not kwargs.get("raw_score"):
            return out
        gap = np.full(len(out), 1e-3)
        gap[7] = 5e-3  # the worst row
        return out + gap

    monkeypatch.setattr(booster, "predict", drifting)
    with pytest.raises(ExplanationError, match="do not add up") as info:
        explain(lgbm, small_history.iloc[:50])
    assert isinstance(info.value, ResilienceError)
    message = str(info.value)
    # every row is off: all 50 are counted, and the worst (row 7) is named by position and id
    assert "on 50 row(s)" in message
    assert f"worst is row 7 (id {small_history['disruption_id'].iloc[7]!r})" in message
    assert "gap 5.00e-03 > 1e-06" in message


def test_unfitted_model_is_refused(contract, small_history):
    with pytest.raises(ExplanationError, match="not fitted"):
        explain(PersistenceModel(contract), small_history)


# ----------------------------------------------------------------------------------------------
# Probability scale
# ----------------------------------------------------------------------------------------------
def _sigmoid_calibrator(slope: float, intercept: float) -> Calibrator:
    calibrator = Calibrator("sigmoid")
    calibrator.slope_, calibrator.intercept_ = slope, intercept
    return calibrator


def _isotonic_calibrator(seed: int) -> Calibrator:
    rng = np.random.default_rng(seed)
    margin = rng.normal(0, 2, 400)
    y = (rng.random(400) < expit(margin)).astype(int)
    return Calibrator("isotonic").fit(margin, y)


contribution_matrices = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 30), st.integers(1, 8)),
    elements=st.one_of(
        st.floats(-3, 3, allow_nan=False, width=64), st.just(0.0), st.floats(-1e-9, 1e-9)
    ),
)


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    contributions=contribution_matrices,
    base=st.floats(-3, 3),
    slope=st.floats(0.2, 3),
    intercept=st.floats(-2, 2),
    noise=st.floats(-5e-7, 5e-7),
)
def test_points_add_up_and_keep_signs_with_sigmoid(contributions, base, slope, intercept, noise):
    calibrator = _sigmoid_calibrator(slope, intercept)
    margin = base + contributions.sum(axis=1) + noise  # the booster's margin agrees to within 1e-6
    points, probability, baseline = to_points(contributions, base, margin, calibrator)
    # Exact but for the additivity gap (noise) times the calibrator's steepest slope (slope / 4).
    tolerance = 1e-9 + 100 * slope / 4 * abs(noise) * 1.01
    assert np.all(np.abs(points.sum(axis=1) - 100 * (probability - baseline)) <= tolerance)
    np.testing.assert_array_equal(np.sign(points), np.sign(contributions))


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(contributions=contribution_matrices, base=st.floats(-4, 4), seed=st.integers(0, 20))
def test_points_add_up_and_keep_signs_or_vanish_with_isotonic(contributions, base, seed):
    calibrator = _isotonic_calibrator(seed)
    margin = base + contributions.sum(axis=1)
    points, probability, baseline = to_points(contributions, base, margin, calibrator)
    np.testing.assert_allclose(points.sum(axis=1), 100 * (probability - baseline), atol=1e-9)
    same = np.sign(points) == np.sign(contributions)
    assert np.all(same | (points == 0))
    flat_step = (probability == baseline) & (np.abs(contributions.sum(axis=1)) > 1e-12)
    assert np.all(points[flat_step] == 0)


def test_points_are_continuous_where_margin_meets_base():
    calibrator = _sigmoid_calibrator(1.3, -0.2)
    base = 0.4
    direction = np.array([[0.7, -0.3, -0.4]])  # sums to exactly 0
    at, _, _ = to_points(direction, base, np.array([base]), calibrator)
    near, _, _ = to_points(
        direction + np.array([[1e-9, 0, 0]]), base, np.array([base + 1e-9]), calibrator
    )
    slope = calibrator_slope(calibrator, base)
    expected_slope = 1.3 * calibrator(np.array([base]))[0] * (1 - calibrator(np.array([base]))[0])
    assert slope == pytest.approx(expected_slope, rel=1e-6)
    np.testing.assert_allclose(at, 100 * slope * direction, rtol=1e-9)
    np.testing.assert_allclose(near, at, rtol=1e-4)


def test_isotonic_model_points_add_up(lgbm_isotonic, small_history):
    explanation = explain(lgbm_isotonic, small_history)
    gap = 100 * (explanation.probability - explanation.baseline_probability)
    np.testing.assert_allclose(explanation.points.sum(axis=1), gap, atol=1e-9)
    signs = np.sign(explanation.points.to_numpy()) == np.sign(explanation.contributions.to_numpy())
    assert np.all(signs | (explanation.points.to_numpy() == 0))


def test_real_model_points_add_up_to_probability(lgbm_explanation):
    e = lgbm_explanation
    np.testing.assert_allclose(
        e.baseline_probability + e.points.sum(axis=1) / 100, e.probability, atol=1e-12
    )
    np.testing.assert_array_equal(np.sign(e.points.to_numpy()), np.sign(e.contributions.to_numpy()))


# ----------------------------------------------------------------------------------------------
# Frames and concepts
# ----------------------------------------------------------------------------------------------
def test_wide_tidy_and_concept_frames_agree(lgbm_explanation, contract):
    e = lgbm_explanation
    wide = e.wide()
    assert list(wide.columns) == [contract.id_column, *e.features, "baseline_probability"]
    np.testing.assert_allclose(
        wide["baseline_probability"] + wide[e.features].sum(axis=1) / 100, e.probability
    )
    wide_log_odds = e.wide("log_odds")
    np.testing.assert_allclose(
        wide_log_odds["base_log_odds"] + wide_log_odds[e.features].sum(axis=1), e.margin, atol=1e-6
    )
    tidy = e.tidy()
    assert len(tidy) == len(e) * len(e.features)
    assert list(tidy.columns) == [
        contract.id_column,
        "feature",
        "label",
        "concept",
        "value",
        "contribution",
        "points",
    ]
    per_row = tidy.groupby(contract.id_column, sort=False)["points"].sum().to_numpy()
    np.testing.assert_allclose(per_row, e.points.sum(axis=1))
    by_concept = e.by_concept()
    concept_names = [c.name for c in e.concepts]
    assert list(by_concept.columns) == [contract.id_column, *concept_names]
    np.testing.assert_allclose(
        by_concept[concept_names].sum(axis=1), e.points.sum(axis=1), atol=1e-9
    )
    # every feature belongs to exactly the concept the data config gives it
    for feature in e.features:
        assert (
            tidy.loc[tidy["feature"] == feature, "concept"].iloc[0]
            == contract.concept_of(feature).name
        )


def test_concepts_carry_labels_and_four_ps(lgbm_explanation, contract):
    importance = concept_importance(lgbm_explanation)
    declared = {c.name: c for c in contract.concepts}
    for row in importance.itertuples():
        assert row.label == declared[row.concept].label_text
        assert row.four_ps == declared[row.concept].four_ps
    assert importance["mean_abs_log_odds"].is_monotonic_decreasing
    assert importance["share"].sum() == pytest.approx(1.0)


def test_values_are_the_extract_values(lgbm_explanation, small_history):
    e = lgbm_explanation
    pd.testing.assert_series_equal(
        e.values["contacts"].reset_index(drop=True),
        small_history["contacts"].reset_index(drop=True),
    )
    assert list(e.ids) == list(small_history["disruption_id"])


def test_logistic_explanations_have_reasons(logistic, small_history):
    e = explain(logistic, small_history.iloc[:200])
    assert e.reasons["reason_for_1"].str.len().gt(0).any()
    assert e.reasons["reason_against_1"].str.len().gt(0).any()


def test_similar_lines_compare_like_with_like(lgbm, small_history):
    """ "Similar lines persisted" quotes only lines of the same type placed in the same band; a
    row with no such record gets no comparison at all (not the cohort's overall rate)."""
    from resilience.explain.screen import ReasonScreen

    rows = small_history.iloc[:400]
    plain = explain(lgbm, rows)
    band = pd.Series(plain.bands).mode()[0]
    lgbm.reason_screen_ = ReasonScreen.everything(lgbm.contract, lgbm.feature_names_)
    object.__setattr__(lgbm.reason_screen_, "similar_lines", {"imported": {band: (0.63, 120)}})
    try:
        e = explain(lgbm, rows)
    finally:
        del lgbm.reason_screen_
    match = (e.cohort == "imported") & (e.bands == band)
    assert match.any() and (~match).any()
    assert np.all(e.similar_rates[match] == 0.63) and np.all(np.isnan(e.similar_rates[~match]))
    for summary, compared in zip(e.summary, match):
        assert (
            f"about 6 in 10 imported lines placed '{band}' in the test period persisted" in summary
        ) == compared
        assert "persisted" in summary or not compared
    assert not any(
        "persisted" in summary for summary in plain.summary
    )  # no record: the clause is dropped


def test_unknown_cohort_gets_no_comparison(lgbm, small_history):
    rows = small_history.iloc[:5].copy()
    rows["line_type"] = pd.Categorical([None] * 5, categories=rows["line_type"].cat.categories)
    e = explain(lgbm, rows)
    assert np.all(np.isnan(e.similar_rates))
    assert all(cohort is None for cohort in e.cohort)
    assert all("persisted" not in summary for summary in e.summary)


# ----------------------------------------------------------------------------------------------
# Chunking
# ----------------------------------------------------------------------------------------------
def test_chunked_equals_whole(lgbm, small_history, tmp_path):
    rows = small_history.iloc[:1000]
    whole = explain(lgbm, rows).reasons_frame()
    chunked = explain_frame(lgbm, rows, chunk_rows=300)
    pd.testing.assert_frame_equal(chunked, whole)
    parts = list(iter_explanations(lgbm, rows, chunk_rows=300))
    assert [len(p) for p in parts] == [300, 300, 300, 100]
    path = explain_frame(lgbm, rows, chunk_rows=300, path=tmp_path / "reasons.parquet", points=True)
    written = pd.read_parquet(path)
    assert len(written) == 1000
    pd.testing.assert_series_equal(written["summary"], whole["summary"])
    assert {f"points_{f}" for f in lgbm.feature_names_} <= set(written.columns)


def test_empty_frame(lgbm, small_history):
    empty = explain_frame(lgbm, small_history.iloc[:0])
    assert len(empty) == 0 and "summary" in empty.columns


def test_bad_chunk_size(lgbm, small_history):
    with pytest.raises(ExplanationError):
        list(iter_explanations(lgbm, small_history, chunk_rows=0))


# ----------------------------------------------------------------------------------------------
# Global view
# ----------------------------------------------------------------------------------------------
def test_global_view_returns_frames_and_figures(lgbm_explanation, contract, tmp_path):
    """What a reviewer reads in MLflow: every concept and feature of the model ranked by how much it
    weighs, in the data config's plain-English labels (never a raw column name on a chart), for
    each line type, and charts that render."""
    e = lgbm_explanation
    view = global_view(e)
    assert {name.rsplit(".", 1)[1] for name in view} == {"csv", "png"}
    concepts = view["explain/concept_importance.csv"]
    declared = {c.name: c.label_text for c in e.concepts}
    assert dict(zip(concepts["concept"], concepts["label"])) == declared  # every concept, its label
    assert concepts["mean_abs_log_odds"].is_monotonic_decreasing
    assert concepts["share"].sum() == pytest.approx(1.0)
    features = view["explain/feature_importance.csv"]
    assert (
        set(features["feature"]) == set(e.features)
        and features["mean_abs_log_odds"].is_monotonic_decreasing
    )
    # the largest mean |SHAP| is the feature's own: recomputed from the explanation
    top = features.iloc[0]
    assert top["mean_abs_log_odds"] == pytest.approx(e.contributions[top["feature"]].abs().mean())
    by_cohort = view["explain/concept_importance_by_cohort.csv"]
    assert {"imported", "home_grown"} <= set(by_cohort.columns)
    assert by_cohort.equals(concept_importance_by_cohort(e))
    raw_names = set(contract.column_names) - {contract.describe(c) for c in contract.column_names}
    for name, figure in ((n, f) for n, f in view.items() if n.endswith(".png")):
        texts = [
            t.get_text() for ax in figure.axes for t in ax.get_yticklabels() + ax.get_xticklabels()
        ]
        titles = [ax.get_title() for ax in figure.axes] + [ax.get_xlabel() for ax in figure.axes]
        assert any(titles), f"{name} has no title or axis label"
        assert not raw_names & set(texts), (
            f"{name} shows raw column names: {raw_names & set(texts)}"
        )
        figure.savefig(tmp_path / name.replace("/", "_"))
        assert (tmp_path / name.replace("/", "_")).stat().st_size > 5_000, f"{name} is blank"
    bars = view["explain/concept_importance.png"].axes[0].get_yticklabels()
    assert [t.get_text() for t in bars][-1] == concepts["label"].iloc[0]  # the heaviest on top


# ----------------------------------------------------------------------------------------------
# Fidelity against the synthetic truth (the real claim: default world, default model)
# ----------------------------------------------------------------------------------------------
FIDELITY_ROWS = 20_000
# The default world's mechanism at 25,000 lines: about 22,000 labelled disruptions, more than the
# screen's 10,000 rows. The demo's 60,000 give every test below the same result, 14 s later.
FIDELITY_WORLD_LINES = 25_000


@pytest.fixture(scope="module")
def fidelity(contract):
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame

    config = WorldConfig(n_lines=FIDELITY_WORLD_LINES)
    world = generate_world(config)
    frame = validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp(config.end_date)
    ).frame
    model = PersistenceModel(contract, family="lightgbm").fit(frame)
    rows = frame.sample(min(FIDELITY_ROWS, len(frame)), random_state=0)
    truth = world.truth.set_index("disruption_id").loc[frame["disruption_id"]]
    return explain(model, rows), truth, model, frame


def _term_concepts(contract, term: str) -> set[str]:
    from resilience.data.synthetic import TRUE_TERMS

    return {contract.concept_of(c).name for c in TRUE_TERMS[term] if c in contract.features}


@pytest.mark.slow
def test_top_concepts_cover_the_largest_true_terms(fidelity, contract):
    from resilience.data.synthetic import TRUE_TERMS

    explanation, truth, _, _ = fidelity
    # Terms that read no model feature (the unobserved line effect; area miscalibration) cannot be
    # attributed to any concept, so they are not counted among "the largest true terms".
    observable = [t for t in TRUE_TERMS if _term_concepts(contract, t)]
    sizes = pd.Series({t: truth["term_" + t].abs().mean() for t in observable}).sort_values(
        ascending=False
    )
    largest = list(sizes.index[:5])
    top_concepts = set(concept_importance(explanation)["concept"].head(5))
    covered = [t for t in largest if _term_concepts(contract, t) & top_concepts]
    assert len(covered) >= 4, (largest, top_concepts)


# A feature no term reads, but which the world makes a stand-in for one that does:
# weeks_since_last_disruption is empty exactly when prior_disruptions is 0, so a tree can split on
# either, and the model takes part of the disruption-history signal (adaptation, sustained x prior
# disruptions) through it. With the default model on the default world its mean |SHAP| is about
# 10% of the largest feature's (holder_arrested), against the 5% bound. The SHAP values are exact
# (tests above), so this is the model leaning on a proxy the world provides, not the explanation.
# (line_age_weeks, which correlates 0.84 with the adaptation term, is near the bound: 4.4% with
# the 7-leaf default model, 5.1% with a 15-leaf one; it stays in the strict test.)
WORLD_PROXIES = ("weeks_since_last_disruption",)


@pytest.mark.slow
def test_features_with_no_effect_are_never_earned_reasons(fidelity, contract):
    """What a commander is promised: a column with no true effect never beats its null, so it is
    never shown as a reason (its raw attribution varies with the world: in the default world the
    force's grading picks up about 5% of the top feature's mean |SHAP| by fitting noise)."""
    from resilience.data.synthetic import NO_EFFECT_FEATURES
    from resilience.explain.screen import ScreenConfig, null_importance

    explanation, _, model, frame = fidelity
    table = null_importance(model, frame, ScreenConfig(n_jobs=1))
    features = table[table["kind"] == "feature"].set_index("name")
    checked = [f for f in NO_EFFECT_FEATURES if f not in WORLD_PROXIES and f in features.index]
    assert len(checked) >= 3
    assert not features.loc[checked, "earned"].any(), features.loc[checked]
    assert features["earned"].sum() >= 5, "the world's strong drivers must still be earned"


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="the world makes weeks_since_last_disruption a proxy of the "
    "disruption history; see WORLD_PROXIES",
)
def test_world_proxies_get_little_weight(fidelity):
    explanation, _, _, _ = fidelity
    importance = feature_importance(explanation).set_index("feature")["mean_abs_log_odds"]
    share = importance / importance.max()
    assert (share[list(WORLD_PROXIES)] < 0.05).all(), share[list(WORLD_PROXIES)]


@pytest.mark.slow
def test_monotone_drivers_have_the_true_direction(fidelity):
    from resilience.data.synthetic import MONOTONE_DRIVERS

    explanation, _, _, _ = fidelity
    for feature, sign in MONOTONE_DRIVERS.items():
        values = explanation.values[feature].astype(float).to_numpy()
        contributions = explanation.contributions[feature].to_numpy()
        correlation = np.corrcoef(values, contributions)[0, 1]
        assert np.sign(correlation) == sign, (feature, correlation)


def test_empty_frame_base_matches_lightgbm_expected_value(lgbm, small_history):
    assert explain(lgbm, small_history.iloc[:0]).base_log_odds == pytest.approx(
        explain(lgbm, small_history.iloc[:3]).base_log_odds, abs=1e-9
    )


def test_explain_frame_writes_atomically(lgbm, small_history, tmp_path, monkeypatch):
    target = tmp_path / "reasons.parquet"
    assert len(pd.read_parquet(explain_frame(lgbm, small_history.iloc[:0], path=target))) == 0
    calls = {"n": 0}
    import resilience.explain.frames as module

    original = module.explain

    def failing(model, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ExplanationError("boom")
        return original(model, frame)

    monkeypatch.setattr(module, "explain", failing)
    with pytest.raises(ExplanationError, match="boom"):
        explain_frame(lgbm, small_history.iloc[:600], chunk_rows=300, path=target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "reasons.parquet"
    ]  # the earlier file, no temp left
    assert len(pd.read_parquet(target)) == 0


# ----------------------------------------------------------------------------------------------
# The null-importance screen
# ----------------------------------------------------------------------------------------------
def _two_driver_labels(frame: pd.DataFrame) -> np.ndarray:
    """Outcomes that depend on two features only: every other feature is noise."""
    rng = np.random.default_rng(11)
    logit = (
        0.3
        - 1.6 * frame["holder_arrested"].to_numpy()
        + 0.7 * (np.log1p(frame["contacts"].to_numpy()) - 5.5)
    )
    return (rng.random(len(frame)) < expit(logit)).astype(int)


def test_null_importance_earns_the_true_drivers_and_little_else(contract, small_history):
    from resilience.explain.screen import ScreenConfig, null_importance

    frame = small_history.copy()
    frame[contract.label] = _two_driver_labels(frame).astype(bool)
    model = PersistenceModel(
        contract, family="lightgbm", params=FAST_LGBM, early_stopping_rounds=0
    ).fit(frame)
    config = ScreenConfig(permutations=9, quantile=0.9, max_rows=3000, shap_rows=800, n_jobs=1)
    table = null_importance(model, frame, config)
    features = table[table["kind"] == "feature"].set_index("name")
    concepts = table[table["kind"] == "concept"].set_index("name")
    assert features.loc[["holder_arrested", "contacts"], "earned"].all()
    assert concepts.loc[["holder_removed", "market"], "earned"].all()
    noise = features.drop(index=["holder_arrested", "contacts"])
    # at the 0.9 quantile about 1 in 10 noise features beats its null by chance; far fewer than half do
    assert noise["earned"].sum() <= 5, noise.sort_values("p_value").head(8)
    assert (
        features.loc[["holder_arrested", "contacts"], "p_value"] == 0.1
    ).all()  # beat all 9 permutations
    assert table.attrs == {"rows": 3000, "permutations": 9, "quantile": 0.9, "min_ratio": 3.5}
    # the fits spread over two processes give the same screen, to the bit
    pd.testing.assert_frame_equal(null_importance(model, frame, replace(config, n_jobs=2)), table)
    assert (
        table["earned"]
        == ((table["importance"] > table["null_quantile"]) & (table["ratio"] >= 3.5))
    ).all()
    assert len(table) == len(model.feature_names_) + len(
        {contract.concept_of(f).name for f in model.feature_names_}
    )


def test_screen_config_refuses_bad_values():
    from resilience.core.errors import ConfigError
    from resilience.explain.screen import ScreenConfig

    with pytest.raises(ConfigError, match="mode must be one of"):
        ScreenConfig(mode="remove")
    with pytest.raises(ConfigError, match="materiality_points must be >= 0.5"):
        ScreenConfig(materiality_points=0.2)
    with pytest.raises(ConfigError, match="permutations must be >= 1"):
        ScreenConfig(permutations=0)
    # an unknown key is refused where the config is composed (the explain group's schema)
    from test_configs import composed

    with pytest.raises(Exception, match="permutation"):
        composed("train", ["explain.screen.permutation=5"])
    assert composed("train", ["explain.screen.permutations=5"]).explain.screen.permutations == 5


@pytest.mark.parametrize("mode, refit_on_all", [("hide", True), ("drop", True), ("drop", False)])
def test_screen_features_in_a_training_run(mode, refit_on_all, contract, small_history):
    """The training hook: the registered model carries its screen; ``drop`` refits without the
    features that do not beat their null and reports that model's held-out metrics beside the
    unscreened AUC; unearned features are never shown in either mode."""
    from resilience.explain.screen import ScreenConfig, screen_features
    from resilience.learn.evaluation import EvaluationConfig, deployable, fit_and_evaluate
    from resilience.learn.split import SplitConfig, split_history

    model = PersistenceModel(contract, family="lightgbm", params=FAST_LGBM, early_stopping_rounds=0)
    eval_config = EvaluationConfig(n_bootstrap=20)
    split = split_history(small_history, contract, SplitConfig(test_weeks=26, horizon_weeks=12))
    given = fit_and_evaluate(split, contract, model, eval_config)
    unscreened_auc, unscreened_metrics = given.metrics["roc_auc"], dict(given.metrics)
    deployed = deployable(given, small_history, refit_on_all=refit_on_all)
    config = ScreenConfig(
        mode=mode,
        permutations=4,
        quantile=0.75,
        max_rows=2500,
        shap_rows=500,
        n_jobs=1,
        similar_min_lines=20,
    )
    result = screen_features(deployed, given, split, small_history, config, eval_config)
    assert given.metrics == unscreened_metrics and deployed.reason_screen_ is None, (
        "the step changes nothing it was given: it returns its result"
    )
    registered, evaluation, screen = result.model, result.evaluation, result.screen
    # assembled as the training pipeline does: the evaluated model (in the evidence) too
    registered.reason_screen_ = evaluation.model.reason_screen_ = screen
    evaluation.metrics.update(result.metrics)
    evaluation.timings.update(result.timings)
    assert screen.table is not None and screen.mode == mode
    unearned = set(
        screen.table[(screen.table["kind"] == "feature") & ~screen.table["earned"]]["name"]
    )
    assert unearned, (
        "a 4-permutation screen at the 0.75 quantile should leave some feature unearned"
    )
    assert evaluation.timings["screen"] > 0
    assert evaluation.metrics["screen_features_unearned"] == len(unearned)
    assert screen.similar_lines and all(
        n >= 20 for bands in screen.similar_lines.values() for _, n in bands.values()
    )
    if mode == "hide":
        assert registered is deployed and set(registered.feature_names_) >= unearned
        assert (
            evaluation.metrics["screen_auc_cost"] == 0.0
            and evaluation.metrics["roc_auc"] == unscreened_auc
        )
        assert not set(screen.earned_features) & unearned
    else:
        # drop removes what does not beat its null at all; what beats it by less than min_ratio stays, hidden
        features = screen.table[screen.table["kind"] == "feature"]
        noise = set(features[~features["beats_null"]]["name"])
        assert noise, (
            "a 4-permutation screen at the 0.75 quantile should leave some feature below its null"
        )
        assert noise <= unearned and evaluation.metrics["screen_features_noise"] == len(noise)
        assert not set(registered.feature_names_) & noise
        assert not set(evaluation.model.feature_names_) & noise
        assert set(registered.feature_names_) >= unearned - noise
        # refitted on every labelled row only when the run asked for it
        assert (registered.n_train_rows_ == len(small_history)) == refit_on_all
        assert (registered is evaluation.model) == (not refit_on_all)
        assert evaluation.metrics["screen_unscreened_roc_auc"] == unscreened_auc
        assert evaluation.metrics["screen_auc_cost"] == pytest.approx(
            unscreened_auc - evaluation.metrics["roc_auc"]
        )
        assert set(screen.dropped_features) == noise
    rows = explain(registered, small_history.iloc[:300])
    assert not any(f in unearned for f in rows.shown_points().columns)
    np.testing.assert_allclose(
        rows.shown_points().sum(axis=1),
        100 * (rows.probability - rows.baseline_probability),
        atol=1e-9,
    )
