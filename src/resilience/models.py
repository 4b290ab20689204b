"""One estimator = feature preparation + model + probability calibration.

:class:`PersistenceModel` is what is trained, registered and scored, so scoring can never apply
different preprocessing from training. It reads columns through the data contract it was fitted
with (stored on the model) and supports two families:

* ``lightgbm`` — gradient-boosted trees with native categorical handling, optional monotone
  constraints, and the number of trees chosen by early stopping on time-ordered, line-grouped
  folds (so the model gets only the capacity the data needs).
* ``logistic`` — a regularised logistic regression on log-scaled, standardised numbers and
  one-hot categories: the transparent baseline.

The raw model output is a *margin* (log-odds); a calibrator fitted on a held-out, most-recent
slice of the training span maps it to ``persistence_probability``: ``sigmoid`` (Platt scaling,
strictly increasing, the default) or ``isotonic`` (non-decreasing step function).

Example
-------
>>> model = PersistenceModel(contract, family="lightgbm").fit(train_frame)
>>> model.persistence_probability(week_frame)[:3]
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from resilience.data.contract import DataContract
from resilience.errors import ResilienceError
from resilience.split import calibration_slice, time_ordered_group_folds

FAMILIES = ("lightgbm", "logistic")
CALIBRATIONS = ("sigmoid", "isotonic", "none")
FALLBACK_TREES = 200  # when no validation fold can be formed (a very short history)

DEFAULT_LGBM_PARAMS = {
    "n_estimators": 2000,          # an upper bound: early stopping picks the real number
    "learning_rate": 0.04,
    "num_leaves": 5,
    "max_depth": -1,
    "min_child_samples": 80,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 8,
}


@dataclass
class FeatureSpace:
    """How raw extract columns become model inputs; learned on the training rows."""

    features: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def learn(cls, frame: pd.DataFrame, contract: DataContract, features: tuple[str, ...]) -> FeatureSpace:
        categorical = tuple(f for f in features if contract.column(f).is_categorical)
        categories = {}
        for name in categorical:
            declared = contract.column(name).allowed
            seen = sorted(str(v) for v in pd.Series(frame[name]).dropna().unique())
            categories[name] = list(declared) if declared else seen
        return cls(features=features, categorical=categorical, categories=categories)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model inputs: floats for numbers and booleans, categoricals with the training categories."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ResilienceError(f"the frame to score lacks the model's feature column(s): {', '.join(missing)}")
        out = {}
        for name in self.features:
            column = frame[name]
            if name in self.categorical:
                values = column.astype(object).where(column.notna(), None)
                values = values.map(lambda v: v if v is None else str(v))
                out[name] = pd.Categorical(values, categories=self.categories[name])
            else:
                out[name] = pd.to_numeric(column.astype(object).where(column.notna(), np.nan), errors="coerce").astype(float)
        return pd.DataFrame(out, index=frame.index)


class Calibrator:
    """Maps a margin (log-odds) to a probability; fitted on held-out rows."""

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        margin = np.asarray(margin, float).reshape(-1)
        y = np.asarray(y, float).reshape(-1)
        if self.method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if self.slope_ <= 0:  # a model worse than chance on recent data: keep it identity
                self.slope_, self.intercept_ = 1.0, 0.0
        elif self.method == "isotonic":
            self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(margin, y)
        elif self.method != "none":
            raise ResilienceError(f"calibration must be one of {CALIBRATIONS}, not {self.method!r}")
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, float)
        if self.method == "sigmoid":
            return expit(self.slope_ * margin + self.intercept_)
        if self.method == "isotonic":
            return self.isotonic_.predict(margin.reshape(-1))
        return expit(margin)


class LinearDesign:
    """Design matrix for the logistic baseline, with a block of columns per input feature.

    Counts and amounts are ``log1p``-scaled (they span orders of magnitude), missing numbers take
    the training median, everything numeric is standardised, categories are one-hot. ``blocks_``
    maps each input feature to its design columns, which is what exact linear SHAP needs.
    """

    def fit(self, X: pd.DataFrame, space: FeatureSpace) -> LinearDesign:
        self.space_ = space
        self.log_ = {}
        self.median_ = {}
        for name in space.features:
            if name in space.categorical:
                continue
            values = X[name]
            self.log_[name] = bool(values.min(skipna=True) >= 0 and values.max(skipna=True) > 1)
            self.median_[name] = float(values.median(skipna=True)) if values.notna().any() else 0.0
        raw = self._raw(X)
        self.mean_ = raw.mean(axis=0)
        self.scale_ = raw.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        return self

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        blocks, self.blocks_ = [], {}
        position = 0
        for name in self.space_.features:
            if name in self.space_.categorical:
                codes = X[name].cat.codes.to_numpy()
                onehot = np.zeros((len(X), len(self.space_.categories[name])))
                known = codes >= 0
                onehot[np.flatnonzero(known), codes[known]] = 1.0
                blocks.append(onehot)
            else:
                values = X[name].fillna(self.median_[name]).to_numpy(float)
                if self.log_[name]:
                    values = np.log1p(np.clip(values, 0, None))
                blocks.append(values.reshape(-1, 1))
            width = blocks[-1].shape[1]
            self.blocks_[name] = np.arange(position, position + width)
            position += width
        return np.hstack(blocks)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return (self._raw(X) - self.mean_) / self.scale_


class PersistenceModel(BaseEstimator, ClassifierMixin):
    """Predicts the probability that a line persists after a disruption.

    Parameters
    ----------
    contract : the data contract of the training extract (stored with the model)
    family : ``"lightgbm"`` or ``"logistic"``
    params : estimator parameters (LightGBM keyword arguments, or ``C`` for the logistic model)
    calibration : ``"sigmoid"``, ``"isotonic"`` or ``"none"``
    calibration_fraction : share of the (most recent) training rows held out to fit the calibrator
    monotone : ``{feature: +1 | -1}`` monotone constraints for LightGBM
    features : subset of the contract's features to use (default: all)
    exclude : features to leave out
    early_stopping_rounds : patience on the time-ordered validation folds
    n_folds : number of time-ordered, line-grouped folds for early stopping
    fold_gap_weeks : gap between a fold's training rows and its validation block
    random_state : seed for everything random
    """

    def __init__(self, contract: DataContract, family: str = "lightgbm", params: dict | None = None,
                 calibration: str = "sigmoid", calibration_fraction: float = 0.15,
                 monotone: dict | None = None, features: list | None = None, exclude: list | None = None,
                 early_stopping_rounds: int = 50, n_folds: int = 3, fold_gap_weeks: int = 12,
                 random_state: int = 0):
        self.contract = contract
        self.family = family
        self.params = params
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.monotone = monotone
        self.features = features
        self.exclude = exclude
        self.early_stopping_rounds = early_stopping_rounds
        self.n_folds = n_folds
        self.fold_gap_weeks = fold_gap_weeks
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------------------------
    def _feature_list(self) -> tuple[str, ...]:
        chosen = list(self.features) if self.features else list(self.contract.features)
        unknown = [f for f in chosen + list(self.exclude or []) if f not in self.contract.features]
        if unknown:
            raise ResilienceError(
                f"feature(s) {unknown} are not features of data config '{self.contract.name}' "
                f"(its features: {', '.join(self.contract.features)})"
            )
        return tuple(f for f in chosen if f not in set(self.exclude or []))

    def fit(self, frame: pd.DataFrame, y=None) -> PersistenceModel:
        """Fit on a labelled training frame (label from the contract unless ``y`` is given)."""
        if self.family not in FAMILIES:
            raise ResilienceError(f"model family must be one of {FAMILIES}, not {self.family!r}")
        y = np.asarray(frame[self.contract.label] if y is None else y).astype(int)
        if len(np.unique(y)) < 2:
            raise ResilienceError("the training rows hold only one outcome; a model needs both persisted and not")
        frame = frame.reset_index(drop=True)
        dates = frame[self.contract.date_column]
        self.feature_space_ = FeatureSpace.learn(frame, self.contract, self._feature_list())
        X = self.feature_space_.transform(frame)
        fit_pos, cal_pos = calibration_slice(dates, self.calibration_fraction if self.calibration != "none" else 0)
        if self.family == "lightgbm":
            self._fit_lightgbm(X.iloc[fit_pos], y[fit_pos], dates.iloc[fit_pos], frame[self.contract.line_column].iloc[fit_pos])
        else:
            self._fit_logistic(X.iloc[fit_pos], y[fit_pos])
        self.calibrator_ = Calibrator(self.calibration)
        if len(cal_pos):
            self.calibrator_.fit(self._margin(X.iloc[cal_pos]), y[cal_pos])
        else:
            self.calibrator_ = Calibrator("none").fit(np.zeros(2), np.array([0, 1]))
        self.base_rate_ = float(y.mean())
        cohort = self.contract.cohort_column
        self.cohort_base_rates_ = (
            {str(k): float(v) for k, v in pd.Series(y).groupby(frame[cohort].astype(str).to_numpy()).mean().items()}
            if cohort else {}
        )
        self.n_train_rows_ = int(len(y))
        self.classes_ = np.array([0, 1])
        return self

    def _lgbm_params(self) -> dict:
        params = {**DEFAULT_LGBM_PARAMS, **(self.params or {})}
        params.setdefault("random_state", self.random_state)
        params.setdefault("verbose", -1)
        if os.environ.get("RESILIENCE_N_JOBS"):  # e.g. 1 per worker when tests run in parallel
            params.setdefault("n_jobs", int(os.environ["RESILIENCE_N_JOBS"]))
        if self.monotone:
            unknown = set(self.monotone) - set(self.feature_space_.features)
            if unknown:
                raise ResilienceError(f"monotone constraint(s) on unknown feature(s): {sorted(unknown)}")
            params["monotone_constraints"] = [int(self.monotone.get(f, 0)) for f in self.feature_space_.features]
            params.setdefault("monotone_constraints_method", "intermediate")
        return params

    def _fit_lightgbm(self, X: pd.DataFrame, y: np.ndarray, dates: pd.Series, lines: pd.Series) -> None:
        import lightgbm as lgb

        params = self._lgbm_params()
        best, fold_auc, fold_logloss = [], [], []
        folds = []
        if self.early_stopping_rounds and self.n_folds > 0:
            folds = list(time_ordered_group_folds(dates, lines, self.n_folds, self.fold_gap_weeks))
            if not folds:  # a short history cannot afford the gap: validate on later rows without it
                folds = list(time_ordered_group_folds(dates, lines, self.n_folds, 0))
        if folds:
            for train_pos, val_pos in folds:
                if len(np.unique(y[train_pos])) < 2 or len(np.unique(y[val_pos])) < 2:
                    continue
                probe = lgb.LGBMClassifier(**params)
                with warnings.catch_warnings():  # eval_set is renamed in newer LightGBM; both work
                    warnings.simplefilter("ignore", category=FutureWarning)
                    warnings.simplefilter("ignore", category=DeprecationWarning)
                    probe.fit(X.iloc[train_pos], y[train_pos], eval_set=[(X.iloc[val_pos], y[val_pos])],
                              eval_metric="binary_logloss",
                              callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)])
                # more rows support more trees: scale the stopping point to the full fit's size
                best.append(max(1, probe.best_iteration_) * len(X) / len(train_pos))
                val_margin = probe.predict(X.iloc[val_pos], raw_score=True)
                fold_auc.append(roc_auc_score(y[val_pos], val_margin))
                fold_logloss.append(float(probe.best_score_["valid_0"]["binary_logloss"]))
        self.best_iterations_ = [round(b) for b in best]
        # Scores on later, line-disjoint folds inside the training span: what sweeps optimise.
        self.cv_scores_ = {"cv_roc_auc": float(np.mean(fold_auc)), "cv_log_loss": float(np.mean(fold_logloss))} if fold_auc else {}
        if best:
            n_estimators = int(round(np.median(best)))
        elif self.early_stopping_rounds:
            n_estimators = FALLBACK_TREES  # early stopping wanted but no fold could be formed
        else:
            n_estimators = int(params["n_estimators"])  # early stopping off: exactly what was asked
        final = {**params, "n_estimators": max(10, min(n_estimators, int(params["n_estimators"])))}
        self.estimator_ = lgb.LGBMClassifier(**final).fit(X, y)

    def _fit_logistic(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.cv_scores_ = {}
        self.design_ = LinearDesign().fit(X, self.feature_space_)
        C = float((self.params or {}).get("C", 1.0))
        self.estimator_ = LogisticRegression(C=C, max_iter=2000).fit(self.design_.transform(X), y)

    # -- prediction -----------------------------------------------------------------------------
    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix for ``frame`` (exactly the preprocessing used in training)."""
        check_is_fitted(self, "estimator_")
        return self.feature_space_.transform(frame)

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        if self.family == "lightgbm":
            return self.estimator_.predict(X, raw_score=True)
        return self.estimator_.decision_function(self.design_.transform(X))

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds of persistence."""
        return self._margin(self.prepare(frame))

    def persistence_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability that each line persists."""
        return self.calibrator_(self.margin(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.persistence_probability(frame)
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.persistence_probability(frame) >= 0.5).astype(int)

    @property
    def feature_names_(self) -> tuple[str, ...]:
        return self.feature_space_.features

    def capacity(self) -> dict:
        """Trees and leaves (LightGBM) or coefficients (logistic): what explanation cost scales with."""
        if self.family == "lightgbm":
            booster = self.estimator_.booster_
            dump = booster.dump_model(num_iteration=-1)
            leaves = sum(t["num_leaves"] for t in dump["tree_info"])
            return {"trees": booster.num_trees(), "leaves": int(leaves)}
        return {"coefficients": int(self.estimator_.coef_.size)}
