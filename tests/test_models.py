"""The model as one artifact, and its behaviour on the synthetic world (directional, invariance)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from resilience.core.errors import ResilienceError
from resilience.learn.families import DEFAULT_LGBM_PARAMS
from resilience.learn.models import PersistenceModel

FAST_LGBM = {"n_estimators": 40, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def lightgbm_model(small_history, contract):
    return PersistenceModel(contract, family="lightgbm", n_jobs=1).fit(small_history)


@pytest.fixture(scope="module")
def logistic_model(small_history, contract):
    return PersistenceModel(contract, family="logistic").fit(small_history)


def test_probabilities_are_calibrated_probabilities(lightgbm_model, small_history):
    p = lightgbm_model.persistence_probability(small_history)
    assert p.shape == (len(small_history),)
    assert np.all((p > 0) & (p < 1))
    assert abs(p.mean() - small_history["persisted_12w"].mean()) < 0.05
    np.testing.assert_allclose(lightgbm_model.predict_proba(small_history).sum(axis=1), 1.0)


def test_early_stopping_chooses_capacity(lightgbm_model):
    capacity = lightgbm_model.capacity()
    assert 10 <= capacity["trees"] < 2000, "early stopping should stop well before the upper bound"
    assert lightgbm_model.best_iterations_


def test_disruption_id_has_no_effect(lightgbm_model, small_history):
    """Invariance: ids are never inputs."""
    changed = small_history.copy()
    changed["disruption_id"] = "SYN-D-OTHER-" + changed.index.astype(str)
    changed["line_id"] = "SYN-L-OTHER"
    np.testing.assert_array_equal(
        lightgbm_model.persistence_probability(small_history),
        lightgbm_model.persistence_probability(changed),
    )


def test_arresting_an_imported_lines_holder_lowers_persistence(lightgbm_model, small_history):
    """Directional: removing the holder of an imported line lowers the estimate (on average)."""
    imported = small_history[small_history["line_type"] == "imported"].copy()
    free, arrested = imported.copy(), imported.copy()
    free["holder_arrested"], free["closure_type"] = False, "none"
    arrested["holder_arrested"], arrested["closure_type"] = True, "type1"
    delta = lightgbm_model.persistence_probability(
        arrested
    ) - lightgbm_model.persistence_probability(free)
    assert delta.mean() < -0.05
    assert (delta < 0).mean() > 0.8


def test_preparation_travels_with_the_model(lightgbm_model, small_history):
    """Pickled and restored, the model applies exactly the same preprocessing."""
    restored = pickle.loads(pickle.dumps(lightgbm_model))
    np.testing.assert_array_equal(
        restored.persistence_probability(small_history.head(200)),
        lightgbm_model.persistence_probability(small_history.head(200)),
    )


def test_unseen_category_and_missing_values_score(lightgbm_model, small_history):
    odd = small_history.head(50).copy()
    odd["policing_area"] = "An area never seen"
    odd["weeks_since_last_disruption"] = np.nan
    p = lightgbm_model.persistence_probability(odd)
    assert np.isfinite(p).all()


def test_missing_feature_column_is_a_clear_error(lightgbm_model, small_history):
    with pytest.raises(ResilienceError, match="contacts"):
        lightgbm_model.persistence_probability(small_history.drop(columns=["contacts"]))


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic", "none"])
def test_logistic_baseline_and_calibrations(small_history, contract, calibration):
    model = PersistenceModel(contract, family="logistic", calibration=calibration).fit(
        small_history
    )
    p = model.persistence_probability(small_history)
    assert np.all((p >= 0) & (p <= 1))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(small_history["persisted_12w"].astype(int), p) > 0.7


def test_monotone_constraints_hold(small_history, contract):
    model = PersistenceModel(contract, monotone={"contacts": 1, "holder_arrested": -1}).fit(
        small_history
    )
    rows = small_history.head(100).copy()
    low, high = rows.copy(), rows.copy()
    low["contacts"], high["contacts"] = 10, 5000
    assert np.all(model.margin(high) >= model.margin(low) - 1e-12)


def test_features_and_exclusions(small_history, contract):
    model = PersistenceModel(contract, exclude=["policing_area"]).fit(small_history)
    assert "policing_area" not in model.feature_names_
    with pytest.raises(ResilienceError, match="not features of data config"):
        PersistenceModel(contract, features=["disruption_id"]).fit(small_history)


def test_one_outcome_only_is_refused(small_history, contract):
    rows = small_history[small_history["persisted_12w"]]
    with pytest.raises(ResilienceError, match="only one outcome"):
        PersistenceModel(contract).fit(rows)


# -- the scikit-learn estimator contract (a data contract is a constructor argument, so sklearn's
# own check_estimator, which builds estimators from nothing, does not apply) ---------------------
def test_init_stores_arguments_only_and_params_round_trip(contract):
    model = PersistenceModel(
        contract, family="no-such-family", calibration="no-such-method", n_jobs=3
    )
    params = model.get_params()
    assert params["family"] == "no-such-family" and params["calibration"] == "no-such-method"
    assert params["contract"] is contract and params["n_jobs"] == 3
    assert not [k for k in vars(model) if k.endswith("_")], "nothing learned before fit"
    twin = clone(model)
    assert twin is not model and twin.get_params().keys() == params.keys()
    assert twin.set_params(family="logistic", calibration="isotonic") is twin
    assert (twin.family, twin.calibration) == ("logistic", "isotonic")
    assert (model.family, model.calibration) == ("no-such-family", "no-such-method"), (
        "a clone is independent"
    )


def test_unfitted_model_says_so(contract, small_history):
    with pytest.raises(NotFittedError, match="PersistenceModel instance is not fitted yet"):
        PersistenceModel(contract).persistence_probability(small_history.head(5))


def test_fit_returns_self_and_a_clone_of_a_fitted_model_is_unfitted(logistic_model, small_history):
    model = clone(logistic_model)
    with pytest.raises(NotFittedError):
        model.predict_proba(small_history.head(5))
    assert model.fit(small_history) is model


@pytest.mark.parametrize("family,params", [("lightgbm", FAST_LGBM), ("logistic", None)])
def test_refitting_is_deterministic(contract, small_history, family, params):
    first = PersistenceModel(contract, family=family, params=params, n_jobs=1).fit(small_history)
    second = clone(first).fit(small_history)
    np.testing.assert_array_equal(
        first.persistence_probability(small_history), second.persistence_probability(small_history)
    )


@pytest.mark.parametrize(
    "setting,message",
    [
        ({"calibration": "platt"}, "calibration must be one of .*'platt'"),
        ({"family": "xgboost"}, "model family must be one of .*'xgboost'"),
        ({"calibration_fraction": 1.5}, r"calibration_fraction must be in \[0, 1\)"),
        ({"cohort_drift_weeks": -4}, r"cohort_drift_weeks must be 0-520 weeks"),
        (
            {"monotone": {"no_such_column": 1}},
            r"monotone constraint\(s\) on unknown feature\(s\): \['no_such_column'\]",
        ),
    ],
)
def test_bad_settings_are_refused_before_any_fitting(contract, small_history, setting, message):
    """Checked first: an empty frame (which fitting would refuse) still gets the setting's error."""
    with pytest.raises(ResilienceError, match=message):
        PersistenceModel(contract, **setting).fit(small_history.iloc[:0])


def test_threads_come_from_the_parameter_not_the_environment(contract, small_history, monkeypatch):
    monkeypatch.setenv("RESILIENCE_N_JOBS", "7")
    model = PersistenceModel(contract, params=FAST_LGBM, early_stopping_rounds=0).fit(small_history)
    assert "n_jobs" not in model.lgbm_params_
    model = clone(model).set_params(n_jobs=1).fit(small_history)
    assert model.lgbm_params_["n_jobs"] == 1


def test_params_override_the_defaults_key_by_key(contract, small_history):
    model = PersistenceModel(
        contract, params={**FAST_LGBM, "num_leaves": None}, early_stopping_rounds=0, n_jobs=1
    ).fit(small_history)
    assert model.lgbm_params_["learning_rate"] == 0.1 and model.lgbm_params_["n_estimators"] == 40
    assert model.lgbm_params_["num_leaves"] == DEFAULT_LGBM_PARAMS["num_leaves"], (
        "None keeps the default"
    )
    assert model.lgbm_params_["min_child_samples"] == DEFAULT_LGBM_PARAMS["min_child_samples"]


def test_scoring_changes_nothing_in_the_model(logistic_model, lightgbm_model, small_history):
    odd = small_history.head(30).copy()
    odd["policing_area"] = "An area never seen"
    odd["contacts"] = np.nan
    for model in (logistic_model, lightgbm_model):
        before = pickle.dumps(model)
        model.persistence_probability(odd)
        model.prepare(small_history.head(3))
        assert pickle.dumps(model) == before


def test_design_blocks_partition_the_logistic_design(logistic_model, small_history):
    """Each feature owns its own design columns (what exact linear SHAP sums); together, all of them."""
    Z = logistic_model.design_.transform(logistic_model.prepare(small_history))
    blocks = logistic_model.design_blocks_
    assert set(blocks) == set(logistic_model.feature_names_)
    assert sorted(np.concatenate(list(blocks.values())).tolist()) == list(range(Z.shape[1]))
    for name in logistic_model.categorical_features_:
        categories = logistic_model.prepare(small_history.head(1))[name].cat.categories
        assert len(blocks[name]) == len(categories)
        assert all(name in column for column in Z.columns[blocks[name]])
    assert Z.columns[blocks["contacts"]].tolist() == ["log_numbers__contacts"]


def test_a_logistic_member_is_fitted_and_read_without_a_warning(logistic_model, small_history):
    """The ranges' members of the logistic baseline were fitted on a frame and read through it,
    while the main model was fitted on an array: every training printed scikit-learn's "X has
    feature names, but LogisticRegression was fitted without feature names" warnings."""
    import warnings

    X = logistic_model.prepare(small_history.head(300))
    y = small_history.head(300)["persisted_12w"].astype(int).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        member = logistic_model.refit_estimator(X, y, seed=1)
        for estimator in (member, logistic_model.estimator_):
            margin = logistic_model.member_margin(estimator, None, X)
            assert np.isfinite(margin).all() and len(margin) == len(X)
