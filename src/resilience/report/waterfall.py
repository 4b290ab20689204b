"""What the model weighed, grouped into the data config's concepts: per-line waterfall steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from resilience.data.contract import DataContract
from resilience.explain.reasons import OTHER_FACTORS
from resilience.report.words import FOUR_PS_WORDS

WATERFALL_CONCEPTS = 8  # concepts shown one by one in a waterfall; the rest are summed
# Unearned features summed by scoring: they may include policing actions (orders, arrests) and the
# force's grading, so they take no single strand and are never drawn as context.
OTHER_FACTORS_CONCEPT = {
    "name": OTHER_FACTORS,
    "label": "Other factors, not named (their reasons did not pass the screen)",
    "four_ps": "mixed",
}


def concept_contributions(
    explanations: pd.DataFrame, contract: DataContract
) -> tuple[pd.DataFrame, list[dict]]:
    """Sum each row's feature contributions (percentage points) per concept.

    Returns the per-concept frame (index ``disruption_id``, one column per concept) and the
    concepts' descriptions (name, label, four Ps) in contract order. A feature the contract does
    not know becomes its own concept, labelled from its name, so nothing is silently dropped.
    """
    feature_columns = [
        c for c in explanations.columns if c not in ("disruption_id", "baseline_probability")
    ]
    known = set(contract.column_names)
    groups: dict[str, list[str]] = {}
    concepts: dict[str, dict] = {}
    for feature in feature_columns:
        if feature == OTHER_FACTORS:
            name, label, four_ps = (OTHER_FACTORS_CONCEPT[k] for k in ("name", "label", "four_ps"))
        elif feature in known:
            concept = contract.concept_of(feature)
            name, label, four_ps = concept.name, concept.label_text, concept.four_ps
        else:
            name, label, four_ps = feature, feature.replace("_", " "), "context"
        groups.setdefault(name, []).append(feature)
        concepts.setdefault(name, {"name": name, "label": label, "four_ps": four_ps})
    values = explanations[feature_columns].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    membership = np.zeros((len(feature_columns), len(groups)))  # feature x concept, 0/1
    position = {f: i for i, f in enumerate(feature_columns)}
    for j, cols in enumerate(groups.values()):
        membership[[position[c] for c in cols], j] = 1.0
    summed = pd.DataFrame(
        values.to_numpy(dtype=float) @ membership,
        columns=list(groups),
        index=explanations["disruption_id"].astype(str).to_numpy(),
    )
    return summed, list(concepts.values())


def waterfall_steps(
    baseline_percent: float,
    contributions: Mapping[str, float],
    concepts: Sequence[dict],
    max_concepts: int = WATERFALL_CONCEPTS,
) -> list[dict]:
    """The waterfall's rows: the baseline, the largest concepts by size, "all other factors", and
    the line's probability. Each row has ``start`` and ``end`` on the 0-100 probability scale."""
    by_name = {c["name"]: c for c in concepts}
    ordered = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown = [(n, v) for n, v in ordered if round(v, 1) != 0][:max_concepts]
    rest = [(n, v) for n, v in ordered if (n, v) not in shown]
    label = "Starting point: the average line in training"
    steps = [_step("baseline", label, "", "", baseline_percent, 0.0)]
    running = baseline_percent
    for name, value in shown:
        concept = by_name[name]
        strand = concept["four_ps"]
        words = FOUR_PS_WORDS.get(strand, strand.title())
        kind = "up" if value > 0 else "down"
        steps.append(_step(kind, concept["label"], words, strand.title(), value, running))
        running += value
    rest_total = float(sum(v for _, v in rest))
    if rest:
        kind = "up" if rest_total > 0 else "down" if rest_total < 0 else "none"
        label = f"All other factors ({len(rest)} together)"
        steps.append(_step(kind, label, "Mixed", "Mixed", rest_total, running))
        running += rest_total
    steps.append(_step("final", "This line's probability of persisting", "", "", running, 0.0))
    return steps


def _step(kind: str, label: str, four_ps: str, short: str, points: float, start: float) -> dict:
    """One waterfall row, from ``start`` by ``points`` on the 0-100 probability scale."""
    return {
        "kind": kind,
        "label": label,
        "four_ps": four_ps,
        "four_ps_short": short,
        "points": points,
        "start": start,
        "end": start + points,
    }
