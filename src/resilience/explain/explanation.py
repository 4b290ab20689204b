"""The explanation of a set of rows (:class:`Explanation`) and the one entry point, :func:`explain`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from resilience.core.yardstick import Placement, placements
from resilience.data.contract import ConceptSpec, DataContract
from resilience.explain.concepts import ConceptMap
from resilience.explain.reasons import (
    OTHER_FACTORS,
    REASON_COLUMNS,
    TOP_REASONS,
    concept_phrases,
    named_columns,
    non_empty,
    render_reasons,
)
from resilience.explain.screen import ReasonScreen
from resilience.explain.shap_values import (
    ExplanationError,
    check_model,
    log_odds_contributions,
    to_points,
)
from resilience.explain.wording import ValueWords


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
    similar_rates : (rows,) share of similar lines (same cohort, same yardstick band, held-out test
        period) that persisted; NaN where there were too few to compare like with like
    contract : the data contract the model was fitted with
    screen : which features and concepts may be shown as reasons, and from how many points
        (the model's ``reason_screen_``); None: every feature, from half a point
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
    similar_rates: np.ndarray
    contract: DataContract
    screen: ReasonScreen | None = None
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

    @property
    def rules(self) -> ReasonScreen:
        """The screen in force (every feature, from half a point, when the model has none)."""
        return self.screen or ReasonScreen.everything(self.contract, self.features)

    @property
    def shown(self) -> np.ndarray:
        """Per feature: may it appear in a reason (it and its concept earned their place)?"""
        if "shown" not in self._cache:
            self._cache["shown"] = self.rules.shown(self.contract, self.features)
        return self._cache["shown"]

    # -- matrices -------------------------------------------------------------------------------
    def concept_matrix(self, scale: str, shown_only: bool = False) -> np.ndarray:
        """(rows, concepts) contributions summed by concept; ``shown_only``: earned features only
        (a concept that is not earned is then 0; the rest is :meth:`other_factors`)."""
        key = f"concept_{scale}_{shown_only}"
        if key not in self._cache:
            source = (self.contributions if scale == "log_odds" else self.points).to_numpy()
            matrix = (
                self.concept_map.matrix * self.shown[:, None]
                if shown_only
                else self.concept_map.matrix
            )
            self._cache[key] = source @ matrix
        return self._cache[key]

    def other_factors(self, scale: str = "points") -> np.ndarray:
        """(rows,) the summed contribution of every feature that may not be shown as a reason."""
        check_scale(scale)
        source = (self.contributions if scale == "log_odds" else self.points).to_numpy()
        return source[:, ~self.shown].sum(axis=1)

    def shown_points(self) -> pd.DataFrame:
        """:attr:`points` of the features that may be shown, plus ``other_factors`` (the rest,
        summed): each row still adds up to ``100 * (probability - baseline_probability)``."""
        frame = self.points.loc[:, self.shown].copy()
        frame[OTHER_FACTORS] = self.other_factors("points")
        return frame

    def reason_points(self) -> pd.DataFrame:
        """Per row: points of each earned concept and ``other_factors``, adding up exactly to
        ``100 * (probability - baseline_probability)``."""
        earned = [
            k
            for k, name in enumerate(self.concept_map.names)
            if name in set(self.rules.earned_concepts)
        ]
        matrix = self.concept_matrix("points", shown_only=True)[:, earned]
        frame = pd.DataFrame(matrix, columns=[self.concept_map.names[k] for k in earned])
        frame.insert(0, self.id_column, self.ids)
        frame[OTHER_FACTORS] = self.other_factors("points")
        return frame

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
        return pd.DataFrame(
            {
                self.id_column: np.repeat(self.ids, len(features)),
                "feature": np.tile(np.asarray(features, dtype=object), n),
                "label": np.tile(np.asarray([labels[f] for f in features], dtype=object), n),
                "concept": np.tile(np.asarray([concepts[f] for f in features], dtype=object), n),
                "value": self.values[features].astype(object).to_numpy().reshape(-1),
                "contribution": self.contributions.to_numpy().reshape(-1),
                "points": self.points.to_numpy().reshape(-1),
            }
        )

    # -- words ----------------------------------------------------------------------------------
    def concept_phrases(self) -> pd.DataFrame:
        """Per row, each earned concept in words with the line's own values ("line holder not
        arrested", "1,200 customer contacts and 6.3 marketing texts a day"): what a chart or table
        label shows beside the concept's points. "" where none of the concept's shown columns moves."""
        words = {f: ValueWords.for_column(self.contract, f) for f in self.features}
        named = named_columns(self)
        points = self.concept_matrix("points", shown_only=True)
        rows = np.arange(len(self))
        frame = pd.DataFrame({self.id_column: self.ids})
        for k, name in enumerate(self.concept_map.names):
            if name not in set(self.rules.earned_concepts):
                continue
            text = np.full(len(self), "", dtype=object)
            moves = points[:, k] != 0
            if moves.any():
                text[moves] = concept_phrases(self, words, named[moves, k], rows[moves])
            frame[name] = text
        return frame

    @property
    def placements(self) -> list[Placement]:
        if "placements" not in self._cache:
            self._cache["placements"] = placements(self.probability)
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
        """The earned concept with the largest absolute contribution, per row."""
        if not len(self):
            return []
        matrix = self.concept_matrix("log_odds", shown_only=True)
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
        frame = pd.DataFrame(
            {
                self.id_column: self.ids,
                "persistence_probability": self.probability,
                "percent": np.asarray([p.percent for p in placements], dtype=np.int64),
                "yardstick_band": np.asarray([p.band for p in placements], dtype=object),
                "band_in_gap": np.asarray([p.in_gap for p in placements], dtype=bool),
                "yardstick": np.asarray([p.words for p in placements], dtype=object),
                "baseline_probability": self.baseline_probability,
                "similar_lines_rate": self.similar_rates,
            }
        )
        for column in REASON_COLUMNS:
            frame[column] = self.reasons[column].to_numpy()
        frame["summary"] = self.summary
        frame["top_concept"] = self.top_concepts
        return frame

    def _reasons(self) -> dict:
        if "reasons" not in self._cache:
            self._cache["reasons"] = render_reasons(
                self, TOP_REASONS, self.rules.materiality_points
            )
        return self._cache["reasons"]


def check_scale(scale: str) -> None:
    if scale not in ("points", "log_odds"):
        raise ExplanationError(f"scale must be 'points' or 'log_odds', not {scale!r}")


def explain(model, frame: pd.DataFrame) -> Explanation:
    """Explain every row of ``frame`` (validated extract rows) at once.

    Each row is explained by the model that predicts it (``model.parts(frame)``): a single model
    explains every row itself; a segment model's rows are explained by their segment's model
    (its exact SHAP values and its base, so ``base_log_odds`` and ``baseline_probability`` are then
    per-row arrays) and put back in input order.

    Parameters
    ----------
    model : a fitted :class:`resilience.learn.models.PersistenceModel` (either family) or
        :class:`resilience.learn.segments.SegmentModel`
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
    frame = frame.reset_index(drop=True)
    parts = model.parts(frame)
    if len(parts) == 1 and next(iter(parts.values()))[0] is model:  # it predicts every row itself
        return _explain_rows(model, frame)
    return _routed(model, frame, parts)


def _explain_rows(model, frame: pd.DataFrame) -> Explanation:
    """Every row of ``frame`` explained by ``model`` itself."""
    check_model(model)
    contract = model.contract
    ids = (
        frame[contract.id_column].to_numpy()
        if contract.id_column in frame.columns
        else np.arange(len(frame))
    )
    X = model.prepare(frame)
    features = list(model.feature_names_)
    raw, base, margin = log_odds_contributions(model, X, ids, model.dates_of(frame))
    points, probability, baseline = to_points(raw, base, margin, model.calibrator_)
    screen = model.reason_screen_
    cohort = _cohorts(frame, contract.cohort_column)
    similar = similar_rates(screen, cohort, placements(probability))
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
        similar_rates=similar,
        contract=contract,
        screen=screen,
    )


def _routed(model, frame: pd.DataFrame, parts: dict) -> Explanation:
    """Each part's rows explained by its own model, stacked back in input order; ``base_log_odds``
    and ``baseline_probability`` are per-row arrays (each row's own model's base)."""
    explained, order = [], []
    for part, rows in parts.values():
        if len(rows):
            explained.append(_explain_rows(part, frame.iloc[rows].reset_index(drop=True)))
            order.append(rows)
    if not explained:
        return _explain_rows(next(iter(parts.values()))[0], frame)
    positions = np.concatenate(order)
    inverse = np.empty_like(positions)
    inverse[positions] = np.arange(len(positions))

    def stack(values) -> np.ndarray:
        return np.concatenate([np.asarray(v) for v in values])[inverse]

    def stack_frames(frames) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True).iloc[inverse].reset_index(drop=True)

    cohorts = [e.cohort for e in explained]
    return Explanation(
        ids=stack(e.ids for e in explained),
        contributions=stack_frames(e.contributions for e in explained),
        base_log_odds=stack(np.full(len(e), e.base_log_odds) for e in explained),
        margin=stack(e.margin for e in explained),
        probability=stack(e.probability for e in explained),
        baseline_probability=stack(np.full(len(e), e.baseline_probability) for e in explained),
        points=stack_frames(e.points for e in explained),
        values=stack_frames(e.values for e in explained),
        cohort=None if any(c is None for c in cohorts) else stack(cohorts),
        similar_rates=stack(e.similar_rates for e in explained),
        contract=model.contract,
        screen=model.reason_screen_,
    )


def _cohorts(frame: pd.DataFrame, column: str | None) -> np.ndarray | None:
    """The cohort column as text (None where missing), or None without a cohort column."""
    if not column or column not in frame.columns:
        return None
    values = frame[column].astype(object)
    return (
        values.where(values.notna(), None)
        .map(lambda v: None if v is None else str(v))
        .to_numpy(dtype=object)
    )


def similar_rates(
    screen: ReasonScreen | None, cohort: np.ndarray | None, placements: list[Placement]
) -> np.ndarray:
    """Per row, the share of held-out lines of the same cohort placed in the same band that
    persisted (the model's ``reason_screen_.similar_lines``); NaN where none is recorded."""
    out = np.full(len(placements), np.nan)
    table = screen.similar_lines if screen is not None else {}
    if cohort is None or not table:
        return out
    rates = {(c, band): entry[0] for c, bands in table.items() for band, entry in bands.items()}
    keys = pd.Series(list(zip(cohort, (p.band for p in placements))), dtype=object)
    return keys.map(rates).astype(float).fillna(np.nan).to_numpy()


def explanation_from_points(
    contract: DataContract,
    ids,
    values: pd.DataFrame,
    points: pd.DataFrame,
    baseline_probability: float,
    screen: ReasonScreen | None = None,
) -> Explanation:
    """An explanation rebuilt from what a scored week keeps (``explanations.parquet``'s points and
    the extract's values), e.g. for a report to call :meth:`Explanation.concept_phrases` without the
    model. Points stand in for the log-odds (same signs and within-row proportions, which is all
    wording uses); ``other_factors``, if present, is left out of the features."""
    features = [c for c in points.columns if c in set(contract.features)]
    matrix = points[features].to_numpy(float)
    other = points[OTHER_FACTORS].to_numpy(float) if OTHER_FACTORS in points.columns else 0.0
    probability = baseline_probability + (matrix.sum(axis=1) + other) / 100
    if screen is None:  # columns already screened out by scoring are the unearned ones
        screen = ReasonScreen.everything(contract, features)
    return Explanation(
        ids=np.asarray(ids),
        contributions=pd.DataFrame(matrix / 100, columns=features),
        base_log_odds=0.0,
        margin=matrix.sum(axis=1) / 100,
        probability=probability,
        baseline_probability=baseline_probability,
        points=pd.DataFrame(matrix, columns=features),
        values=values[features].reset_index(drop=True),
        cohort=None,
        similar_rates=np.full(len(matrix), np.nan),
        contract=contract,
        screen=screen,
    )
