"""The model as one artifact, and its behaviour on the synthetic world (directional, invariance)."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from resilience.errors import ResilienceError
from resilience.models import PersistenceModel


@pytest.fixture(scope="module")
def lightgbm_model(small_history, contract):
    return PersistenceModel(contract, family="lightgbm").fit(small_history)


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
    np.testing.assert_array_equal(lightgbm_model.persistence_probability(small_history),
                                  lightgbm_model.persistence_probability(changed))


def test_arresting_an_imported_lines_holder_lowers_persistence(lightgbm_model, small_history):
    """Directional: removing the holder of an imported line lowers the estimate (on average)."""
    imported = small_history[small_history["line_type"] == "imported"].copy()
    free, arrested = imported.copy(), imported.copy()
    free["holder_arrested"], free["closure_type"] = False, "none"
    arrested["holder_arrested"], arrested["closure_type"] = True, "type1"
    delta = lightgbm_model.persistence_probability(arrested) - lightgbm_model.persistence_probability(free)
    assert delta.mean() < -0.05
    assert (delta < 0).mean() > 0.8


def test_preparation_travels_with_the_model(lightgbm_model, small_history):
    """Pickled and restored, the model applies exactly the same preprocessing."""
    restored = pickle.loads(pickle.dumps(lightgbm_model))
    np.testing.assert_array_equal(restored.persistence_probability(small_history.head(200)),
                                  lightgbm_model.persistence_probability(small_history.head(200)))


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
    model = PersistenceModel(contract, family="logistic", calibration=calibration).fit(small_history)
    p = model.persistence_probability(small_history)
    assert np.all((p >= 0) & (p <= 1))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(small_history["persisted_12w"].astype(int), p) > 0.7


def test_monotone_constraints_hold(small_history, contract):
    model = PersistenceModel(contract, monotone={"contacts": 1, "holder_arrested": -1}).fit(small_history)
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
