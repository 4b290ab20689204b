"""One estimator = feature preparation + model + probability calibration.

:class:`PersistenceModel` is what is trained, registered and scored, so scoring can never apply
different preprocessing from training. It reads columns through the data contract it was fitted
with (stored on the model) and supports two families:

* ``lightgbm`` — gradient-boosted trees with native categorical handling, optional monotone
  constraints, and the number of trees chosen by early stopping on time-ordered, line-grouped
  folds (so the model gets only the capacity the data needs).
* ``logistic`` — a regularised logistic regression on log-scaled, standardised numbers and
  one-hot categories: the transparent baseline.

Both families read their inputs through scikit-learn transformers with pandas output:

* ``preparation_`` (:func:`input_preparation`): numbers and booleans as floats, categories as a
  pandas ``Categorical`` with the training categories (what LightGBM splits on natively), in the
  order of ``feature_names_``;
* ``design_`` (logistic only, :func:`linear_design`): a ``ColumnTransformer`` making the design
  matrix from that; ``design_blocks_[feature]`` are the positions of each feature's design
  columns: the blocks exact linear SHAP sums.

The raw model output is a *margin* (log-odds); a calibrator fitted on a held-out, most-recent
slice of the training span maps it to ``persistence_probability``: ``sigmoid`` (Platt scaling,
strictly increasing, the default) or ``isotonic`` (non-decreasing step function).

Example
-------
>>> model = PersistenceModel(contract, family="lightgbm").fit(train_frame)
>>> model.persistence_probability(week_frame)[:3]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract
from resilience.learn.split import calibration_slice, time_ordered_group_folds

FAMILIES = ("lightgbm", "logistic")
CALIBRATIONS = ("sigmoid", "isotonic", "none")
FALLBACK_TREES = 200  # when no validation fold can be formed (a very short history)

# The toolkit's LightGBM settings: the one place for them. ``params`` (configs/model/lightgbm.yaml,
# where ``null`` means "this default") overrides them key by key.
DEFAULT_LGBM_PARAMS = {
    "n_estimators": 2000,  # an upper bound: early stopping picks the real number
    "learning_rate": 0.04,  # smaller = more trees, smoother fit
    "num_leaves": 5,  # leaves per tree: capacity, and the cost of every explanation
    "max_depth": -1,
    "min_child_samples": 80,  # rows a leaf needs: guards against fitting noise
    "subsample": 0.8,  # row subsampling per tree ...
    "subsample_freq": 1,  # ... redrawn every tree
    "colsample_bytree": 0.8,  # feature subsampling per tree
    "reg_lambda": 1.0,  # L2 penalty on leaf values
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 8,
}


# -- input preparation (both families) ----------------------------------------------------------
def as_float(X: pd.DataFrame) -> pd.DataFrame:
    """Numbers and booleans as floats; missing (None, NA, NaN) and non-numbers as NaN."""
    return pd.DataFrame(
        {
            name: pd.to_numeric(
                X[name].astype(object).where(X[name].notna(), np.nan), errors="coerce"
            ).astype(float)
            for name in X.columns
        },
        index=X.index,
    )


def as_category(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Values as text in a pandas ``Categorical`` with the training categories (others become missing)."""
    out = {}
    for name in X.columns:
        values = X[name].astype(object).where(X[name].notna(), None)
        out[name] = pd.Categorical(
            values.map(lambda v: v if v is None else str(v)), categories=categories[name]
        )
    return pd.DataFrame(out, index=X.index)


def in_order(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns of ``X`` in the given order."""
    return X[columns]


def _ordered_names(transformer: FunctionTransformer, input_features) -> np.ndarray:
    return np.asarray(transformer.kw_args["columns"], dtype=object)


def input_preparation(features: tuple[str, ...], categories: dict[str, list[str]]) -> Pipeline:
    """How raw extract columns become model inputs, returned in ``features`` order.

    ``categories`` names the categorical features and their categories (learned at fit: the data
    config's allowed values, or else those seen in training); every other feature is a number.
    """
    numbers = [f for f in features if f not in categories]
    categorical = [f for f in features if f in categories]
    convert = ColumnTransformer(
        [
            ("numbers", FunctionTransformer(as_float, feature_names_out="one-to-one"), numbers),
            (
                "categories",
                FunctionTransformer(
                    as_category,
                    kw_args={"categories": {f: list(categories[f]) for f in categorical}},
                    feature_names_out="one-to-one",
                ),
                categorical,
            ),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    order = FunctionTransformer(
        in_order, kw_args={"columns": list(features)}, feature_names_out=_ordered_names
    )
    return Pipeline([("convert", convert), ("order", order)]).set_output(transform="pandas")


# -- the logistic baseline's design matrix --------------------------------------------------------
def log1p_nonnegative(X):
    """``log1p`` of values clipped at zero (counts and amounts span orders of magnitude)."""
    return np.log1p(np.clip(X, 0, None))


def _spans_magnitudes(values: pd.Series) -> bool:
    return bool(values.min(skipna=True) >= 0 and values.max(skipna=True) > 1)


def linear_design(X: pd.DataFrame) -> ColumnTransformer:
    """The (unfitted) design matrix of the logistic baseline on prepared input ``X``.

    Categoricals are one-hot on their training categories (unseen and missing: all zero); missing
    numbers take the training median (0 if never seen) and are ``log1p``-scaled when the training
    values are non-negative and exceed 1; every design column is standardised. Once fitted,
    :func:`design_blocks` says which design columns belong to each feature.
    """
    categorical = [f for f in X.columns if isinstance(X[f].dtype, pd.CategoricalDtype)]
    numbers = [f for f in X.columns if f not in categorical]
    logged = [f for f in numbers if _spans_magnitudes(X[f])]
    impute = lambda: SimpleImputer(strategy="median", keep_empty_features=True)  # noqa: E731
    onehot = OneHotEncoder(
        categories=[list(X[f].cat.categories) for f in categorical],
        handle_unknown="ignore",
        sparse_output=False,
    )
    return ColumnTransformer(
        [
            (
                "log_numbers",
                Pipeline(
                    [
                        ("impute", impute()),
                        (
                            "log1p",
                            FunctionTransformer(log1p_nonnegative, feature_names_out="one-to-one"),
                        ),
                        ("scale", StandardScaler()),
                    ]
                ),
                logged,
            ),
            (
                "numbers",
                Pipeline([("impute", impute()), ("scale", StandardScaler())]),
                [f for f in numbers if f not in logged],
            ),
            (
                "categories",
                Pipeline([("onehot", onehot), ("scale", StandardScaler())]),
                categorical,
            ),
        ],
        remainder="drop",
    ).set_output(transform="pandas")


def design_blocks(design: ColumnTransformer) -> dict[str, np.ndarray]:
    """Positions of each input feature's columns in a fitted design's output (what exact linear SHAP sums)."""
    blocks = {}
    for name, _, columns in design.transformers_:
        if name == "remainder" or not len(columns):
            continue
        position = design.output_indices_[name].start
        widths = (
            [len(c) for c in design.named_transformers_[name]["onehot"].categories_]
            if name == "categories"
            else [1] * len(columns)
        )
        for feature, width in zip(columns, widths):
            blocks[feature] = np.arange(position, position + width)
            position += width
    return blocks


def _require_one_of(setting: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ResilienceError(f"{setting} must be one of {allowed}, not {value!r}")


# -- calibration -----------------------------------------------------------------------------------
class Calibrator:
    """Maps a margin (log-odds) to a probability; fitted on held-out rows."""

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        _require_one_of("calibration", self.method, CALIBRATIONS)
        margin = np.asarray(margin, float).reshape(-1)
        y = np.asarray(y, float).reshape(-1)
        if self.method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if self.slope_ <= 0:  # a model worse than chance on recent data: keep it identity
                self.slope_, self.intercept_ = 1.0, 0.0
        elif self.method == "isotonic":
            self.isotonic_ = IsotonicRegression(
                out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4
            ).fit(margin, y)
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, float)
        if self.method == "sigmoid":
            return expit(self.slope_ * margin + self.intercept_)
        if self.method == "isotonic":
            return self.isotonic_.predict(margin.reshape(-1))
        return expit(margin)


class PersistenceModel(BaseEstimator, ClassifierMixin):
    """Predicts the probability that a line persists after a disruption.

    A scikit-learn estimator: ``__init__`` stores its arguments, ``fit`` checks them first (before
    any fitting) and returns ``self``; everything learned ends in ``_``.

    Parameters
    ----------
    contract : the data contract of the training extract (stored with the model)
    family : ``"lightgbm"`` or ``"logistic"``
    params : estimator parameters overriding :data:`DEFAULT_LGBM_PARAMS` key by key (a ``None``
        value keeps the default), or ``C`` for the logistic model
    calibration : ``"sigmoid"``, ``"isotonic"`` or ``"none"``
    calibration_fraction : share of the (most recent) training rows held out to fit the calibrator
    monotone : ``{feature: +1 | -1}`` monotone constraints for LightGBM
    features : subset of the contract's features to use (default: all)
    exclude : features to leave out
    early_stopping_rounds : patience on the time-ordered validation folds
    n_folds : number of time-ordered, line-grouped folds for early stopping
    fold_gap_weeks : gap between a fold's training rows and its validation block
    random_state : seed for everything random
    n_jobs : LightGBM threads (``None``: LightGBM's own default; ``params["n_jobs"]`` wins)
    """

    def __init__(
        self,
        contract: DataContract,
        family: str = "lightgbm",
        params: dict | None = None,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.15,
        monotone: dict | None = None,
        features: list | None = None,
        exclude: list | None = None,
        early_stopping_rounds: int = 50,
        n_folds: int = 3,
        fold_gap_weeks: int = 12,
        random_state: int = 0,
        n_jobs: int | None = None,
    ):
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
        self.n_jobs = n_jobs

    # -- fitting --------------------------------------------------------------------------------
    def _check_params(self) -> tuple[str, ...]:
        """Refuse bad settings before any work; returns the features to use."""
        _require_one_of("model family", self.family, FAMILIES)
        _require_one_of("calibration", self.calibration, CALIBRATIONS)
        if not 0 <= self.calibration_fraction < 1:
            raise ResilienceError(
                f"calibration_fraction must be in [0, 1), not {self.calibration_fraction!r}"
            )
        chosen = list(self.features) if self.features else list(self.contract.features)
        unknown = [f for f in chosen + list(self.exclude or []) if f not in self.contract.features]
        if unknown:
            raise ResilienceError(
                f"feature(s) {unknown} are not features of data config '{self.contract.name}' "
                f"(its features: {', '.join(self.contract.features)})"
            )
        features = tuple(f for f in chosen if f not in set(self.exclude or []))
        unknown = sorted(set(self.monotone or {}) - set(features))
        if unknown:
            raise ResilienceError(f"monotone constraint(s) on unknown feature(s): {unknown}")
        return features

    def _categories(self, frame: pd.DataFrame, features: tuple[str, ...]) -> dict[str, list[str]]:
        """Each categorical feature's categories: the data config's allowed values, or those seen."""
        categories = {}
        for name in features:
            column = self.contract.column(name)
            if column.is_categorical:
                seen = sorted(str(v) for v in pd.Series(frame[name]).dropna().unique())
                categories[name] = list(column.allowed) if column.allowed else seen
        return categories

    def fit(self, frame: pd.DataFrame, y=None) -> PersistenceModel:
        """Fit on a labelled training frame (label from the contract unless ``y`` is given)."""
        features = self._check_params()
        y = np.asarray(frame[self.contract.label] if y is None else y).astype(int)
        if len(np.unique(y)) < 2:
            raise ResilienceError(
                "the training rows hold only one outcome; a model needs both persisted and not"
            )
        frame = frame.reset_index(drop=True)
        dates = frame[self.contract.date_column]
        self.feature_names_ = features
        categories = self._categories(frame, features)
        self.categorical_features_ = tuple(categories)
        self.preparation_ = input_preparation(features, categories)
        X = self.preparation_.fit_transform(self._inputs(frame))
        fit_pos, cal_pos = calibration_slice(
            dates, self.calibration_fraction if self.calibration != "none" else 0
        )
        if self.family == "lightgbm":
            self._fit_lightgbm(
                X.iloc[fit_pos],
                y[fit_pos],
                dates.iloc[fit_pos],
                frame[self.contract.line_column].iloc[fit_pos],
            )
        else:
            self._fit_logistic(X.iloc[fit_pos], y[fit_pos])
        if len(cal_pos):
            self.calibrator_ = Calibrator(self.calibration).fit(
                self._margin(X.iloc[cal_pos]), y[cal_pos]
            )
        else:
            self.calibrator_ = Calibrator("none")
        self.base_rate_ = float(y.mean())
        cohort = self.contract.cohort_column
        self.cohort_base_rates_ = (
            {
                str(k): float(v)
                for k, v in pd.Series(y)
                .groupby(frame[cohort].astype(str).to_numpy())
                .mean()
                .items()
            }
            if cohort
            else {}
        )
        self.n_train_rows_ = int(len(y))
        self.classes_ = np.array([0, 1])
        return self

    def _lgbm_params(self) -> dict:
        """LightGBM keyword arguments: the defaults, overridden by ``params`` (``None`` keeps a default)."""
        params = {
            **DEFAULT_LGBM_PARAMS,
            **{k: v for k, v in (self.params or {}).items() if v is not None},
        }
        params.setdefault("random_state", self.random_state)
        params.setdefault("verbose", -1)
        if self.n_jobs is not None:
            params.setdefault("n_jobs", int(self.n_jobs))
        if self.monotone:
            params["monotone_constraints"] = [
                int(self.monotone.get(f, 0)) for f in self.feature_names_
            ]
            params.setdefault("monotone_constraints_method", "intermediate")
        return params

    def _fit_lightgbm(
        self, X: pd.DataFrame, y: np.ndarray, dates: pd.Series, lines: pd.Series
    ) -> None:
        import lightgbm as lgb

        params = self._lgbm_params()
        best, fold_auc, fold_logloss = [], [], []
        folds = []
        if self.early_stopping_rounds and self.n_folds > 0:
            folds = list(time_ordered_group_folds(dates, lines, self.n_folds, self.fold_gap_weeks))
            if (
                not folds
            ):  # a short history cannot afford the gap: validate on later rows without it
                folds = list(time_ordered_group_folds(dates, lines, self.n_folds, 0))
        if folds:
            for train_pos, val_pos in folds:
                if len(np.unique(y[train_pos])) < 2 or len(np.unique(y[val_pos])) < 2:
                    continue
                probe = lgb.LGBMClassifier(**params)
                with warnings.catch_warnings():  # eval_set is renamed in newer LightGBM; both work
                    warnings.simplefilter("ignore", category=FutureWarning)
                    warnings.simplefilter("ignore", category=DeprecationWarning)
                    probe.fit(
                        X.iloc[train_pos],
                        y[train_pos],
                        eval_set=[(X.iloc[val_pos], y[val_pos])],
                        eval_metric="binary_logloss",
                        callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
                    )
                # more rows support more trees: scale the stopping point to the full fit's size
                best.append(max(1, probe.best_iteration_) * len(X) / len(train_pos))
                val_margin = probe.predict(X.iloc[val_pos], raw_score=True)
                fold_auc.append(roc_auc_score(y[val_pos], val_margin))
                fold_logloss.append(float(probe.best_score_["valid_0"]["binary_logloss"]))
        self.best_iterations_ = [round(b) for b in best]
        # Scores on later, line-disjoint folds inside the training span: what sweeps optimise.
        self.cv_scores_ = (
            {"cv_roc_auc": float(np.mean(fold_auc)), "cv_log_loss": float(np.mean(fold_logloss))}
            if fold_auc
            else {}
        )
        if best:
            n_estimators = int(round(np.median(best)))
        elif self.early_stopping_rounds:
            n_estimators = FALLBACK_TREES  # early stopping wanted but no fold could be formed
        else:
            n_estimators = int(params["n_estimators"])  # early stopping off: exactly what was asked
        final = {**params, "n_estimators": max(10, min(n_estimators, int(params["n_estimators"])))}
        self.lgbm_params_ = final  # what was fitted, defaults included (for the run's record)
        self.estimator_ = lgb.LGBMClassifier(**final).fit(X, y)

    def _fit_logistic(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.cv_scores_ = {}
        self.design_ = linear_design(X)
        Z = self.design_.fit_transform(X).to_numpy(float)
        self.design_blocks_ = design_blocks(self.design_)
        C = float((self.params or {}).get("C", 1.0))
        self.estimator_ = LogisticRegression(C=C, max_iter=2000).fit(Z, y)

    # -- prediction -----------------------------------------------------------------------------
    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [f for f in self.feature_names_ if f not in frame.columns]
        if missing:
            raise ResilienceError(
                f"the frame to score lacks the model's feature column(s): {', '.join(missing)}"
            )
        return frame[list(self.feature_names_)]

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix for ``frame`` (exactly the preprocessing used in training)."""
        check_is_fitted(self, "calibrator_")
        return self.preparation_.transform(self._inputs(frame))

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        if self.family == "lightgbm":
            return self.estimator_.predict(X, raw_score=True)
        return self.estimator_.decision_function(self.design_.transform(X).to_numpy(float))

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds of persistence."""
        return self._margin(self.prepare(frame))

    def persistence_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability that each line persists."""
        margin = self.margin(frame)  # checks the model is fitted
        return self.calibrator_(margin)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.persistence_probability(frame)
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.persistence_probability(frame) >= 0.5).astype(int)

    def capacity(self) -> dict:
        """Trees and leaves (LightGBM) or coefficients (logistic): what explanation cost scales with."""
        check_is_fitted(self, "calibrator_")
        if self.family == "lightgbm":
            booster = self.estimator_.booster_
            dump = booster.dump_model(num_iteration=-1)
            leaves = sum(t["num_leaves"] for t in dump["tree_info"])
            return {"trees": booster.num_trees(), "leaves": int(leaves)}
        return {"coefficients": int(self.estimator_.coef_.size)}
