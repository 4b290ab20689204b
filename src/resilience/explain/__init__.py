"""SHAP values and plain-English reasons for every prediction (a package: one job per module).

Modules: :mod:`.shap_values` (exact log-odds contributions, additivity, points), :mod:`.concepts`,
:mod:`.wording` (templates, values in words), :mod:`.reasons` (choosing and writing reasons),
:mod:`.explanation` (:class:`Explanation`, :func:`explain`), :mod:`.frames` (chunked frames for
scoring), :mod:`.global_view` (importance and plots).

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

**Earned reasons** (:mod:`.screen`). At training time every feature and concept faces a
null-importance test (Altmann et al. 2010): its mean |SHAP| with the real labels against K refits
on permuted labels. Only features (and concepts) that beat their null are ever named in a reason;
the contributions of the others are reported together as ``other_factors``, so every row still
adds up exactly. The registered model carries the result (``reason_screen_``).

**Reasons** (:mod:`.reasons`, :mod:`.wording`). Per row, the (up to) three earned concepts that
raise the estimate most and the three that lower it most, each by at least the materiality
threshold (``explain.screen.materiality_points``, default 1 point), are written from fixed
templates (:data:`TEMPLATES`) with the line's own values, e.g. ``"1,200 customer contacts: +11
points"``. A concept names every earned column that weighs at least half as much as its largest,
in the concept's direction (``"1,200 customer contacts, 1 deal-line number and 6.3 marketing texts
a day: +36 points"``); :meth:`Explanation.concept_phrases` gives the same phrases as chart and
table labels. Values are written by the column's dtype and plain-English label (see
:mod:`.wording`). The one-sentence summary places the probability on the NCA yardstick (gaps
included), compares it like with like — the share of held-out test-period lines of the same type
placed in the same band that persisted ("about 6 in 10 imported lines placed 'likely' in the test
period persisted"), or says nothing when fewer than ``similar_min_lines`` such lines were seen —
and names the top reason each way. Wording says what raises or lowers *the estimate*; it never
claims a cause (:data:`CAUSAL_WORDS` are checked by the tests). Ranking and selection are numpy
operations over the row x concept matrix; only the chosen 3 + 3 reasons per row are formatted.

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

from resilience.explain.concepts import ConceptMap
from resilience.explain.explanation import Explanation, explain, explanation_from_points
from resilience.explain.frames import DEFAULT_CHUNK_ROWS, explain_frame, iter_explanations
from resilience.explain.global_view import (
    concept_importance,
    concept_importance_by_cohort,
    feature_importance,
    global_view,
    plot_beeswarm,
    plot_concept_importance,
    plot_concept_importance_by_cohort,
    plot_dependence,
)
from resilience.explain.reasons import MIN_REASON_POINTS, OTHER_FACTORS, REASON_COLUMNS, TOP_REASONS
from resilience.explain.screen import ReasonScreen, ScreenConfig
from resilience.explain.shap_values import ExplanationError, calibrator_slope, to_points
from resilience.explain.wording import CAUSAL_WORDS, TEMPLATES, ValueWords, share_in_words

__all__ = [
    "CAUSAL_WORDS",
    "DEFAULT_CHUNK_ROWS",
    "MIN_REASON_POINTS",
    "OTHER_FACTORS",
    "REASON_COLUMNS",
    "TEMPLATES",
    "TOP_REASONS",
    "ConceptMap",
    "Explanation",
    "ExplanationError",
    "ReasonScreen",
    "ScreenConfig",
    "ValueWords",
    "calibrator_slope",
    "concept_importance",
    "concept_importance_by_cohort",
    "explain",
    "explain_frame",
    "explanation_from_points",
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
