"""One estimator = feature preparation + model + probability calibration.

:class:`PersistenceModel` is what is trained, registered and scored, so scoring can never apply
different preprocessing from training. It reads columns through the data contract it was fitted
with (stored on the model) and supports two families (:mod:`resilience.learn.families`):

* ``lightgbm`` — gradient-boosted trees with native categorical handling, optional monotone
  constraints, and the number of trees chosen by early stopping on time-ordered, line-grouped
  folds (so the model gets only the capacity the data needs).
* ``logistic`` — a regularised logistic regression on log-scaled, standardised numbers and
  one-hot categories: the transparent baseline.

Both read their inputs through scikit-learn transformers with pandas output
(:mod:`resilience.learn.preparation`): ``preparation_`` for both, ``design_`` and
``design_blocks_`` for the logistic baseline.

The raw model output is a *margin* (log-odds); a calibrator fitted on a held-out, most-recent
slice of the training span maps it to ``persistence_probability``
(:mod:`resilience.learn.calibration`).

**Hooks.** What explanations, ranges and the reason screen need from a model is asked of the
model, which asks its family: :meth:`~PersistenceModel.raw_margin`,
:meth:`~PersistenceModel.contributions`, :meth:`~PersistenceModel.member_margin`,
:meth:`~PersistenceModel.refit_estimator`, :meth:`~PersistenceModel.fixed_recipe` and
:meth:`~PersistenceModel.without_features`. :meth:`~PersistenceModel.parts` routes rows to the
model that predicts them: a single model predicts every row itself; a
:class:`~resilience.learn.segments.SegmentModel` routes each row to its segment's model.

Example
-------
>>> model = PersistenceModel(contract, family="lightgbm").fit(train_frame)
>>> model.persistence_probability(week_frame)[:3]
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract
from resilience.learn.calibration import (
    CALIBRATIONS,
    POOLINGS,
    Calibrator,
    CohortRows,
    require_one_of,
)
from resilience.learn.families import FAMILIES, family
from resilience.learn.preparation import input_preparation
from resilience.learn.split import calibration_slice

# The route of a single model: every row is its own (see PersistenceModel.parts).
WHOLE = ""


def base_rates_by_cohort(y, frame: pd.DataFrame, cohort: str | None) -> dict[str, float]:
    """The share of rows that persisted per cohort value (as text); empty without a cohort column."""
    if not cohort:
        return {}
    rates = pd.Series(np.asarray(y)).groupby(frame[cohort].astype(str).to_numpy()).mean()
    return {str(k): float(v) for k, v in rates.items()}


class PersistenceModel(BaseEstimator, ClassifierMixin):
    """Predicts the probability that a line persists after a disruption.

    A scikit-learn estimator: ``__init__`` stores its arguments, ``fit`` checks them first (before
    any fitting) and returns ``self``; everything learned ends in ``_``.

    Parameters
    ----------
    contract : the data contract of the training extract (stored with the model)
    family : ``"lightgbm"`` or ``"logistic"``
    params : estimator parameters overriding
        :data:`~resilience.learn.families.DEFAULT_LGBM_PARAMS` key by key (a ``None`` value keeps
        the default), or ``C`` for the logistic model
    calibration : ``"sigmoid"``, ``"isotonic"`` or ``"none"``
    calibration_fraction : share of the (most recent) training rows held out to fit the calibrator
    calibration_by_cohort : one calibration intercept per value of the data config's
        ``cohort_column`` when it is a model feature (:mod:`resilience.learn.calibration`)
    cohort_trend_alpha : level of the test for a per-cohort drift the intercepts are carried
        forward by (0: never)
    cohort_drift_weeks : how far past the date the model starts to serve a carried drift follows
        the date scored: each disruption gets the drift to its own date, up to this many weeks
        (0: every disruption gets the drift to the first date served)
    cohort_pooling : ``"partial"`` (the cohorts' intercepts shrunk towards each other by their
        evidence, so a small calibration slice does no harm) or ``"none"`` (as fitted)
    monotone : ``{feature: +1 | -1}`` monotone constraints for LightGBM
    features : subset of the contract's features to use (default: all)
    exclude : features to leave out
    early_stopping_rounds : patience on the time-ordered validation folds
    n_folds : number of time-ordered, line-grouped folds for early stopping
    fold_gap_weeks : gap between a fold's training rows and its validation block
    random_state : seed for everything random
    n_jobs : LightGBM threads (``None``: LightGBM's own default; ``params["n_jobs"]`` wins)
    """

    # Set after fitting by the training pipeline; a model trained without them has none.
    interval_ensemble_ = None  # the ranges (resilience.learn.ranges)
    reason_screen_ = None  # which reasons are earned (resilience.explain.screen)
    # models pickled before cohort calibration read these (one intercept for every line)
    calibration_by_cohort = False
    cohort_trend_alpha = 0.0
    cohort_pooling = "none"
    cohort_drift_weeks = 0  # models pickled before it carry a drift to the first date served
    # Rows per disruption in the training frame (records as they stood: several snapshots of each,
    # resilience.learn.records); a family setting that counts rows counts disruptions with it.
    rows_per_disruption_ = 1.0

    def __init__(
        self,
        contract: DataContract,
        family: str = "lightgbm",
        params: dict | None = None,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.15,
        calibration_by_cohort: bool = True,
        cohort_trend_alpha: float = 0.2,
        cohort_pooling: str = "partial",
        cohort_drift_weeks: int = 26,
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
        self.calibration_by_cohort = calibration_by_cohort
        self.cohort_trend_alpha = cohort_trend_alpha
        self.cohort_pooling = cohort_pooling
        self.cohort_drift_weeks = cohort_drift_weeks
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
        require_one_of("model family", self.family, FAMILIES)
        require_one_of("calibration", self.calibration, CALIBRATIONS)
        require_one_of("cohort_pooling", self.cohort_pooling, POOLINGS)
        if not 0 <= self.calibration_fraction < 1:
            raise ResilienceError(
                f"calibration_fraction must be in [0, 1), not {self.calibration_fraction!r}"
            )
        if not 0 <= self.cohort_drift_weeks <= 520:
            raise ResilienceError(
                f"cohort_drift_weeks must be 0-520 weeks past the first date served, not "
                f"{self.cohort_drift_weeks!r}"
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
        # a derived input the frame lacks (the record's age, without snapshots) is left out:
        # every record is then a final one and its age would be the same for all
        features = tuple(
            f
            for f in self._check_params()
            if f in frame.columns or f not in self.contract.derived_columns
        )
        y = np.asarray(frame[self.contract.label] if y is None else y).astype(int)
        if len(np.unique(y)) < 2:
            raise ResilienceError(
                "the training rows hold only one outcome; a model needs both persisted and not"
            )
        frame = frame.reset_index(drop=True)
        dates = frame[self.contract.date_column]
        disruptions, lines = frame[self.contract.id_column], frame[self.contract.line_column]
        self.rows_per_disruption_ = len(frame) / max(int(disruptions.nunique()), 1)
        self.feature_names_ = features
        categories = self._categories(frame, features)
        self.categorical_features_ = tuple(categories)
        self.preparation_ = input_preparation(features, categories)
        X = self.preparation_.fit_transform(self._inputs(frame))
        fit_pos, cal_pos = calibration_slice(
            dates, self.calibration_fraction if self.calibration != "none" else 0, disruptions
        )
        family(self.family).fit(
            self,
            X.iloc[fit_pos],
            y[fit_pos],
            dates.iloc[fit_pos],
            lines.iloc[fit_pos],
        )
        self.calibrator_ = (
            self.calibrate(
                family(self.family).margin(self, X), X, y, dates, fit_pos, cal_pos, lines
            )
            if len(cal_pos)
            else Calibrator("none")
        )
        self.base_rate_ = float(y.mean())
        self.cohort_base_rates_ = base_rates_by_cohort(y, frame, self.contract.cohort_column)
        self.n_train_rows_ = int(len(y))
        self.classes_ = np.array([0, 1])
        return self

    def cohort_feature(self) -> str | None:
        """The data config's cohort column when the model uses it as a feature (and calibrates by
        it): the column whose contribution carries the cohort's calibration offset."""
        column = self.contract.cohort_column
        return column if self.calibration_by_cohort and column in self.feature_names_ else None

    def cohort_rows(
        self, X: pd.DataFrame, dates: pd.Series, fit_pos, cal_pos, lines=None
    ) -> CohortRows | None:
        """What a per-cohort calibrator of the prepared rows ``X`` needs (None: not by cohort);
        ``lines``: each row's line (the intercepts' standard errors are clustered by it)."""
        column = self.cohort_feature()
        if column is None:
            return None
        values = (
            X[column]
            .astype(object)
            .where(X[column].notna(), None)
            .map(lambda v: "" if v is None else str(v))
        )
        serves_from = pd.to_datetime(dates).max() + pd.Timedelta(weeks=self.contract.horizon_weeks)
        return CohortRows(
            column,
            values.to_numpy(dtype=object),
            np.asarray(fit_pos),
            np.asarray(cal_pos),
            pd.Series(pd.to_datetime(dates)).reset_index(drop=True),
            serves_from,
            float(self.cohort_trend_alpha),
            None if lines is None else np.asarray(pd.Series(lines).astype(str)),
            self.cohort_pooling,
            float(self.cohort_drift_weeks),
        )

    def calibrate(
        self, margin, X: pd.DataFrame, y, dates, fit_pos, cal_pos, lines=None, as_fitted=False
    ) -> Calibrator:
        """The recipe's calibrator of an estimator's ``margin`` on the prepared rows ``X`` (one
        intercept per cohort when asked), fitted on the rows ``cal_pos``; ``fit_pos``: the rows the
        estimator was fitted on. The ranges' refits are calibrated by the same hook with
        ``as_fitted=True``: a drift between cohorts is carried exactly when this model carries one
        (its slopes fitted again, not tested again), so a range holds the trend's own uncertainty
        and not a test that passes in some refits and fails in others."""
        rows = self.cohort_rows(X, dates, fit_pos, cal_pos, lines)
        if rows is not None and as_fitted:
            rows = replace(rows, trend_alpha=1.0 if self.carries_trend() else 0.0)
        if rows is None:
            return Calibrator(self.calibration).fit(margin[cal_pos], y[cal_pos])
        return Calibrator(self.calibration).fit_by_cohort(margin, y, rows)

    def carries_trend(self) -> bool:
        """Whether the fitted calibrator carries its cohorts' drift to the date served."""
        cohorts = getattr(self.calibrator_, "cohorts_", None)
        return bool(cohorts is not None and cohorts.trend)

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

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds of persistence."""
        return self.raw_margin(self.prepare(frame), self.dates_of(frame))

    def dates_of(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Each row's disruption date, when the calibrator carries a drift on to the date scored
        (the offset then follows the date); None otherwise, or when ``frame`` has no date column
        (every row then gets the drift at the first date served)."""
        cohorts = getattr(self.calibrator_, "cohorts_", None)
        column = self.contract.date_column
        if cohorts is None or not cohorts.follows_date() or column not in frame.columns:
            return None
        return frame[column].to_numpy()  # read as dates by the offsets (CohortOffsets.of)

    def persistence_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability that each line persists."""
        return self.probability_of(self.prepare(frame), frame)  # prepare checks it is fitted

    def probability_of(self, X: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
        """:meth:`persistence_probability` of the rows of ``frame`` from their input matrix ``X``
        (:meth:`prepare`) already made: for a caller that needs ``X`` itself too."""
        return self.calibrator_(self.raw_margin(X, self.dates_of(frame)))

    def drift_sd_of(self, X: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
        """The standard error (calibrated log-odds) of the drift carried to each row's date
        (:meth:`Calibrator.drift_sd`): what a range adds for a trend taken beyond the data; zeros
        for a model that carries none."""
        return self.calibrator_.drift_sd(X, self.dates_of(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.persistence_probability(frame)
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.persistence_probability(frame) >= 0.5).astype(int)

    def calibration_summary(self) -> dict[str, float]:
        """The cohorts' calibration as a run records it (:meth:`Calibrator.summary`)."""
        check_is_fitted(self, "calibrator_")
        return self.calibrator_.summary()

    def cohort_evidence(self) -> tuple[str, float] | None:
        """``(cohort column, p-value)``: how surely the calibrator's offsets by cohort rest on a
        real difference (:meth:`CohortOffsets.evidence_p_value`); None without them."""
        check_is_fitted(self, "calibrator_")
        cohorts = self.calibrator_.cohorts_  # None also on calibrators pickled before cohorts
        p_value = None if cohorts is None else cohorts.evidence_p_value()
        return None if p_value is None else (cohorts.column, p_value)

    def capacity(self) -> dict:
        """Trees and leaves (LightGBM) or coefficients (logistic): what explanation cost scales with."""
        check_is_fitted(self, "calibrator_")
        return family(self.family).capacity(self)

    # -- hooks: what explanations, ranges and the reason screen ask of a model -------------------
    def submodels(self) -> dict[str, PersistenceModel]:
        """The models that predict rows, by route: a single model is its own only one."""
        return {WHOLE: self}

    def parts(self, frame: pd.DataFrame) -> dict[str, tuple[PersistenceModel, np.ndarray]]:
        """Which model predicts which rows (positions in ``frame``): here, this model every row."""
        return {WHOLE: (self, np.arange(len(frame)))}

    def raw_margin(self, X: pd.DataFrame, dates=None) -> np.ndarray:
        """Uncalibrated log-odds of the prepared input matrix ``X`` (:meth:`prepare`): the family's
        margin plus the row's cohort offset (0 without cohort calibration), carried to each row's
        disruption date when ``dates`` are given (:meth:`dates_of`)."""
        return family(self.family).margin(self, X) + self.calibrator_.offset(X, dates)

    def contributions(self, X: pd.DataFrame, dates=None) -> tuple[np.ndarray, float, np.ndarray]:
        """Exact SHAP values of the prepared rows ``X`` in log-odds: ``(contributions (rows,
        features), base, margin (rows,))``, ``base + contributions.sum(axis=1) == margin``. The
        cohort offset (centred, so the base is the family's; carried to each row's date when
        ``dates`` are given) is the cohort column's."""
        raw, base, margin = family(self.family).contributions(self, X)
        column = self.cohort_feature()
        if column is not None and len(X):
            offset = self.calibrator_.offset(X, dates)
            raw[:, self.feature_names_.index(column)] += offset
            margin = margin + offset
        return raw, base, margin

    def refit_estimator(self, X: pd.DataFrame, y: np.ndarray, seed: int):
        """The fitted estimator's recipe (same settings and capacity) refitted on other labels of
        prepared rows: a member of the ranges' ensemble."""
        return family(self.family).refit(self, X, y, seed)

    def member_margin(self, estimator, design, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of a refitted estimator (:meth:`refit_estimator`) on prepared rows ``X``."""
        return family(self.family).member_margin(self, estimator, design, X)

    def fixed_recipe(self) -> PersistenceModel:
        """This model's recipe made cheap (unfitted): its capacity fixed (no early stopping), no
        calibrator; what the reason screen refits on permuted labels."""
        recipe = clone(self).set_params(calibration="none", early_stopping_rounds=0)
        return recipe.set_params(**family(self.family).fixed_params(self))

    def paired_recipe(self) -> PersistenceModel:
        """:meth:`fixed_recipe` without random subsampling: refits of it with and without a column
        differ only by that column (what the reason screen's summary-column test compares)."""
        recipe = self.fixed_recipe()
        return recipe.set_params(**family(self.family).paired_params(recipe.params))

    def without_features(self, features) -> PersistenceModel:
        """The recipe (unfitted) with ``features`` left out as well."""
        exclude = sorted(set(self.exclude or []) | set(features))
        return clone(self).set_params(exclude=exclude)
