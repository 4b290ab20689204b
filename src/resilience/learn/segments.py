"""Segment models: one model per segment (e.g. imported / home-grown lines) behind one pyfunc.

Imported and home-grown lines are run differently (DOMAIN.md), and a single model shares its
trees between them. :class:`SegmentModel` fits the same recipe (a
:class:`~resilience.learn.models.PersistenceModel` with its calibration) separately on each value of a
segment column and routes every row to its own segment's model. It is chosen by the training
config (``segment_by: cohort`` uses the data config's ``cohort_column``; any categorical column
can be named) and is trained, registered, explained, scored and vetted exactly like the single
model:

* **Probability**: each row's calibrated probability from its segment's model.
* **Explanation**: each row's exact SHAP values from its segment's model
  (:func:`explain_segmented`); its base (``base_log_odds``, ``baseline_probability``) is that
  segment's, so these two are per-row arrays rather than one number; contributions still add up
  exactly to the row's margin and points to its probability.
* **Ranges**: each segment's model carries its own bootstrap ensemble
  (:mod:`resilience.learn.ranges`).
* **Comparison**: a training run with segment models also fits the single model on the same
  split and logs its test metrics beside the pair's as ``test_single_*``
  (:func:`compare_with_single`), so a reviewer sees what the split buys.

Example
-------
>>> model = SegmentModel(PersistenceModel(contract), segment_by="line_type").fit(train_frame)
>>> model.persistence_probability(week_frame)[:3]
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from resilience.core.errors import ConfigError, ResilienceError
from resilience.learn.models import PersistenceModel, base_rates_by_cohort

log = logging.getLogger(__name__)


def segment_column(contract, segment_by: str | None) -> str | None:
    """The column a ``segment_by`` setting names: ``cohort`` is the data config's cohort column."""
    if segment_by in (None, "", "none", "null"):
        return None
    column = contract.cohort_column if segment_by == "cohort" else segment_by
    if column is None:
        raise ConfigError(
            f"segment_by=cohort but data config '{contract.name}' declares no cohort_column"
        )
    if column not in contract.column_names or not contract.column(column).is_categorical:
        raise ConfigError(
            f"segment_by '{segment_by}': '{column}' is not a categorical column of data config "
            f"'{contract.name}' (categorical columns: {', '.join(contract.categorical_features)})"
        )
    return column


class SegmentModel(BaseEstimator, ClassifierMixin):
    """A pair (or more) of :class:`~resilience.learn.models.PersistenceModel` s, one per segment value.

    Parameters
    ----------
    base : the unfitted recipe each segment's model is cloned from
    segment_by : the categorical column whose values pick the segment (or ``"cohort"``)
    min_rows : fewest training rows a segment may have
    """

    reason_screen_ = None  # set by the training pipeline (resilience.explain.screen)

    def __init__(self, base, segment_by: str = "cohort", min_rows: int = 200):
        self.base = base
        self.segment_by = segment_by
        self.min_rows = min_rows

    # -- what the rest of the toolkit reads like a PersistenceModel -------------------------------
    @property
    def contract(self):
        return self.base.contract

    @property
    def family(self) -> str:
        return self.base.family

    @property
    def params(self) -> dict | None:
        """The segments' shared model settings (checked against the library like a single model's)."""
        return self.base.params

    @property
    def column_(self) -> str:
        return segment_column(self.contract, self.segment_by)

    @property
    def feature_names_(self) -> tuple[str, ...]:
        return next(iter(self.segments_.values())).feature_names_

    @property
    def categorical_features_(self) -> tuple[str, ...]:
        return next(iter(self.segments_.values())).categorical_features_

    def calibration_summary(self) -> dict[str, float]:
        """Each segment's calibration summary, under its segment's name."""
        return {
            f"{name}.{k}": v
            for name, model in self.segments_.items()
            for k, v in model.calibration_summary().items()
        }

    def cohort_evidence(self) -> None:
        """None: each segment calibrates its own rows, so no offset sets one cohort against another."""
        return None

    def capacity(self) -> dict:
        total: dict = {}
        for model in self.segments_.values():
            for key, value in model.capacity().items():
                total[key] = total.get(key, 0) + value
        return {**total, "segments": len(self.segments_)}

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y=None) -> SegmentModel:
        column = self.column_
        contract = self.contract
        values = frame[column].astype(str)
        declared = contract.column(column).allowed
        wanted = list(declared) if declared else sorted(values.unique())
        self.segments_ = {}
        for value in wanted:
            rows = frame[values == value]
            labels = (
                rows[contract.label].astype(int)
                if y is None
                else pd.Series(np.asarray(y))[(values == value).to_numpy()]
            )
            if len(rows) < self.min_rows or labels.nunique() < 2:
                raise ResilienceError(
                    f"segment model for {column} = '{value}': {len(rows)} training rows "
                    f"({int(labels.sum())} persisted); need at least {self.min_rows} with both outcomes. "
                    "Train the single model (segment_by=null) or supply more history."
                )
            self.segments_[value] = clone(self.base).fit(rows)
        self.segments_ = dict(self.segments_)
        y_all = frame[contract.label].astype(int).to_numpy() if y is None else np.asarray(y)
        self.base_rate_ = float(y_all.mean())
        self.cohort_base_rates_ = base_rates_by_cohort(y_all, frame, contract.cohort_column)
        self.n_train_rows_ = int(len(frame))
        self.cv_scores_ = {}
        self.classes_ = np.array([0, 1])
        return self

    # -- routing ----------------------------------------------------------------------------------
    def route(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Row positions of ``frame`` per segment value; refuses a value no segment was fitted for."""
        values = frame[self.column_].astype(str).to_numpy()
        unknown = sorted(set(values) - set(self.segments_))
        if unknown:
            raise ResilienceError(
                f"no segment model for {self.column_} = {', '.join(repr(v) for v in unknown)} "
                f"(segments: {', '.join(self.segments_)})"
            )
        return {value: np.flatnonzero(values == value) for value in self.segments_}

    def _per_segment(self, frame: pd.DataFrame, method: str) -> np.ndarray:
        frame = frame.reset_index(drop=True)
        out = np.empty(len(frame))
        for value, positions in self.route(frame).items():
            if len(positions):
                out[positions] = getattr(self.segments_[value], method)(frame.iloc[positions])
        return out

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return self._per_segment(frame, "margin")

    def persistence_probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self._per_segment(frame, "persistence_probability")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.persistence_probability(frame)
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.persistence_probability(frame) >= 0.5).astype(int)

    # -- the hooks of a model, routed per segment ---------------------------------------------------
    def submodels(self) -> dict[str, PersistenceModel]:
        """Each segment's model, by segment value."""
        return dict(self.segments_)

    def parts(self, frame: pd.DataFrame) -> dict[str, tuple[PersistenceModel, np.ndarray]]:
        """Each segment's model and the positions of its rows in ``frame`` (every segment, rows or not)."""
        return {value: (self.segments_[value], rows) for value, rows in self.route(frame).items()}

    def fixed_recipe(self) -> PersistenceModel:
        """The recipe's cheap refit (the first segment's: one screen for the recipe)."""
        return next(iter(self.segments_.values())).fixed_recipe()

    def paired_recipe(self) -> PersistenceModel:
        """:meth:`fixed_recipe` without random subsampling (the reason screen's paired refits)."""
        return next(iter(self.segments_.values())).paired_recipe()

    def without_features(self, features) -> SegmentModel:
        raise ConfigError(
            "explain.screen.mode=drop is not available for segment models; use mode=hide"
        )


def maybe_segmented(model, segment_by: str | None):
    """``model`` itself, or a :class:`SegmentModel` of its recipe when ``segment_by`` is set."""
    column = segment_column(model.contract, segment_by)
    return SegmentModel(model, segment_by=column) if column else model
