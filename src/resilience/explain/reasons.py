"""Choosing and writing each row's reasons: ranking with numpy, text only for the chosen ones.

Per row, the (up to) three concepts that raise the estimate most and the three that lower it
most, each by at least :data:`MIN_REASON_POINTS`, are written from :data:`~.wording.TEMPLATES` with
the line's own values, e.g. ``"1,200 customer contacts: +11 points"``. A concept with several
columns shows the value of the column that weighs most in that direction, joined with the
runner-up when that weighs at least :data:`JOINT_SHARE` as much. The one-sentence summary places
the probability on the NCA yardstick, compares it with similar lines and names the top reason
each way.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from resilience.explain.wording import TEMPLATES, ValueWords, fill, phrases, points_words, share_in_words

if TYPE_CHECKING:
    from resilience.explain.explanation import Explanation

MIN_REASON_POINTS = 0.5       # a reason must move the estimate by at least this (so it prints >= 1)
JOINT_SHARE = 0.5             # a concept's second column is named when it weighs >= this share of the first
TOP_REASONS = 3
REASON_COLUMNS = tuple(f"reason_for_{k}" for k in (1, 2, 3)) + tuple(f"reason_against_{k}" for k in (1, 2, 3))


def non_empty(table: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """Per row, the non-empty texts of ``columns`` in order."""
    block = table[list(columns)].to_numpy()
    return [[text for text in row if text] for row in block]


def render_reasons(explanation: Explanation, top: int, min_points: float) -> dict:
    """Rank concepts per row with numpy; write text only for the chosen reasons."""
    n = len(explanation)
    cmap = explanation.concept_map
    log_odds = explanation.concept_matrix("log_odds")
    points = explanation.concept_matrix("points")
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
                phrase = phrases(words, values, features, main[r, c], r)
                runner = second[r, c]
                has_runner = runner >= 0
                if has_runner.any():
                    extra = phrases(words, values, features, runner[has_runner], r[has_runner])
                    phrase[has_runner] = fill(TEMPLATES["joint"], first=phrase[has_runner], second=extra)
                point_text = points_words(slot_points[valid])
                out[valid] = fill(TEMPLATES["reason"], phrase=phrase, points=point_text)
                lead_phrase[valid], lead_points[valid] = phrase, point_text
            if s == 0:
                leads.append((valid, lead_phrase, lead_points))
            table[column] = out
    table = pd.DataFrame(table)
    summary = _summaries(explanation, leads)
    return {"table": table, "summary": summary}


def _summaries(explanation: Explanation, leads: list) -> np.ndarray:
    n = len(explanation)
    (up_valid, up_phrase, up_points), (down_valid, down_phrase, down_points) = leads
    movers = np.full(n, TEMPLATES["movers_none"], dtype=object)
    for mask, key in ((up_valid & down_valid, "movers_both"), (up_valid & ~down_valid, "movers_up"),
                      (~up_valid & down_valid, "movers_down")):
        if mask.any():
            movers[mask] = fill(TEMPLATES[key], up=up_phrase[mask], up_points=up_points[mask],
                                 down=down_phrase[mask], down_points=down_points[mask])
    yardstick = np.asarray([p.words for p in explanation.placements], dtype=object)
    summary = fill(TEMPLATES["summary"], horizon=str(explanation.contract.horizon_weeks), yardstick=yardstick,
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
