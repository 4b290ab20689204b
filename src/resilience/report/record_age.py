"""How far to trust an estimate by how old its record is, in words.

A week's extract holds records from 0 to ``horizon - 1`` weeks old, and a young record may still
lack what will be keyed in later (a charge, runner arrests, referrals, orders). A model trained on
records as they stood was tested on the test period's records at every age
(:mod:`resilience.learn.by_age`); this turns that table into what a commander reads: at which ages
the estimates ran high or low against what happened, ranked lines less well than on complete
records, and carried wider ranges. A model trained on final records only could not be tested
this way, and the briefing says so.

A bias is worded only when it is at least :data:`WORTH_SAYING` points and at least twice its
standard error (each age holds one record per disruption); a ranking gap only from
:data:`RANKING_GAP` of AUC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.learn.records import AS_THEY_STOOD
from resilience.report.words import number, signed_points

WORTH_SAYING = 2.0  # points of bias worth a sentence
RANKING_GAP = 0.02  # AUC below complete records worth a sentence
COMPLETE = "complete"
FINAL_ONLY = (
    "It learned from complete records only, so disruptions recorded in the last few weeks, whose "
    "records may still be filling in, are scored as if their records were complete; how far off "
    "that makes their estimates could not be measured."
)


def _age_text(ages: list[str]) -> str:
    """``["0", "1", "2"]`` -> "0 to 2 weeks old"; one age -> "1 week old"."""
    values = sorted(int(a) for a in ages)
    if len(values) == 1:
        return f"{values[0]} week{'' if values[0] == 1 else 's'} old"
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]} weeks old"
    return ", ".join(str(v) for v in values[:-1]) + f" or {values[-1]} weeks old"


def _row(row: Mapping[str, Any]) -> dict:
    age = str(row.get("record_age"))
    bias, auc = number(row.get("bias_vs_observed_points")), number(row.get("roc_auc"))
    width = number(row.get("median_width"))
    return {
        "age": "complete record" if age == COMPLETE else _age_text([age]),
        "disruptions": f"{int(number(row.get('disruptions')) or 0):,}",
        "estimate": f"{100 * (number(row.get('mean_estimate')) or 0):.0f}%",
        "observed": f"{100 * (number(row.get('observed_rate')) or 0):.0f}%",
        "bias": "not recorded" if bias is None else f"{signed_points(bias)} points",
        "ranking": "not recorded" if auc is None else f"{auc * 100:.0f} times in 100",
        "width": "" if width is None else f"{width * 100:.0f} points",
    }


def _biased(rows: list[Mapping[str, Any]], sign: int) -> list[str]:
    out = []
    for row in rows:
        bias, se = number(row.get("bias_vs_observed_points")), number(row.get("bias_se_points"))
        if bias is None or sign * bias < WORTH_SAYING or abs(bias) < 2 * (se or 0):
            continue
        out.append(str(row["record_age"]))
    return out


def _sentences(ages: list[Mapping[str, Any]], complete: Mapping[str, Any] | None) -> list[str]:
    sentences = []
    for sign, words in ((1, "higher"), (-1, "lower")):
        biased = _biased(ages, sign)
        if biased:
            sentences.append(
                f"For records {_age_text(biased)}, its estimates were {words} than the share of "
                "lines that persisted by more than chance explains: weigh them with that in mind."
            )
    base = number((complete or {}).get("roc_auc"))
    weaker = [
        str(r["record_age"])
        for r in ages
        if base is not None and (number(r.get("roc_auc")) or base) <= base - RANKING_GAP
    ]
    if weaker:
        sentences.append(
            f"It ranked lines less well for records {_age_text(weaker)} than for complete "
            f"records ({base * 100:.0f} times in 100): a young record holds less to go on."
        )
    if not sentences:
        sentences.append(
            "At every record age its estimates were within a couple of points of what happened "
            "and it ranked lines about as well as on complete records."
        )
    return sentences


def record_age_words(model: Mapping[str, Any]) -> dict:
    """The trust section's words on record age, from a week manifest's model summary:
    ``final_only`` (trained on complete records only: :data:`FINAL_ONLY` is what to say),
    ``sentences`` and ``rows`` (one per record age, then the complete record)."""
    training = model.get("training") or {}
    table = [r for r in (model.get("by_record_age") or []) if isinstance(r, Mapping)]
    if training.get("records") != AS_THEY_STOOD or not table:
        return {"final_only": True, "sentences": [FINAL_ONLY], "rows": []}
    ages = [r for r in table if str(r.get("record_age")) != COMPLETE]
    complete = next((r for r in table if str(r.get("record_age")) == COMPLETE), None)
    return {
        "final_only": False,
        "sentences": _sentences(ages, complete),
        "rows": [_row(r) for r in ages + ([complete] if complete else [])],
    }
