"""SHAP values and plain-English reasons for every prediction, as frames.

What is computed
----------------
**Log-odds contributions (SHAP values).** Every row's raw model output (the *margin*, in log-odds)
is split exactly into a *base* shared by all rows plus one contribution per model feature:
``margin = base + sum(contributions)``, checked on every row to 1e-6 (a failure raises
:class:`ExplanationError`; the check cannot be switched off).

* ``lightgbm``: exact TreeSHAP with the *tree-path-dependent* value function, computed by
  LightGBM itself (``Booster.predict(X, pred_contrib=True)``) on the model's own input matrix, so
  categorical features are explained natively (one value per feature, no one-hot columns). The
  base is the model's expected margin over the training rows (weighted by each tree's cover).
  ``shap.TreeExplainer`` gives bit-identical values for a LightGBM model because it calls the same
  C++ code; ``benchmarks/explain.py`` times both.
* ``logistic``: exact *interventional* linear SHAP against the training rows. The design matrix is
  standardised on the rows the regression was fitted on, so every design column has mean 0 there
  and feature ``j``'s value is ``sum_{k in block(j)} coef_k * z_k`` (a categorical feature's block
  is its one-hot columns); the base is the intercept.

**Percentage points of the calibrated probability.** A commander reads probabilities, not
log-odds. With ``p = calibrator(margin)`` (the reported ``persistence_probability``) and
``p_base = calibrator(base)`` (the *baseline probability*), every log-odds contribution ``c_j`` of a
row is multiplied by the same factor::

    points_j = 100 * c_j * (p - p_base) / (margin - base)

Since ``sum_j c_j == margin - base`` (checked above; LightGBM's values agree to about 1e-14), each
row's points add up, to float rounding, to ``100 * (p - p_base)``: the baseline probability plus
the points gives the line's probability. When ``margin == base`` (within 1e-12) the ratio is 0/0
and the factor is the calibrator's slope at the base instead (a central numerical derivative),
which is the ratio's limit, so the points change continuously with the margin. The calibrator
never decreases, so the factor is never negative and every contribution keeps the sign of its
log-odds value.

* ``sigmoid`` (Platt scaling, the default) and ``none`` are strictly increasing: signs are always
  kept.
* ``isotonic`` is a non-decreasing step-like function (flat stretches joined by steep ramps, and
  flat beyond the range it was fitted on). When a row's margin and the base fall on the same flat
  stretch, ``p == p_base`` although ``margin != base``, and *all* of that row's contributions are
  0 points: the calibrated probability does not move, so none of its parts can. Signs are then
  "the same, or zero".

**Concepts, not columns.** Contributions are summed by the concept each feature belongs to in the
data config (``concept`` under ``columns``; label and four-Ps strand under ``concepts``). SHAP
values add within a group, so a concept's contribution is exact too.

**Reasons.** Per row, the (up to) three concepts that raise the estimate most and the three that
lower it most, each by at least half a point, are written from fixed templates (:data:`TEMPLATES`)
with the line's own values, e.g. ``"1,200 customer contacts: +11 points"``. A concept with several
columns shows the value of the column that weighs most in that direction, joined with the
runner-up when that weighs at least half as much (``"line holder arrested and type1 (closure
type): -24 points"``). Values are written by the column's dtype and plain-English label: counts
with thousands separators ("no ..." for zero, singular for one), decimals to at most two places,
£ amounts for columns whose label contains "£", booleans as the label or its negation ("line
holder not arrested"), categories as "value (label)" with underscores as spaces, and a missing
value as "... not recorded". Points are whole numbers (halves away from zero). The one-sentence
summary places the probability on the NCA yardstick (:func:`resilience.yardstick.place`, gaps
included), compares it with the share of similar lines (same cohort, e.g. imported / home-grown)
that persisted in the training data ("about 4 in 10 similar imported lines persisted"; all
training lines when the cohort is unknown), and names the top reason each way. Wording says what
raises or lowers *the estimate*; it never claims a cause (:data:`CAUSAL_WORDS` are checked by the
tests). Ranking and selection are numpy operations over the row x concept matrix; only the chosen
3 + 3 reasons per row are formatted as text.

**Memory.** :func:`iter_explanations` and :func:`explain_frame` work through a frame
``chunk_rows`` rows at a time, so the working memory depends on the chunk size, not the frame.

Example
-------
>>> explanation = explain(model, week_frame)
>>> explanation.reasons[["reason_for_1", "reason_against_1"]].head()
>>> explanation.summary[0]
'Estimated chance the line is still active 12 weeks after the disruption: likely (62%); ...'
>>> importance = concept_importance(explanation)
"""
from __future__ import annotations

import math
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from resilience.data.contract import ConceptSpec, DataContract
from resilience.errors import ResilienceError
from resilience.yardstick import Placement, place

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CAUSAL_WORDS",
    "REASON_COLUMNS",
    "TEMPLATES",
    "ConceptMap",
    "Explanation",
    "ExplanationError",
    "ValueWords",
    "calibrator_slope",
    "concept_importance",
    "concept_importance_by_cohort",
    "explain",
    "explain_for_scoring",
    "explain_frame",
    "feature_importance",
    "global_view",
    "iter_explanations",
    "plot_beeswarm",
    "plot_concept_importance",
    "plot_concept_importance_by_cohort",
    "plot_dependence",
    "share_in_words",
    "to_points",
]

ADDITIVITY_TOLERANCE = 1e-6   # |base + sum(contributions) - margin|, log-odds, every row
FLAT_TOLERANCE = 1e-12        # |margin - base| below this uses the calibrator's slope
MIN_REASON_POINTS = 0.5       # a reason must move the estimate by at least this (so it prints >= 1)
JOINT_SHARE = 0.5             # a concept's second column is named when it weighs >= this share of the first
TOP_REASONS = 3
DEFAULT_CHUNK_ROWS = 50_000
REASON_COLUMNS = tuple(f"reason_for_{k}" for k in (1, 2, 3)) + tuple(f"reason_against_{k}" for k in (1, 2, 3))

# Words that would claim a cause. Every template and every rendered reason is checked against them.
CAUSAL_WORDS: tuple[str, ...] = (
    "because", "due to", "cause", "caused", "causes", "causing", "leads to", "led to", "lead to",
    "results in", "resulted in", "result of", "drives", "drive", "driven", "driving", "driver",
    "owing to", "thanks to", "makes", "effect", "effects", "impact", "impacts", "influence",
    "influences", "responsible for", "therefore", "hence", "consequently", "so that", "triggers",
    "triggered", "produces", "determines", "explains why",
)

# Every fixed piece of wording, in one place so it can be read (and tested) as a whole.
TEMPLATES: dict[str, str] = {
    "reason": "{phrase}: {points}",
    "joint": "{first} and {second}",
    "points_one": "{sign}1 point",
    "points": "{sign}{n} points",
    "count": "{number} {label}",
    "count_zero": "no {label}",
    "money": "£{amount}",
    "money_zero": "no {rest}",
    "flag_true": "{label}",
    "flag_false_participle": "{head} not {participle}",
    "flag_false": "not {label}",
    "category": "{value} ({label})",
    "missing": "{label} not recorded",
    "summary": ("Estimated chance the line is still active {horizon} weeks after the disruption: "
                "{yardstick}; {base_rate}; {movers}."),
    "base_rate_cohort": "{share} similar {cohort} lines persisted",
    "base_rate_all": "{share} lines in the training data persisted",
    "movers_both": "{up} raises the estimate most ({up_points}) and {down} lowers it most ({down_points})",
    "movers_up": "{up} raises the estimate most ({up_points}); nothing lowers it by a point or more",
    "movers_down": "{down} lowers the estimate most ({down_points}); nothing raises it by a point or more",
    "movers_none": "nothing raises or lowers the estimate by a point or more",
    "share_tenths": "about {k} in 10",
    "share_hundredths": "about {k} in 100",
    "share_none": "fewer than 1 in 100",
    "share_all": "all",
}

# Colour-blind-safe (Okabe-Ito) colours.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FOUR_PS_COLOURS = {"pursue": "#0072B2", "prepare": "#E69F00", "protect": "#009E73",
                   "prevent": "#CC79A7", "context": "#999999"}


class ExplanationError(ResilienceError):
    """An explanation that cannot be trusted (e.g. contributions that do not add up to the margin)."""


# ----------------------------------------------------------------------------------------------
# Log-odds contributions
# ----------------------------------------------------------------------------------------------
def _tree_contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
    booster = model.estimator_.booster_
    if not len(X):  # LightGBM refuses an empty matrix
        return np.zeros((0, X.shape[1])), _tree_base(booster), np.zeros(0)
    raw = booster.predict(X, pred_contrib=True)
    if raw.shape[1] != X.shape[1] + 1:
        raise ExplanationError(
            f"LightGBM returned {raw.shape[1]} contribution columns for {X.shape[1]} features; "
            "only binary models are explained")
    bases = raw[:, -1]
    base = float(bases[0])
    if np.ptp(bases) > ADDITIVITY_TOLERANCE:
        raise ExplanationError("LightGBM's expected value differs between rows; the model cannot be explained")
    margin = booster.predict(X, raw_score=True)
    return raw[:, :-1], base, np.asarray(margin, float)


def _tree_base(booster) -> float:
    """The expected margin, for an empty frame (pred_contrib needs a row)."""
    dump = booster.dump_model()
    total = 0.0
    for tree in dump["tree_info"]:
        node = tree["tree_structure"]
        total += _expected_leaf(node)
    return total


def _expected_leaf(node: dict) -> float:
    if "leaf_value" in node:
        return float(node["leaf_value"])
    left, right = node["left_child"], node["right_child"]
    nl, nr = _count(left), _count(right)
    return (nl * _expected_leaf(left) + nr * _expected_leaf(right)) / max(nl + nr, 1)


def _count(node: dict) -> float:
    return float(node.get("leaf_count", node.get("internal_count", 0)))


def _linear_contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
    design = model.design_
    base = float(np.asarray(model.estimator_.intercept_).reshape(-1)[0])
    if not len(X):
        return np.zeros((0, X.shape[1])), base, np.zeros(0)
    Z = design.transform(X)
    coef = np.asarray(model.estimator_.coef_, float).reshape(-1)
    weighted = Z * coef
    features = model.feature_names_
    contributions = np.empty((len(X), len(features)))
    for j, name in enumerate(features):
        contributions[:, j] = weighted[:, design.blocks_[name]].sum(axis=1)
    margin = np.asarray(model.estimator_.decision_function(Z), float)
    return contributions, base, margin


def _check_additivity(contributions: np.ndarray, base: float, margin: np.ndarray, ids: np.ndarray) -> None:
    if not len(margin):
        return
    gap = np.abs(base + contributions.sum(axis=1) - margin)
    worst = int(np.argmax(gap))
    if not gap[worst] <= ADDITIVITY_TOLERANCE:  # also catches NaN
        bad = int(np.count_nonzero(~(gap <= ADDITIVITY_TOLERANCE)))
        raise ExplanationError(
            f"contributions do not add up to the model's margin on {bad} row(s); worst is row "
            f"{worst} (id {ids[worst]!r}): base {base:.9f} + contributions {contributions[worst].sum():.9f} "
            f"!= margin {margin[worst]:.9f} (gap {gap[worst]:.2e} > {ADDITIVITY_TOLERANCE:g})")


# ----------------------------------------------------------------------------------------------
# Probability scale
# ----------------------------------------------------------------------------------------------
def _strictly_increasing(calibrator) -> bool:
    return getattr(calibrator, "method", "sigmoid") != "isotonic"


def calibrator_slope(calibrator: Callable[[np.ndarray], np.ndarray], at: float) -> float:
    """Central numerical derivative of ``calibrator`` at ``at`` (probability per log-odds unit)."""
    h = 1e-6 * max(1.0, abs(at))
    upper, lower = np.asarray(calibrator(np.array([at + h, at - h])), float)
    return float((upper - lower) / (2 * h))


def to_points(contributions: np.ndarray, base_log_odds: float, margin: np.ndarray,
              calibrator: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-odds contributions -> percentage points of the calibrated probability.

    Parameters
    ----------
    contributions : (rows, features) log-odds contributions
    base_log_odds : the base (expected margin) shared by all rows
    margin : (rows,) the model's raw log-odds
    calibrator : maps margins to probabilities, never decreasing (``model.calibrator_``)

    Returns
    -------
    points : (rows, features), each row summing to ``100 * (probability - baseline_probability)``
        (exactly when ``base + sum(contributions) == margin``; otherwise off by the additivity gap
        times the calibrator's slope, at most ~1e-12 points for LightGBM in practice)
    probability : (rows,) ``calibrator(margin)``
    baseline_probability : ``calibrator(base_log_odds)``

    Examples
    --------
    >>> points, p, p0 = to_points(np.array([[0.5, -0.2]]), 0.0, np.array([0.3]), model.calibrator_)
    """
    contributions = np.asarray(contributions, float)
    margin = np.asarray(margin, float).reshape(-1)
    probability = np.asarray(calibrator(margin), float).reshape(-1)
    baseline = float(np.asarray(calibrator(np.array([float(base_log_odds)])), float).reshape(-1)[0])
    moved = margin - float(base_log_odds)
    flat = np.abs(moved) <= FLAT_TOLERANCE
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = 100.0 * (probability - baseline) / moved
    if _strictly_increasing(calibrator):
        # Rounding can give p == p_base for a tiny non-zero move; the slope is the honest limit there.
        flat |= ~(factor > 0)
    if flat.any():
        factor = np.where(flat, 100.0 * calibrator_slope(calibrator, float(base_log_odds)), factor)
    factor = np.maximum(factor, 0.0)  # a non-decreasing calibrator: never flip a sign
    return contributions * factor[:, None], probability, baseline


# ----------------------------------------------------------------------------------------------
# Concepts
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConceptMap:
    """Which model features make up each concept, in the order concepts first appear."""

    concepts: tuple[ConceptSpec, ...]
    members: tuple[np.ndarray, ...]          # feature positions of each concept
    matrix: np.ndarray                       # (features, concepts) 0/1

    @classmethod
    def build(cls, contract: DataContract, features: Sequence[str]) -> ConceptMap:
        concepts: list[ConceptSpec] = []
        positions: dict[str, list[int]] = {}
        for j, name in enumerate(features):
            concept = contract.concept_of(name)
            if concept.name not in positions:
                concepts.append(concept)
                positions[concept.name] = []
            positions[concept.name].append(j)
        members = tuple(np.asarray(positions[c.name]) for c in concepts)
        matrix = np.zeros((len(features), len(concepts)))
        for k, idx in enumerate(members):
            matrix[idx, k] = 1.0
        return cls(tuple(concepts), members, matrix)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.concepts]


# ----------------------------------------------------------------------------------------------
# Words for values
# ----------------------------------------------------------------------------------------------
_IRREGULAR = {"children": "child", "people": "person", "men": "man", "women": "woman"}
_NOT_PLURAL = {"premises", "series", "news", "this", "its", "his", "has", "was", "is", "as", "us",
               "always", "across", "less", "unless", "yes", "towards", "plus", "status"}
_TIME_UNITS = {"weeks", "days", "months", "years", "hours", "minutes"}


def _plain_label(text: str) -> str:
    """Lower-case a sentence-case label for use mid-sentence ("Policing area" -> "policing area")."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _singular(label: str) -> str:
    """The label for a count of one: the first plural noun made singular."""
    words = label.split(" ")
    for i, word in enumerate(words):
        lower = word.lower()
        if lower in _IRREGULAR:
            words[i] = _IRREGULAR[lower]
            break
        if len(lower) > 3 and lower.endswith("s") and not lower.endswith("ss") and lower not in _NOT_PLURAL \
                and lower.isalpha():
            if lower.endswith("sses") or lower.endswith("xes") or lower.endswith("ches") or lower.endswith("shes"):
                words[i] = word[:-2]
            elif lower.endswith("ies"):
                words[i] = word[:-3] + "y"
            else:
                words[i] = word[:-1]
            break
    return " ".join(words)


def _number(value: float) -> str:
    """Numbers as people write them: 1,200 / 6.5 / 0.25."""
    if float(value).is_integer():
        return f"{int(value):,}"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ValueWords:
    """How one column's values are written in a reason, from its dtype and plain-English label."""

    label: str
    kind: str  # "count", "money", "flag", "category"

    @classmethod
    def for_column(cls, contract: DataContract, name: str) -> ValueWords:
        spec = contract.column(name)
        label = _plain_label(contract.describe(name))
        if spec.dtype == "bool":
            kind = "flag"
        elif spec.dtype in ("int", "float"):
            kind = "money" if "£" in label else "count"
        else:
            kind = "category"
        return cls(label=label, kind=kind)

    def missing(self) -> str:
        return TEMPLATES["missing"].format(label=self.label)

    def phrase(self, value) -> str:
        """One value in words, e.g. "1,200 customer contacts", "line holder not arrested"."""
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
            return self.missing()
        if self.kind == "category":
            return TEMPLATES["category"].format(value=str(value).replace("_", " "), label=self.label)
        if self.kind == "flag":
            if bool(value):
                return TEMPLATES["flag_true"].format(label=self.label)
            words = self.label.split(" ")
            if len(words) > 1 and words[-1].endswith("ed"):
                return TEMPLATES["flag_false_participle"].format(head=" ".join(words[:-1]), participle=words[-1])
            return TEMPLATES["flag_false"].format(label=self.label)
        value = float(value)
        if self.kind == "money":
            if value == 0 and self.label.startswith("£ of "):
                return TEMPLATES["money_zero"].format(rest=self.label[len("£ of "):])
            return self.label.replace("£", TEMPLATES["money"].format(amount=f"{value:,.0f}"), 1)
        first = self.label.split(" ", 1)[0].lower()
        if value == 0 and first not in _TIME_UNITS:
            return TEMPLATES["count_zero"].format(label=self.label)
        label = _singular(self.label) if value == 1 else self.label
        return TEMPLATES["count"].format(number=_number(value), label=label)

    def phrases(self, values) -> np.ndarray:
        """Vectorised :meth:`phrase`: each distinct value is written once."""
        codes, uniques = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
        texts = [self.phrase(u) for u in uniques] + [self.missing()]
        return np.asarray(texts, dtype=object)[codes]  # code -1 (missing) takes the last entry


def _points_words(points: np.ndarray) -> np.ndarray:
    """Signed whole points: "+11 points", "-1 point" (halves round away from zero)."""
    magnitude = np.floor(np.abs(points) + 0.5).astype(np.int64)
    largest = int(magnitude.max()) if magnitude.size else 0
    words = [TEMPLATES["points_one"] if k == 1 else TEMPLATES["points"].replace("{n}", str(k))
             for k in range(largest + 1)]
    table = np.asarray([w.format(sign="-") for w in words[::-1]] + [w.format(sign="+") for w in words], dtype=object)
    signed = np.where(points < 0, largest - magnitude, largest + 1 + magnitude)
    return table[signed]


def share_in_words(rate: float) -> str:
    """A rate as "about 4 in 10" (or in 100 near 0 and 1)."""
    tenths = math.floor(rate * 10 + 0.5)
    if 1 <= tenths <= 9:
        return TEMPLATES["share_tenths"].format(k=tenths)
    hundredths = math.floor(rate * 100 + 0.5)
    if hundredths <= 0:
        return TEMPLATES["share_none"]
    if hundredths >= 100 and rate >= 1:
        return TEMPLATES["share_all"]
    return TEMPLATES["share_hundredths"].format(k=min(hundredths, 99))


def _placements(probability: np.ndarray) -> list[Placement]:
    """Yardstick placement per row via a 101-entry table (place() rounds to whole percent first)."""
    table = [place(k / 100) for k in range(101)]
    assert all(t.percent == k for k, t in enumerate(table))
    percent = np.rint(np.clip(probability, 0.0, 1.0) * 100).astype(np.int64)
    return [table[k] for k in percent]


# ----------------------------------------------------------------------------------------------
# The explanation
# ----------------------------------------------------------------------------------------------
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
    def _concept_matrix(self, scale: str) -> np.ndarray:
        key = f"concept_{scale}"
        if key not in self._cache:
            source = self.contributions if scale == "log_odds" else self.points
            self._cache[key] = source.to_numpy() @ self.concept_map.matrix
        return self._cache[key]

    def by_concept(self, scale: str = "points") -> pd.DataFrame:
        """Contributions summed by concept: id column + one column per concept name."""
        _check_scale(scale)
        frame = pd.DataFrame(self._concept_matrix(scale), columns=self.concept_map.names)
        frame.insert(0, self.id_column, self.ids)
        return frame

    def wide(self, scale: str = "points") -> pd.DataFrame:
        """The matrix: id column, one column per input feature, plus the baseline.

        ``scale="points"``: percentage points with ``baseline_probability`` (0-1), so
        ``probability = baseline_probability + row sum / 100``. ``scale="log_odds"``: log-odds with
        ``base_log_odds``, so ``margin = base_log_odds + row sum``.
        """
        _check_scale(scale)
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
        matrix = self._concept_matrix("log_odds")
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
        return _non_empty(table, REASON_COLUMNS[:3])

    @property
    def reasons_against(self) -> list[list[str]]:
        """Per row, the (up to 3) reasons that lower the estimate, largest first."""
        table = self.reasons
        return _non_empty(table, REASON_COLUMNS[3:])

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
            self._cache["reasons"] = _render_reasons(self, TOP_REASONS, MIN_REASON_POINTS)
        return self._cache["reasons"]


def _check_scale(scale: str) -> None:
    if scale not in ("points", "log_odds"):
        raise ExplanationError(f"scale must be 'points' or 'log_odds', not {scale!r}")


def _non_empty(table: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    block = table[list(columns)].to_numpy()
    return [[text for text in row if text] for row in block]


def _render_reasons(explanation: Explanation, top: int, min_points: float) -> dict:
    """Rank concepts per row with numpy; write text only for the chosen reasons."""
    n = len(explanation)
    cmap = explanation.concept_map
    log_odds = explanation._concept_matrix("log_odds")
    points = explanation._concept_matrix("points")
    contributions = explanation.contributions.to_numpy()
    features = explanation.features
    rows = np.arange(n)

    # The column that weighs most within each concept, in the concept's direction, and a runner-up.
    main = np.empty((n, len(cmap.concepts)), dtype=np.int64)
    second = np.full((n, len(cmap.concepts)), -1, dtype=np.int64)
    for k, idx in enumerate(cmap.members):
        if len(idx) == 1:
            main[:, k] = idx[0]
            continue
        signed = contributions[:, idx] * np.where(log_odds[:, k] < 0, -1.0, 1.0)[:, None]
        order = np.argsort(-signed, axis=1, kind="stable")[:, :2]
        first_value = signed[rows, order[:, 0]]
        second_value = signed[rows, order[:, 1]]
        main[:, k] = idx[order[:, 0]]
        keep = (second_value > 0) & (second_value >= JOINT_SHARE * first_value)
        second[:, k] = np.where(keep, idx[order[:, 1]], -1)

    up = np.argsort(-log_odds, axis=1, kind="stable")[:, :TOP_REASONS]
    down = np.argsort(log_odds, axis=1, kind="stable")[:, :TOP_REASONS]
    words = {f: ValueWords.for_column(explanation.contract, f) for f in features}
    values = explanation.values
    table: dict[str, np.ndarray] = {}
    leads: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # each side's first reason: (valid, phrase, points)
    for (order, sign), columns in (((up, 1.0), REASON_COLUMNS[:3]), ((down, -1.0), REASON_COLUMNS[3:])):
        for s, column in enumerate(columns):
            out = np.full(n, "", dtype=object)
            lead_phrase, lead_points = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
            valid = np.zeros(n, dtype=bool)
            if s < min(top, order.shape[1]):
                concept = order[:, s]
                slot_points = points[rows, concept]
                valid = sign * slot_points >= min_points
            if valid.any():
                r, c = rows[valid], order[valid, s]
                phrase = _phrases(words, values, features, main[r, c], r)
                runner = second[r, c]
                has_runner = runner >= 0
                if has_runner.any():
                    extra = _phrases(words, values, features, runner[has_runner], r[has_runner])
                    phrase[has_runner] = _fill(TEMPLATES["joint"], first=phrase[has_runner], second=extra)
                point_text = _points_words(slot_points[valid])
                out[valid] = _fill(TEMPLATES["reason"], phrase=phrase, points=point_text)
                lead_phrase[valid], lead_points[valid] = phrase, point_text
            if s == 0:
                leads.append((valid, lead_phrase, lead_points))
            table[column] = out
    table = pd.DataFrame(table)
    summary = _summaries(explanation, leads)
    return {"table": table, "summary": summary}


def _phrases(words: dict, values: pd.DataFrame, features: list[str], feature_pos: np.ndarray,
             rows: np.ndarray) -> np.ndarray:
    """Phrase for each (row, feature) pair; each feature's values are written once per distinct value."""
    out = np.empty(len(rows), dtype=object)
    for j in np.unique(feature_pos):
        mask = feature_pos == j
        name = features[int(j)]
        column = values[name]
        out[mask] = words[name].phrases(column.iloc[rows[mask]].to_numpy())
    return out


def _fill(template: str, **parts):
    """``template.format(**parts)`` where parts may be object arrays: one string per row.

    Constant parts are written into the template once; each row then costs one ``str.format``
    call, with no intermediate strings (what keeps the reasons cheap for 200,000 rows).
    """
    rows = {name: value for name, value in parts.items() if isinstance(value, np.ndarray)}
    pattern, order = [], []
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name in rows:
            pattern.append("{%d}" % len(order))
            order.append(name)
        else:
            pattern.append(str(parts[name]).replace("{", "{{").replace("}", "}}"))
    fill = "".join(pattern).format
    if not order:
        return fill()
    out = np.empty(len(rows[order[0]]), dtype=object)
    out[:] = [fill(*values) for values in zip(*(rows[name] for name in order))]
    return out


def _summaries(explanation: Explanation, leads: list) -> np.ndarray:
    n = len(explanation)
    (up_valid, up_phrase, up_points), (down_valid, down_phrase, down_points) = leads
    movers = np.full(n, TEMPLATES["movers_none"], dtype=object)
    for mask, key in ((up_valid & down_valid, "movers_both"), (up_valid & ~down_valid, "movers_up"),
                      (~up_valid & down_valid, "movers_down")):
        if mask.any():
            movers[mask] = _fill(TEMPLATES[key], up=up_phrase[mask], up_points=up_points[mask],
                                 down=down_phrase[mask], down_points=down_points[mask])
    yardstick = np.asarray([p.words for p in explanation.placements], dtype=object)
    summary = _fill(TEMPLATES["summary"], horizon=str(explanation.contract.horizon_weeks), yardstick=yardstick,
                    base_rate=_base_rate_words(explanation), movers=movers)
    return np.asarray(summary, dtype=object).reshape(n)


def _base_rate_words(explanation: Explanation) -> np.ndarray:
    """"about 4 in 10 similar imported lines persisted" (all lines when the cohort is unknown)."""
    n = len(explanation)
    cohorts = explanation.cohort if explanation.cohort is not None else np.full(n, None, dtype=object)
    codes, uniques = pd.factorize(pd.Series(cohorts, dtype=object), use_na_sentinel=True)
    out = np.empty(n, dtype=object)
    for code in np.unique(codes):
        mask = codes == code
        share = share_in_words(float(explanation.base_rates[np.argmax(mask)]))
        if code < 0:
            out[mask] = TEMPLATES["base_rate_all"].format(share=share)
        else:
            out[mask] = TEMPLATES["base_rate_cohort"].format(share=share,
                                                             cohort=str(uniques[code]).replace("_", " "))
    return out


# ----------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------
def _check_model(model) -> None:
    if not hasattr(model, "estimator_") or not hasattr(model, "calibrator_"):
        raise ExplanationError("the model is not fitted; fit it (or load a registered one) before explaining")
    if model.family not in ("lightgbm", "logistic"):
        raise ExplanationError(f"cannot explain a model of family {model.family!r}")


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
    if hasattr(model, "segments_"):  # segment models: each row by its own segment's model
        from resilience.segments import explain_segmented

        return explain_segmented(model, frame)
    _check_model(model)
    contract = model.contract
    frame = frame.reset_index(drop=True)
    ids = (frame[contract.id_column].to_numpy() if contract.id_column in frame.columns
           else np.arange(len(frame)))
    X = model.prepare(frame)
    features = list(model.feature_names_)
    if model.family == "lightgbm":
        raw, base, margin = _tree_contributions(model, X)
    else:
        raw, base, margin = _linear_contributions(model, X)
    _check_additivity(raw, base, margin, ids)
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


def explain_for_scoring(model, frame: pd.DataFrame) -> Explanation:
    """What weekly scoring needs per chunk: :func:`explain` (probability, bands, in_gap, reasons,
    summary, points, baseline_probability and top_concepts are all attributes of the result)."""
    return explain(model, frame)


def iter_explanations(model, frame: pd.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Explanation]:
    """Explain ``frame`` ``chunk_rows`` rows at a time (memory set by the chunk, not the frame)."""
    if chunk_rows < 1:
        raise ExplanationError(f"chunk_rows must be >= 1, not {chunk_rows}")
    for start in range(0, len(frame), chunk_rows):
        yield explain(model, frame.iloc[start:start + chunk_rows])


def explain_frame(model, frame: pd.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                  path: str | Path | None = None, points: bool = False) -> pd.DataFrame | Path:
    """Reasons for every row, chunk by chunk.

    Parameters
    ----------
    model, frame : as for :func:`explain`
    chunk_rows : rows explained at a time
    path : if given, each chunk's rows are appended to a Parquet file as they are made (staged
        beside ``path`` and renamed into place when complete, so a failure leaves any earlier file
        untouched) and the path is returned: memory stays flat however many rows there are.
        Otherwise the rows are returned as one frame (which itself grows with the rows).
    points : also include the per-feature contributions in points (prefixed ``points_``)

    Returns
    -------
    DataFrame (or the Parquet path) with :meth:`Explanation.reasons_frame` columns.
    """
    if path is None:
        parts = [_frame_part(explanation, points) for explanation in iter_explanations(model, frame, chunk_rows)]
        return pd.concat(parts, ignore_index=True) if parts else _frame_part(explain(model, frame.iloc[:0]), points)
    import os
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    # Written beside the target and renamed into place: a failure never leaves half a file behind.
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    writer = None
    try:
        chunks = iter_explanations(model, frame, chunk_rows) if len(frame) else iter([explain(model, frame)])
        for explanation in chunks:
            table = pa.Table.from_pandas(_frame_part(explanation, points), preserve_index=False)
            del explanation
            if writer is None:
                writer = pq.ParquetWriter(staging, table.schema)
            writer.write_table(table)
            del table
            pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages otherwise
        writer.close()
        os.replace(staging, path)
    except BaseException:
        if writer is not None:
            writer.close()
        Path(staging).unlink(missing_ok=True)
        raise
    return path


def _frame_part(explanation: Explanation, points: bool) -> pd.DataFrame:
    part = explanation.reasons_frame()
    if points:
        part = pd.concat([part, explanation.points.add_prefix("points_")], axis=1)
    return part


# ----------------------------------------------------------------------------------------------
# Global view
# ----------------------------------------------------------------------------------------------
def concept_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| by concept (log-odds and points), largest first, with label and four-Ps strand."""
    cmap = explanation.concept_map
    log_odds = np.abs(explanation._concept_matrix("log_odds")).mean(axis=0) if len(explanation) else 0.0
    points = np.abs(explanation._concept_matrix("points")).mean(axis=0) if len(explanation) else 0.0
    frame = pd.DataFrame({
        "concept": cmap.names,
        "label": [c.label_text for c in cmap.concepts],
        "four_ps": [c.four_ps for c in cmap.concepts],
        "features": [", ".join(explanation.features[j] for j in idx) for idx in cmap.members],
        "mean_abs_log_odds": log_odds,
        "mean_abs_points": points,
    })
    total = frame["mean_abs_log_odds"].sum()
    frame["share"] = frame["mean_abs_log_odds"] / total if total > 0 else 0.0
    return frame.sort_values("mean_abs_log_odds", ascending=False, kind="stable").reset_index(drop=True)


def feature_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| by model feature (log-odds and points), largest first."""
    frame = pd.DataFrame({
        "feature": explanation.features,
        "label": [explanation.contract.describe(f) for f in explanation.features],
        "concept": [explanation.contract.concept_of(f).name for f in explanation.features],
        "mean_abs_log_odds": explanation.contributions.abs().mean(axis=0).to_numpy(),
        "mean_abs_points": explanation.points.abs().mean(axis=0).to_numpy(),
    })
    return frame.sort_values("mean_abs_log_odds", ascending=False, kind="stable").reset_index(drop=True)


def concept_importance_by_cohort(explanation: Explanation, scale: str = "log_odds") -> pd.DataFrame:
    """Mean |SHAP| by concept for each cohort value (e.g. imported vs home-grown): concepts x cohorts."""
    _check_scale(scale)
    cmap = explanation.concept_map
    matrix = np.abs(explanation._concept_matrix(scale))
    cohorts = explanation.cohort if explanation.cohort is not None else np.full(len(explanation), "all lines")
    frame = pd.DataFrame(matrix, columns=cmap.names).groupby(np.asarray(cohorts)).mean().T
    frame.index.name = "concept"
    frame.insert(0, "label", [c.label_text for c in cmap.concepts])
    order = frame.drop(columns="label").max(axis=1).sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index()


def _sentence_case(label: str) -> str:
    return label[:1].upper() + label[1:]


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend to set

    return Figure(figsize=(width, height), dpi=100)


def plot_concept_importance(importance: pd.DataFrame, top: int = 15,
                            title: str = "What the model weighs most") -> Figure:
    """Horizontal bars of mean |SHAP| (log-odds) by concept, coloured by four-Ps strand."""
    shown = importance.head(top).iloc[::-1]
    fig = _new_figure(9, 0.35 * len(shown) + 1.5)
    ax = fig.subplots()
    colours = [FOUR_PS_COLOURS.get(p, "#999999") for p in shown["four_ps"]]
    ax.barh(shown["label"], shown["mean_abs_log_odds"], color=colours)
    ax.set(xlabel="mean |contribution| (log-odds)", title=title)
    from matplotlib.patches import Patch

    present = [p for p in FOUR_PS_COLOURS if p in set(shown["four_ps"])]
    ax.legend(handles=[Patch(color=FOUR_PS_COLOURS[p], label=p) for p in present], loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_concept_importance_by_cohort(by_cohort: pd.DataFrame, top: int = 12,
                                      title: str = "What the model weighs, by cohort") -> Figure:
    """Side-by-side bars of mean |SHAP| by concept for each cohort value."""
    cohorts = [c for c in by_cohort.columns if c not in ("concept", "label")]
    shown = by_cohort.head(top).iloc[::-1]
    fig = _new_figure(9, 0.4 * len(shown) + 1.5)
    ax = fig.subplots()
    y = np.arange(len(shown))
    height = 0.8 / max(len(cohorts), 1)
    hatches = ("", "//", "..", "xx")
    for i, cohort in enumerate(cohorts):
        ax.barh(y + (i - (len(cohorts) - 1) / 2) * height, shown[cohort], height=height,
                color=PALETTE[i % len(PALETTE)], hatch=hatches[i % len(hatches)],
                label=str(cohort).replace("_", " "))
    ax.set_yticks(y, shown["label"])
    ax.set(xlabel="mean |contribution| (log-odds)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def _rank_colour(values: pd.Series) -> np.ndarray:
    """Feature value as a 0-1 colour position (rank within the feature); NaN where not numeric."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        codes = pd.Series(pd.factorize(values)[0], dtype=float).replace(-1, np.nan)
        numeric = codes
    else:
        numeric = pd.to_numeric(values.astype(float), errors="coerce")
    ranks = numeric.rank(pct=True)
    return ranks.to_numpy(float)


def plot_beeswarm(explanation: Explanation, top: int = 12, max_rows: int = 4000, seed: int = 0) -> Figure:
    """Beeswarm: one dot per row per feature at its contribution, coloured by the feature's value."""
    importance = feature_importance(explanation).head(top).iloc[::-1]
    n = len(explanation)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, max_rows), replace=False)) if n else np.zeros(0, int)
    fig = _new_figure(9, 0.4 * len(importance) + 1.6)
    ax = fig.subplots()
    scatter = None
    for y, feature in enumerate(importance["feature"]):
        x = explanation.contributions[feature].to_numpy()[pick]
        colour = _rank_colour(explanation.values[feature].iloc[pick].reset_index(drop=True))
        # Jitter grows with local density so the swarm shows where values pile up.
        bins = np.digitize(x, np.linspace(x.min(), x.max(), 60)) if len(x) else x
        counts = np.bincount(bins) if len(x) else np.zeros(1)
        density = counts[bins] / max(counts.max(), 1) if len(x) else x
        jitter = (rng.random(len(x)) - 0.5) * 0.8 * density
        missing = np.isnan(colour)
        ax.scatter(x[missing], y + jitter[missing], s=4, color="#999999", alpha=0.5, linewidths=0)
        scatter = ax.scatter(x[~missing], y + jitter[~missing], s=4, c=colour[~missing], cmap="viridis",
                             vmin=0, vmax=1, alpha=0.7, linewidths=0)
    ax.axvline(0, color="#666666", linewidth=0.8)
    ax.set_yticks(np.arange(len(importance)), [_sentence_case(label) for label in importance["label"]])
    ax.set(xlabel="contribution to the estimate (log-odds)", title="Contributions per line")
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value (rank)")
    fig.tight_layout()
    return fig


def plot_dependence(explanation: Explanation, top: int = 4, max_rows: int = 4000, seed: int = 0) -> Figure:
    """Contribution against value for the main feature of each of the ``top`` concepts."""
    features = _main_features(explanation, top)
    n = len(explanation)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, max_rows), replace=False)) if n else np.zeros(0, int)
    columns = min(len(features), 2) or 1
    rows_ = math.ceil(len(features) / columns) or 1
    fig = _new_figure(5 * columns, 3.6 * rows_)
    axes = np.atleast_1d(fig.subplots(rows_, columns)).reshape(-1)
    for ax, feature in zip(axes, features):
        y = explanation.contributions[feature].to_numpy()[pick]
        values = explanation.values[feature].iloc[pick]
        label = _sentence_case(explanation.contract.describe(feature))
        if values.dtype == bool:
            values = values.map({True: "yes", False: "no"})
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            cats = [c for c in pd.unique(values.dropna().astype(str))]
            cats.sort()
            groups = [y[(values.astype(str) == c).to_numpy()] for c in cats]
            ax.boxplot(groups, vert=True, showfliers=False)
            ax.set_xticks(np.arange(1, len(cats) + 1), [c.replace("_", " ") for c in cats], rotation=30, ha="right")
        else:
            x = pd.to_numeric(values.astype(float), errors="coerce").to_numpy()
            ax.scatter(x, y, s=5, color=PALETTE[0], alpha=0.4, linewidths=0)
            if np.nanmin(x) >= 0 and np.nanmax(x) > 50 * max(np.nanpercentile(x, 50), 1):
                ax.set_xscale("symlog")
        ax.axhline(0, color="#666666", linewidth=0.8)
        ax.set(xlabel=label, ylabel="contribution (log-odds)")
    for ax in axes[len(features):]:
        ax.set_visible(False)
    fig.suptitle("How the estimate moves with each main feature")
    fig.tight_layout()
    return fig


def _main_features(explanation: Explanation, top: int) -> list[str]:
    """For the ``top`` concepts by mean |SHAP|, the feature with the largest mean |SHAP| in each."""
    by_feature = explanation.contributions.abs().mean(axis=0)
    out = []
    for concept in concept_importance(explanation)["concept"].head(top):
        members = [f for f in explanation.features if explanation.contract.concept_of(f).name == concept]
        out.append(max(members, key=lambda f: by_feature[f]))
    return out


def global_view(explanation: Explanation, top: int = 4) -> dict[str, pd.DataFrame | Figure]:
    """Frames and figures for the model card / MLflow: artifact path -> DataFrame or Figure.

    Explain a representative sample (e.g. the test period) first. Every figure is a plain
    ``matplotlib.figure.Figure`` (no pyplot state), ready for ``mlflow.log_figure(fig, name)``;
    frames for ``mlflow.log_text(frame.to_csv(index=False), name)``.

    Examples
    --------
    >>> for name, item in global_view(explain(model, test_frame)).items():
    ...     log_figure(item, name) if name.endswith(".png") else log_text(item.to_csv(index=False), name)
    """
    importance = concept_importance(explanation)
    by_cohort = concept_importance_by_cohort(explanation)
    return {
        "explain/concept_importance.csv": importance,
        "explain/concept_importance_by_cohort.csv": by_cohort,
        "explain/feature_importance.csv": feature_importance(explanation),
        "explain/concept_importance.png": plot_concept_importance(importance),
        "explain/concept_importance_by_cohort.png": plot_concept_importance_by_cohort(by_cohort),
        "explain/beeswarm.png": plot_beeswarm(explanation),
        "explain/dependence.png": plot_dependence(explanation, top=top),
    }
