"""The explanation of a set of rows (:class:`Explanation`) and the one entry point, :func:`explain`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from resilience.data.contract import ConceptSpec, DataContract
from resilience.explain.concepts import ConceptMap
from resilience.explain.reasons import MIN_REASON_POINTS, REASON_COLUMNS, TOP_REASONS, non_empty, render_reasons
from resilience.explain.shap_values import ExplanationError, check_model, log_odds_contributions, to_points
from resilience.explain.wording import placements as _placements
from resilience.yardstick import Placement


@dataclass
class Explanation:
    """SHAP values of a set of rows, on the log-odds and the probability scale, with reasons.

    Attributes
    ----------
    ids : (rows,) the contract's id column (e.g. ``disruption_id``)
    contributions : log-odds contributions, one column per model feature (named as in the extract)
    base_log_odds : the margin every explanation starts from (LightGBM's expected value; the
        logistic model's intercept)
    margin : (rows,) the model's raw log-odds; ``base_log_odds + contributions.sum(axis=1)``
    probability : (rows,) calibrated ``persistence_probability``
    baseline_probability : ``calibrator(base_log_odds)``
    points : contributions in percentage points of the calibrated probability; each row sums to
        ``100 * (probability - baseline_probability)``
    values : the rows' extract values of the model features (what the reasons quote)
    cohort : (rows,) cohort value as text (e.g. "imported"), or None without a cohort column
    base_rates : (rows,) share of similar (same-cohort) training lines that persisted
    contract : the data contract the model was fitted with
    """

    ids: np.ndarray
    contributions: pd.DataFrame
    base_log_odds: float
    margin: np.ndarray
    probability: np.ndarray
    baseline_probability: float
    points: pd.DataFrame
    values: pd.DataFrame
    cohort: np.ndarray | None
    base_rates: np.ndarray
    contract: DataContract
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- shape ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def features(self) -> list[str]:
        return list(self.contributions.columns)

    @property
    def id_column(self) -> str:
        return self.contract.id_column

    @property
    def concept_map(self) -> ConceptMap:
        if "concepts" not in self._cache:
            self._cache["concepts"] = ConceptMap.build(self.contract, self.features)
        return self._cache["concepts"]

    @property
    def concepts(self) -> tuple[ConceptSpec, ...]:
        return self.concept_map.concepts

    # -- matrices -------------------------------------------------------------------------------
    def concept_matrix(self, scale: str) -> np.ndarray:
        key = f"concept_{scale}"
        if key not in self._cache:
            source = self.contributions if scale == "log_odds" else self.points
            self._cache[key] = source.to_numpy() @ self.concept_map.matrix
        return self._cache[key]

    def by_concept(self, scale: str = "points") -> pd.DataFrame:
        """Contributions summed by concept: id column + one column per concept name."""
        check_scale(scale)
        frame = pd.DataFrame(self.concept_matrix(scale), columns=self.concept_map.names)
        frame.insert(0, self.id_column, self.ids)
        return frame

    def wide(self, scale: str = "points") -> pd.DataFrame:
        """The matrix: id column, one column per input feature, plus the baseline.

        ``scale="points"``: percentage points with ``baseline_probability`` (0-1), so
        ``probability = baseline_probability + row sum / 100``. ``scale="log_odds"``: log-odds with
        ``base_log_odds``, so ``margin = base_log_odds + row sum``.
        """
        check_scale(scale)
        source = self.points if scale == "points" else self.contributions
        frame = source.copy()
        frame.insert(0, self.id_column, self.ids)
        if scale == "points":
            frame["baseline_probability"] = self.baseline_probability
        else:
            frame["base_log_odds"] = self.base_log_odds
        return frame

    def tidy(self) -> pd.DataFrame:
        """One row per (row id, feature): label, concept, value, log-odds contribution, points."""
        n, features = len(self), self.features
        labels = {f: self.contract.describe(f) for f in features}
        concepts = {f: self.contract.concept_of(f).name for f in features}
        return pd.DataFrame({
            self.id_column: np.repeat(self.ids, len(features)),
            "feature": np.tile(np.asarray(features, dtype=object), n),
            "label": np.tile(np.asarray([labels[f] for f in features], dtype=object), n),
            "concept": np.tile(np.asarray([concepts[f] for f in features], dtype=object), n),
            "value": self.values[features].astype(object).to_numpy().reshape(-1),
            "contribution": self.contributions.to_numpy().reshape(-1),
            "points": self.points.to_numpy().reshape(-1),
        })

    # -- words ----------------------------------------------------------------------------------
    @property
    def placements(self) -> list[Placement]:
        if "placements" not in self._cache:
            self._cache["placements"] = _placements(self.probability)
        return self._cache["placements"]

    @property
    def bands(self) -> np.ndarray:
        """Yardstick band name per row."""
        return np.asarray([p.band for p in self.placements], dtype=object)

    @property
    def in_gap(self) -> np.ndarray:
        """Whether the row's percentage falls in a gap between yardstick bands."""
        return np.asarray([p.in_gap for p in self.placements], dtype=bool)

    @property
    def top_concepts(self) -> list[str]:
        """The concept with the largest absolute contribution, per row."""
        if not len(self):
            return []
        matrix = self.concept_matrix("log_odds")
        names = np.asarray(self.concept_map.names, dtype=object)
        return names[np.argmax(np.abs(matrix), axis=1)].tolist()

    @property
    def reasons(self) -> pd.DataFrame:
        """Per row: ``reason_for_1..3`` (raising), ``reason_against_1..3`` (lowering), "" when fewer."""
        return self._reasons()["table"]

    @property
    def reasons_for(self) -> list[list[str]]:
        """Per row, the (up to 3) reasons that raise the estimate, largest first."""
        table = self.reasons
        return non_empty(table, REASON_COLUMNS[:3])

    @property
    def reasons_against(self) -> list[list[str]]:
        """Per row, the (up to 3) reasons that lower the estimate, largest first."""
        table = self.reasons
        return non_empty(table, REASON_COLUMNS[3:])

    @property
    def summary(self) -> np.ndarray:
        """One sentence per row: yardstick words, base rate of similar lines, the main reasons."""
        return self._reasons()["summary"]

    def reasons_frame(self) -> pd.DataFrame:
        """Everything a report row needs: id, probability, yardstick, base rate, reasons, summary."""
        placements = self.placements
        frame = pd.DataFrame({
            self.id_column: self.ids,
            "persistence_probability": self.probability,
            "percent": np.asarray([p.percent for p in placements], dtype=np.int64),
            "yardstick_band": np.asarray([p.band for p in placements], dtype=object),
            "band_in_gap": np.asarray([p.in_gap for p in placements], dtype=bool),
            "yardstick": np.asarray([p.words for p in placements], dtype=object),
            "baseline_probability": self.baseline_probability,
            "similar_lines_rate": self.base_rates,
        })
        for column in REASON_COLUMNS:
            frame[column] = self.reasons[column].to_numpy()
        frame["summary"] = self.summary
        frame["top_concept"] = self.top_concepts
        return frame

    def _reasons(self) -> dict:
        if "reasons" not in self._cache:
            self._cache["reasons"] = render_reasons(self, TOP_REASONS, MIN_REASON_POINTS)
        return self._cache["reasons"]


def check_scale(scale: str) -> None:
    if scale not in ("points", "log_odds"):
        raise ExplanationError(f"scale must be 'points' or 'log_odds', not {scale!r}")


def explain(model, frame: pd.DataFrame) -> Explanation:
    """Explain every row of ``frame`` (validated extract rows) at once.

    Parameters
    ----------
    model : a fitted :class:`resilience.models.PersistenceModel` (either family)
    frame : rows with the model's feature columns and the contract's id column

    Returns
    -------
    Explanation

    Raises
    ------
    ExplanationError
        if the contributions do not add up to the model's margin on some row (to 1e-6).

    Examples
    --------
    >>> explanation = explain(model, frame)
    >>> explanation.wide().head()
    """
    check_model(model)
    contract = model.contract
    frame = frame.reset_index(drop=True)
    ids = (frame[contract.id_column].to_numpy() if contract.id_column in frame.columns
           else np.arange(len(frame)))
    X = model.prepare(frame)
    features = list(model.feature_names_)
    raw, base, margin = log_odds_contributions(model, X, ids)
    points, probability, baseline = to_points(raw, base, margin, model.calibrator_)
    cohort_column = contract.cohort_column
    if cohort_column and cohort_column in frame.columns:
        rates = getattr(model, "cohort_base_rates_", {}) or {}
        text = frame[cohort_column].astype(object).where(frame[cohort_column].notna(), None)
        text = text.map(lambda v: None if v is None or str(v) not in rates else str(v))
        cohort = text.to_numpy(dtype=object)
        base_rates = text.map(rates).astype(float).fillna(float(model.base_rate_)).to_numpy(float)
    else:
        cohort, base_rates = None, np.full(len(frame), float(model.base_rate_))
    return Explanation(
        ids=ids,
        contributions=pd.DataFrame(raw, columns=features),
        base_log_odds=base,
        margin=margin,
        probability=probability,
        baseline_probability=baseline,
        points=pd.DataFrame(points, columns=features),
        values=frame[features].copy(),
        cohort=cohort,
        base_rates=base_rates,
        contract=contract,
    )
