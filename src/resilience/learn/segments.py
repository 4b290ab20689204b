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
        y_all = (
            frame[contract.label].astype(int)
            if y is None
            else pd.Series(np.asarray(y), index=frame.index)
        )
        self.base_rate_ = float(y_all.mean())
        cohort = contract.cohort_column
        self.cohort_base_rates_ = (
            {str(k): float(v) for k, v in y_all.groupby(frame[cohort].astype(str)).mean().items()}
            if cohort
            else {}
        )
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


def is_segmented(model) -> bool:
    return isinstance(model, SegmentModel)


def maybe_segmented(model, segment_by: str | None):
    """``model`` itself, or a :class:`SegmentModel` of its recipe when ``segment_by`` is set."""
    column = segment_column(model.contract, segment_by)
    return SegmentModel(model, segment_by=column) if column else model


# ----------------------------------------------------------------------------------------------
# Explanations and ranges: each row by its own segment's model
# ----------------------------------------------------------------------------------------------
def explain_segmented(model: SegmentModel, frame: pd.DataFrame):
    """An :class:`~resilience.explain.Explanation` of every row by its segment's model (exact
    SHAP of that model), in input order; ``base_log_odds`` and ``baseline_probability`` are
    per-row arrays (each row's segment's base)."""
    from resilience.explain import Explanation, explain

    frame = frame.reset_index(drop=True)
    parts, order = [], []
    for value, positions in model.route(frame).items():
        if len(positions):
            parts.append(explain(model.segments_[value], frame.iloc[positions]))
            order.append(positions)
    if not parts:
        return explain(next(iter(model.segments_.values())), frame)
    positions = np.concatenate(order)
    inverse = np.empty_like(positions)
    inverse[positions] = np.arange(len(positions))

    def stack(values) -> np.ndarray:
        return np.concatenate([np.asarray(v) for v in values])[inverse]

    def stack_frames(frames) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True).iloc[inverse].reset_index(drop=True)

    cohorts = [p.cohort for p in parts]
    return Explanation(
        ids=stack(p.ids for p in parts),
        contributions=stack_frames(p.contributions for p in parts),
        base_log_odds=stack(np.full(len(p), p.base_log_odds) for p in parts),
        margin=stack(p.margin for p in parts),
        probability=stack(p.probability for p in parts),
        baseline_probability=stack(np.full(len(p), p.baseline_probability) for p in parts),
        points=stack_frames(p.points for p in parts),
        values=stack_frames(p.values for p in parts),
        cohort=None if any(c is None for c in cohorts) else stack(cohorts),
        similar_rates=stack(p.similar_rates for p in parts),
        contract=model.contract,
        screen=getattr(model, "reason_screen_", None),
    )


def interval_table_segmented(
    model: SegmentModel, frame: pd.DataFrame, probability=None
) -> pd.DataFrame:
    """Each row's range from its segment's ensemble (no columns if a segment has none)."""
    from resilience.learn.ranges import interval_table

    frame = frame.reset_index(drop=True)
    if any(getattr(m, "interval_ensemble_", None) is None for m in model.segments_.values()):
        return pd.DataFrame(index=pd.RangeIndex(len(frame)))
    out = None
    for value, positions in model.route(frame).items():
        if not len(positions):
            continue
        p = None if probability is None else np.asarray(probability)[positions]
        part = interval_table(model.segments_[value], frame.iloc[positions], p)
        if out is None:
            out = pd.DataFrame({c: np.zeros(len(frame), dtype=part[c].dtype) for c in part.columns})
        for column in part.columns:
            out.loc[positions, column] = part[column].to_numpy()
    return out if out is not None else pd.DataFrame(index=pd.RangeIndex(len(frame)))


# ----------------------------------------------------------------------------------------------
# The comparison with the single model
# ----------------------------------------------------------------------------------------------
def compare_with_single(
    evaluation, history: pd.DataFrame, split_config, eval_config, truth: pd.DataFrame | None = None
) -> dict:
    """Test metrics of the single model fitted on the same split, as ``single_<metric>`` (and the
    difference ``segments_minus_single_<metric>`` for AUC, Brier and calibration error); ``{}``
    when the evaluated model is not segmented."""
    from resilience.learn.metrics import oracle_metrics
    from resilience.learn.split import split_by_line_and_time
    from resilience.pipelines.train import score_test_period

    model = evaluation.model
    if not is_segmented(model):
        return {}
    contract = model.contract
    train_idx, _, _ = split_by_line_and_time(
        history, contract.date_column, contract.line_column, split_config
    )
    single = clone(model.base).fit(history.loc[train_idx])
    metrics, predictions, _ = score_test_period(
        single, evaluation.test_frame, contract, eval_config
    )
    if truth is not None:
        true_p = predictions[[contract.id_column]].merge(truth, on=contract.id_column, how="left")[
            "true_probability"
        ]
        if true_p.notna().all():
            metrics.update(oracle_metrics(predictions[contract.label].astype(int), true_p, metrics))
    out = {f"single_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}
    for key in ("roc_auc", "brier", "ece"):
        if key in metrics and key in evaluation.metrics:
            out[f"segments_minus_single_{key}"] = float(evaluation.metrics[key] - metrics[key])
    log.info(
        "segment models vs single model on the test period: AUC %.4f vs %.4f",
        evaluation.metrics.get("roc_auc", float("nan")),
        metrics.get("roc_auc", float("nan")),
    )
    return out
