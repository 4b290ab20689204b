"""Choosing and writing each row's reasons: ranking with numpy, text only for the chosen ones.

Per row, the (up to) three *earned* concepts (see :mod:`.screen`) that raise the estimate most and
the three that lower it most, each by at least the materiality threshold, are written from
:data:`~.wording.TEMPLATES` with the line's own values, e.g. ``"1,200 customer contacts: +11
points"``. A concept's phrase names its earned column that weighs most in the concept's direction
and every other that weighs at least :data:`JOINT_SHARE` as much (up to :data:`MAX_NAMED`). The
one-sentence summary places the probability on the NCA yardstick, compares it with similar lines
(same cohort and band, held out) when such a comparison was recorded, and names the top reason
each way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from resilience.explain.wording import (
    TEMPLATES,
    ValueWords,
    fill,
    phrases,
    points_words,
    share_in_words,
)

MIN_REASON_POINTS = 0.5  # a reason must move the estimate by at least this (so it prints >= 1)
JOINT_SHARE = 0.5  # a concept's second column is named when it weighs >= this share of the first
TOP_REASONS = 3
MAX_NAMED = 3  # columns a concept's phrase may name
OTHER_FACTORS = "other_factors"  # the column holding the summed contributions of unearned features
REASON_COLUMNS = tuple(f"reason_for_{k}" for k in (1, 2, 3)) + tuple(
    f"reason_against_{k}" for k in (1, 2, 3)
)


def non_empty(table: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """Per row, the non-empty texts of ``columns`` in order."""
    block = table[list(columns)].to_numpy()
    return [[text for text in row if text] for row in block]


def render_reasons(explanation, top: int, min_points: float) -> dict:
    """Rank earned concepts per row with numpy; write text only for the chosen reasons.

    Returns ``{"table": reason_for_1..3 / reason_against_1..3 frame, "summary": sentences}``.
    """
    n = len(explanation)
    points = explanation.concept_matrix("points", shown_only=True)
    named = named_columns(explanation)
    words = {f: ValueWords.for_column(explanation.contract, f) for f in explanation.features}
    up = np.argsort(-points, axis=1, kind="stable")[:, :top]
    down = np.argsort(points, axis=1, kind="stable")[:, :top]
    table: dict[str, np.ndarray] = {}
    leads = []  # each side's first reason: (valid, phrase, points text)
    for order, sign, columns in ((up, 1.0, REASON_COLUMNS[:3]), (down, -1.0, REASON_COLUMNS[3:])):
        for s, column in enumerate(columns):
            out = np.full(n, "", dtype=object)
            phrase, point_text = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
            valid = np.zeros(n, dtype=bool)
            if s < order.shape[1]:
                rows, concept = np.arange(n), order[:, s]
                valid = sign * points[rows, concept] >= min_points
                r, c = rows[valid], concept[valid]
                if len(r):
                    phrase[valid] = concept_phrases(explanation, words, named[r, c], r)
                    point_text[valid] = points_words(points[r, c])
                    out[valid] = fill(
                        TEMPLATES["reason"], phrase=phrase[valid], points=point_text[valid]
                    )
            if s == 0:
                leads.append((valid, phrase, point_text))
            table[column] = out
    return {"table": pd.DataFrame(table), "summary": _summaries(explanation, leads)}


def named_columns(explanation) -> np.ndarray:
    """(rows, concepts, MAX_NAMED) positions of the earned columns a concept's phrase names: the
    one that weighs most in the concept's direction, then each that weighs at least
    :data:`JOINT_SHARE` as much (-1: none)."""
    contributions = explanation.contributions.to_numpy()
    direction = np.where(explanation.concept_matrix("log_odds", shown_only=True) < 0, -1.0, 1.0)
    members = explanation.concept_map.members
    named = np.full((len(explanation), len(members), MAX_NAMED), -1, dtype=np.int64)
    for k, idx in enumerate(members):
        idx = idx[explanation.shown[idx]]
        if not len(idx):
            continue
        signed = contributions[:, idx] * direction[:, k : k + 1]
        order = np.argsort(-signed, axis=1, kind="stable")[:, :MAX_NAMED]
        ranked = np.take_along_axis(signed, order, axis=1)
        keep = (ranked > 0) & (ranked >= JOINT_SHARE * ranked[:, :1])
        keep[:, 0] = True
        named[:, k, : order.shape[1]] = np.where(keep, idx[order], -1)
    return named


def concept_phrases(explanation, words: dict, named: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The phrase of each chosen (row, concept): its named columns' values, joined in words."""
    parts = []
    for j in range(named.shape[1]):
        has = named[:, j] >= 0
        part = np.full(len(rows), "", dtype=object)
        if has.any():
            part[has] = phrases(
                words, explanation.values, explanation.features, named[has, j], rows[has]
            )
        parts.append(part)
    out = parts[0].copy()
    count = (named >= 0).sum(axis=1)
    two, three = count == 2, count >= 3
    if two.any():
        out[two] = fill(TEMPLATES["joint"], first=parts[0][two], second=parts[1][two])
    if three.any():
        out[three] = fill(
            TEMPLATES["series"],
            first=parts[0][three],
            second=parts[1][three],
            third=parts[2][three],
        )
    return out


def _summaries(explanation, leads: list) -> np.ndarray:
    n = len(explanation)
    (up_valid, up_phrase, up_points), (down_valid, down_phrase, down_points) = leads
    movers = np.full(n, TEMPLATES["movers_none"], dtype=object)
    for mask, key in (
        (up_valid & down_valid, "movers_both"),
        (up_valid & ~down_valid, "movers_up"),
        (~up_valid & down_valid, "movers_down"),
    ):
        if mask.any():
            movers[mask] = fill(
                TEMPLATES[key],
                up=up_phrase[mask],
                up_points=up_points[mask],
                down=down_phrase[mask],
                down_points=down_points[mask],
            )
    yardstick = np.asarray([p.words for p in explanation.placements], dtype=object)
    summary = np.empty(n, dtype=object)
    similar = _similar_words(explanation)
    compared = similar != ""
    horizon = str(explanation.contract.horizon_weeks)
    if compared.any():
        summary[compared] = fill(
            TEMPLATES["summary_similar"],
            horizon=horizon,
            yardstick=yardstick[compared],
            similar=similar[compared],
            movers=movers[compared],
        )
    if (~compared).any():
        summary[~compared] = fill(
            TEMPLATES["summary"],
            horizon=horizon,
            yardstick=yardstick[~compared],
            movers=movers[~compared],
        )
    return summary


def _similar_words(explanation) -> np.ndarray:
    """ "about 6 in 10 imported lines placed 'likely' in the test period persisted": like with like
    (same cohort, same band, held-out); "" where no such comparison is recorded (the clause is dropped)."""
    n = len(explanation)
    out = np.full(n, "", dtype=object)
    rates = explanation.similar_rates
    known = ~np.isnan(rates)
    if explanation.cohort is None or not known.any():
        return out
    keys = pd.Series(list(zip(explanation.cohort, explanation.bands, rates)), dtype=object)
    for key, positions in keys[known].groupby(keys[known]).groups.items():
        cohort, band, rate = key
        out[np.asarray(positions)] = TEMPLATES["similar_lines"].format(
            share=share_in_words(float(rate)), cohort=str(cohort).replace("_", " "), band=band
        )
    return out
