"""The line board: what changed since the previous scored week, line by line.

A disruption stays open in the weekly extracts until its outcome is known, so this week's rows are
matched to last week's by ``disruption_id`` first and, for a disruption not seen before, by
``line_id`` (the line's highest score last week). Points are the difference of the whole percentages
printed in the two reports, so the words agree with the numbers a reader compares; a move of at
most ``unchanged_points`` either way reads "unchanged". Which reason moved an estimate most is the
concept whose contribution (points of probability) changed most between the two explanations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from resilience.core.yardstick import place
from resilience.report.first_page import LIKELY_BANDS
from resilience.report.waterfall import concept_contributions
from resilience.report.words import clean_text, number, plural, points_text

UNCHANGED_POINTS = 2


def _strings(values) -> pa.Array:
    array = pa.array(values)
    return array if array.type == pa.string() else pc.cast(array, pa.string())


def change_since_last_week(
    scores: pd.DataFrame, previous: pd.DataFrame | None, unchanged_points: int = UNCHANGED_POINTS
) -> pd.DataFrame:
    """Per row of ``scores``: ``change`` (new / up / down / unchanged), ``change_points``,
    ``previous_percent`` and ``previous_position`` (the row of ``previous`` it is compared with, -1
    for none). Matching runs in pyarrow (``index_in``), so a million-row week stays light."""
    now = (
        pd.to_numeric(scores["persistence_probability"])
        .astype(float)
        .clip(0, 1)
        .mul(100)
        .round()
        .astype(int)
    )
    out = pd.DataFrame({"percent": now.to_numpy()}, index=scores.index)
    position = np.full(len(scores), -1, dtype=np.int64)
    if previous is not None and len(previous):
        p = pd.to_numeric(previous["persistence_probability"], errors="coerce").to_numpy(
            dtype=float
        )
        known = np.flatnonzero(~np.isnan(p))  # a row without a probability cannot anchor a change
        by_percent = known[np.argsort(-np.rint(np.clip(p[known], 0, 1) * 100), kind="stable")]
        ids, lines = _strings(previous["disruption_id"]), _strings(previous["line_id"])
        same = pc.index_in(_strings(scores["disruption_id"]), value_set=ids.take(pa.array(known)))
        best = pc.index_in(_strings(scores["line_id"]), value_set=lines.take(pa.array(by_percent)))
        same_np = same.to_numpy(zero_copy_only=False)
        best_np = best.to_numpy(zero_copy_only=False)
        same_ok, best_ok = ~np.isnan(same_np.astype(float)), ~np.isnan(best_np.astype(float))
        position[best_ok] = by_percent[best_np[best_ok].astype(np.int64)]
        position[same_ok] = known[same_np[same_ok].astype(np.int64)]  # the same disruption wins
    matched = position >= 0
    previous_percent = np.zeros(len(scores), dtype=np.int64)
    if matched.any():
        previous_percent[matched] = np.rint(np.clip(p[position[matched]], 0, 1) * 100).astype(
            np.int64
        )
    out["previous_percent"] = pd.array(np.where(matched, previous_percent, 0), dtype="Int64")
    out.loc[~matched, "previous_percent"] = pd.NA
    out["previous_position"] = position
    diff = out["percent"] - out["previous_percent"]
    filled = diff.fillna(0).astype(int)
    out["change"] = pd.Categorical(
        np.where(
            ~matched,
            "new",
            np.where(
                filled.abs() <= unchanged_points, "unchanged", np.where(filled > 0, "up", "down")
            ),
        ),
        categories=["new", "up", "down", "unchanged"],
    )
    out["change_points"] = diff
    return out


def change_words(
    kind: str,
    points: Any,
    previous_percent: Any,
    unchanged_points: int = UNCHANGED_POINTS,
    moved_by: str = "",
    record: str = "",
) -> dict[str, str]:
    """The change as a symbol and words ("up 12 points (from 40%); record updated: runners
    arrested 0 to 2; moved most by Runners arrested (+6.1 points)"), and page 1's form in two
    parts: ``compact`` ("up 12 points (from 40%)", "unchanged (was 97%)") and ``moved`` (the
    record's words and "moved most by ...", or ""). ``record``: :func:`record_updates`' words for
    the same disruption (a filled-in record, or the same record with a changed estimate)."""
    if kind == "new":
        return {
            "kind": "new",
            "symbol": "\u25cf",
            "text": "new this week",
            "compact": "new this week",
            "moved": "",
        }
    points = int(points)
    was = f"from {int(previous_percent)}%"
    if kind == "unchanged":
        detail = (
            "no change"
            if points == 0
            else f"{points_text(points)}, within \u00b1{unchanged_points}"
        )
        return {
            "kind": kind,
            "symbol": "=",
            "text": f"unchanged ({detail}; {was})",
            "compact": f"unchanged (was {int(previous_percent)}%)",
            "moved": "",
        }
    word = "up" if kind == "up" else "down"
    symbol = "\u25b2" if kind == "up" else "\u25bc"
    unit = "point" if abs(points) == 1 else "points"
    moved = "; ".join(p for p in (record, f"moved most by {moved_by}" if moved_by else "") if p)
    return {
        "kind": kind,
        "symbol": symbol,
        "text": f"{word} {abs(points)} {unit} ({was})" + (f"; {moved}" if moved else ""),
        "compact": f"{word} {abs(points)} {unit} ({was})",
        "moved": moved,
    }


def _value_text(value: Any) -> str:
    """A recorded value as the board prints it: yes/no, a whole number, or "not recorded"."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "not recorded"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.number)) and float(value).is_integer():
        return f"{int(value):,}"
    return clean_text(value)


def record_updates(
    pairs: Sequence[tuple[str, str]],
    now: pd.DataFrame | None,
    before: pd.DataFrame | None,
    contract,
    limit: int = 3,
) -> dict[str, str]:
    """For pairs (this week's disruption, last week's) of the **same** disruption, whose records
    both weeks kept (:meth:`~resilience.report.load.WeekData.records_for`): which recorded inputs
    changed, as "record updated: runners arrested 0 to 2" (a move caused by what was keyed in
    since), or "same record as last week" (the estimate moved for an unchanged record: a newer
    model, or the record a week older). The record's age, which the toolkit derives, is not a
    recorded field. Pairs without both records get no words."""
    if now is None or before is None or now.empty or before.empty:
        return {}
    fields = [f for f in contract.features if f not in contract.derived_columns]
    fields = [f for f in fields if f in now.columns and f in before.columns]
    now_rows = now.drop_duplicates(contract.id_column).set_index(contract.id_column)
    before_rows = before.drop_duplicates(contract.id_column).set_index(contract.id_column)
    words = {}
    for current, previous in pairs:
        if (
            current != previous
            or current not in now_rows.index
            or previous not in before_rows.index
        ):
            continue
        a, b = now_rows.loc[current], before_rows.loc[previous]
        changed = [f for f in fields if _value_text(a[f]) != _value_text(b[f])]
        if not changed:
            words[current] = "same record as last week"
            continue
        shown = [
            f"{contract.column(f).label_text or f} {_value_text(b[f])} to {_value_text(a[f])}"
            for f in changed[:limit]
        ]
        more = f" and {plural(len(changed) - limit, 'other field')}" if len(changed) > limit else ""
        words[current] = "record updated: " + ", ".join(shown) + more
    return words


def moved_most(
    pairs: Sequence[tuple[str, str]], now: pd.DataFrame, before: pd.DataFrame, contract
) -> dict[str, str]:
    """For (this week's disruption, last week's disruption) pairs: the concept whose contribution
    changed most, as "Runners arrested (+6.1 points)". Explanations missing on either side: no entry."""
    if not pairs or now.empty or before.empty:
        return {}
    now_c, concepts = concept_contributions(now, contract)
    before_c, _ = concept_contributions(before, contract)
    labels = {c["name"]: c["label"] for c in concepts}
    words = {}
    for current, previous in pairs:
        if current not in now_c.index or previous not in before_c.index:
            continue
        a, b = now_c.loc[[current]].iloc[0], before_c.loc[[previous]].iloc[0]
        delta = a.sub(b.reindex(a.index).fillna(0.0), fill_value=0.0)
        if delta.empty or not np.isfinite(delta.to_numpy()).any():
            continue
        name = delta.abs().idxmax()
        words[current] = f"{labels.get(name, name)} ({points_text(float(delta[name]), 1)})"
    return words


def board(
    rows: pd.DataFrame, change: pd.DataFrame, previous: pd.DataFrame | None, limit: int
) -> dict:
    """Counts of new/up/down/unchanged, lines no longer open, and the biggest moves (row indexes)."""
    counts = change["change"].value_counts()
    result: dict[str, Any] = {k: int(counts.get(k, 0)) for k in ("new", "up", "down", "unchanged")}
    if previous is not None and len(previous):
        before = _strings(previous["line_id"])
        gone = pc.invert(pc.is_in(before, value_set=pc.unique(_strings(rows["line_id"]))))
        result["gone"] = len(pc.unique(pc.filter(before, gone)))
    else:
        result["gone"] = None
    moved = change[change["change"].isin(["up", "down"])]
    order = moved["change_points"].abs().astype(float).sort_values(ascending=False, kind="stable")
    result["moves"] = list(order.index[:limit])
    return result


def closed_since(previous: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """Disruptions open last week that are not open this week: their outcome may now be known."""
    before = _strings(previous["disruption_id"])
    gone = pc.invert(pc.is_in(before, value_set=_strings(rows["disruption_id"])))
    return pc.unique(pc.filter(before, gone)).to_pylist()


def outcome_words(
    outcome: bool, probability: Any, band: Any = "", low: Any = None, high: Any = None
) -> dict[str, str]:
    """The known outcome against what was estimated: "persisted — we estimated 62% (likely)"."""
    what = "persisted" if outcome else "did not persist"
    estimate = number(probability)
    if estimate is None:
        return {
            "kind": "persisted" if outcome else "ended",
            "outcome": what,
            "estimate": "no estimate recorded",
            "text": f"{what} \u2014 no estimate recorded",
        }
    low, high = number(low), number(high)
    extra = [clean_text(band)] if clean_text(band) else []
    if low is not None and high is not None:
        extra.append(f"plausible range {low * 100:.0f}\u2013{high * 100:.0f}%")
    estimated = f"we estimated {estimate * 100:.0f}%" + (f" ({'; '.join(extra)})" if extra else "")
    return {
        "kind": "persisted" if outcome else "ended",
        "outcome": what,
        "estimate": estimated,
        "text": f"{what} \u2014 {estimated}",
    }


def outcomes_known(
    known: pd.DataFrame, closed: int, limit: int, horizon_weeks: int
) -> dict[str, Any]:
    """Counts and one plain sentence for the disruptions whose outcome became known since last week,
    and the row indexes to name: the outcomes furthest from what was estimated first (at most ``limit``).

    ``closed`` is how many of last week's disruptions are no longer open; those without a recorded
    outcome are counted as waiting for one. The expected number persisting is the sum of the estimates."""
    known = known.drop_duplicates("disruption_id")
    count = len(known)
    outcome = known["outcome"].astype(bool)
    probability = pd.to_numeric(known["persistence_probability"], errors="coerce")
    persisted = int(outcome.sum())
    expected = float(probability.fillna(0).sum())
    variance = float((probability.clip(0, 1) * (1 - probability.clip(0, 1))).fillna(0).sum())
    lines = known["line_id"].astype(str).nunique()
    noun = "line" if lines == count else "disruption"
    after = f"still active {horizon_weeks} weeks after the disruption"
    if count == 0:
        sentence = ""
    elif count == 1:
        words = outcome_words(bool(outcome.iloc[0]), probability.iloc[0])
        sentence = f"The outcome of one {noun} is now known: it {words['text']}."
    else:
        sentence = (
            f"Of the {plural(count, noun)} whose outcome is now known, {persisted:,} persisted ({after}); "
            f"from our estimates we expected {chance_words(expected, variance)}."
        )
        if noun == "disruption":
            sentence += f" They are disruptions of {plural(lines, 'line')}."
    gap = (outcome.astype(float) - probability).abs().fillna(1.0)
    order = gap.to_frame("gap").assign(id=known["disruption_id"].astype(str))
    order = order.sort_values(["gap", "id"], ascending=[False, True], kind="stable")
    return {
        "count": count,
        "persisted": persisted,
        "expected": round(expected, 1),
        "sentence": sentence,
        "headline": _outcomes_headline(known, outcome, probability, noun),
        "waiting": max(int(closed) - count, 0),
        "order": list(order.index[: max(int(limit), 0)]),
    }


def estimates_verdict(persisted: int, probabilities: pd.Series) -> str:
    """Plain words for how the estimates did on outcomes now known: "so they were close" when the
    count that persisted is within what chance alone gives (two standard deviations of the sum of
    the estimates, and at least one line), else "so more" or "so fewer persisted than estimated"."""
    p = probabilities.dropna().clip(0, 1)
    return verdict(persisted, float(p.sum()), float((p * (1 - p)).sum()))


def chance_counts(expected: float, variance: float) -> tuple[int, int]:
    """The counts persisting that chance alone gives around ``expected``, the sum of the estimates
    (two standard deviations, at least one line): the counts :func:`verdict` calls close."""
    allowance = max(2 * float(np.sqrt(variance)), 1.0)
    return max(math.ceil(expected - allowance), 0), math.floor(expected + allowance)


def chance_words(expected: float, variance: float) -> str:
    """ "about 189 (chance alone gives 170–208)": the expected count with its range."""
    low, high = chance_counts(expected, variance)
    return f"about {expected:,.0f} (chance alone gives {low:,}\u2013{high:,})"


def verdict(persisted: int, expected: float, variance: float) -> str:
    """:func:`estimates_verdict` from the sum of the estimates and of their variances."""
    low, high = chance_counts(expected, variance)
    if low <= persisted <= high:
        return "so they were close"
    return (
        "so more persisted than estimated"
        if persisted > expected
        else "so fewer persisted than estimated"
    )


def _outcomes_headline(
    known: pd.DataFrame, outcome: pd.Series, probability: pd.Series, noun: str
) -> str:
    """The top-of-briefing sentence on outcomes that became known since last week: how many, how
    many persisted against how many the estimates expected, and how the lines rated likely or more
    did ("" when none became known)."""
    count = len(known)
    if count == 0:
        return ""
    if count == 1:
        line = clean_text(known["line_id"].iloc[0])
        return (
            f"1 outcome became known this week: line {line} "
            f"{outcome_words(bool(outcome.iloc[0]), probability.iloc[0])['text']}."
        )
    persisted = int(outcome.sum())
    estimated = probability.notna()
    text = f"{count:,} outcomes became known this week: {persisted:,} of these {noun}s persisted"
    if estimated.any():
        expected = float(probability[estimated].sum())
        verdict = estimates_verdict(int(outcome[estimated].sum()), probability[estimated])
        missing = (
            f" ({plural(int((~estimated).sum()), noun)} had no estimate)"
            if not estimated.all()
            else ""
        )
        p = probability[estimated].clip(0, 1)
        about = chance_words(expected, float((p * (1 - p)).sum()))
        text += f"; the estimates expected {about}{missing}, {verdict}."
        likely = estimated & (
            probability.clip(0, 1)
            .map(lambda v: place(v).band if pd.notna(v) else "")
            .isin(LIKELY_BANDS)
        )
        if likely.any():
            text += (
                f" Of the {int(likely.sum()):,} we rated likely or more, "
                f"{int(outcome[likely].sum()):,} persisted."
            )
    else:
        text += "; no estimate was recorded for them."
    return text
