"""The line explorer: one offline page for data scientists (never in the commander's annex) to
pick a line and see its full explanation, its range, its history across scored weeks and the
decisions recorded about it, with a what-if.

The what-if is **precomputed**: for each line on the page and each model input, the estimate is
recomputed by the model at a few alternative values of that one field (a numeric field at this
week's 10th, 25th, 50th, 75th and 90th percentiles and zero; a yes/no field both ways; a
category at each allowed value), everything else as recorded. The page stays a single file that
opens anywhere (no server, no Python), at the cost of offering chosen values rather than any
value. It says what the model weighs, never what an action would cause: changing a recorded
field in a model is not doing it to a line, and disruption choices are confounded with what
police knew (see the tactics review for effects).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader

from resilience.core.yardstick import band
from resilience.report.words import one_line

PROBABILITY = "persistence_probability"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
CAUTION = (
    "What the model weighs, never what an action would cause: changing a field here changes the "
    "model's input, not the line. Disruption choices follow what police knew, so this is no "
    "estimate of a tactic's effect."
)


def what_if_values(frame: pd.DataFrame, contract, name: str) -> list:
    """The alternative values offered for one field (see the module docstring)."""
    spec = contract.column(name)
    if spec.dtype == "bool":
        return [True, False]
    if spec.dtype == "category":
        return list(spec.allowed or sorted(frame[name].dropna().astype(str).unique()))
    numbers = pd.to_numeric(frame[name], errors="coerce").dropna()
    if numbers.empty:
        return [0]
    values = {0.0, *(float(v) for v in numbers.quantile(list(QUANTILES)))}
    if spec.dtype == "int":
        values = {float(round(v)) for v in values}
    return sorted(values)


def what_if_table(model, frame: pd.DataFrame, contract, features: list[str]) -> dict:
    """``{disruption_id: {field: [[value, estimate], ...]}}`` for every row of ``frame``: the
    model's estimate with that one field changed (one batched prediction)."""
    variants, keys = [], []
    for name in features:
        for value in what_if_values(frame, contract, name):
            changed = frame.copy()
            changed[name] = pd.Series([value] * len(frame), index=frame.index).astype(
                frame[name].dtype
            )
            variants.append(changed)
            keys += [(i, name, value) for i in frame[contract.id_column].astype(str)]
    if not variants:
        return {}
    estimates = model.predict_proba(pd.concat(variants, ignore_index=True))[:, 1]
    out: dict = {}
    for (line, name, value), estimate in zip(keys, estimates):
        shown = value if isinstance(value, str | bool) else float(value)
        out.setdefault(line, {}).setdefault(name, []).append([shown, round(float(estimate), 4)])
    return out


OTHER_FACTORS = "other_factors"


def _input_label(contract, column: str) -> str:
    if column == OTHER_FACTORS:
        return "other factors (inputs whose weight the reason screen did not earn)"
    return contract.describe(column) if column in contract.features else column


def _plain(value):
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 4)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value


def _shown(decision: dict) -> dict:
    """A recorded decision as the page shows it, as the briefing does (:mod:`.lines`): control
    characters and bidirectional overrides replaced (U+FFFD), line breaks and runs of spaces one
    space. The page sets it as text, never markup; the log keeps it as written."""
    return {key: one_line(value) for key, value in decision.items()}


def line_records(
    scores: pd.DataFrame,
    explanations: pd.DataFrame,
    extract: pd.DataFrame,
    contract,
    history: dict[str, list[dict]],
    decisions: dict[str, list[dict]],
    what_if: dict,
) -> list[dict]:
    """Everything the page shows about each line, in rank order."""
    explained = explanations.set_index("disruption_id")
    fields = extract.set_index(extract[contract.id_column].astype(str))
    records = []
    for row in scores.to_dict("records"):
        disruption = str(row["disruption_id"])
        points = explained.loc[disruption].drop(labels=["baseline_probability"], errors="ignore")
        records.append(
            {
                "score": {k: _plain(v) for k, v in row.items()},
                "baseline": _plain(explained.loc[disruption].get("baseline_probability")),
                "points": sorted(
                    (
                        [_input_label(contract, c), _plain(v)]
                        for c, v in points.items()
                        if isinstance(v, int | float) and v == v
                    ),
                    key=lambda item: -abs(item[1] or 0),
                ),
                "fields": {
                    c: _plain(fields.loc[disruption, c])
                    for c in contract.features
                    if c in fields.columns
                },
                "history": history.get(str(row["line_id"]), []),
                "decisions": [_shown(d) for d in decisions.get(str(row["line_id"]), [])],
                "what_if": what_if.get(disruption, {}),
            }
        )
    return records


def render_explorer(week: str, records: list[dict], labels: dict[str, str]) -> str:
    """The page: the records as JSON inside it, shown by a small script (no network)."""
    data = json.dumps(
        {"week": week, "lines": records, "labels": labels, "bands": _bands(), "caution": CAUTION}
    )
    environment = Environment(
        loader=PackageLoader("resilience.report", "templates"), autoescape=True
    )
    return environment.get_template("explorer.html.j2").render(
        week=week,
        caution=CAUTION,
        lines=len(records),
        # inside <script type="application/json">: "</" and "<!--" cannot close or open anything
        data=data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
    )


def _bands() -> list[list]:
    """The yardstick band of every whole percent, for the what-if's words."""
    return [[p, band(p / 100)] for p in range(0, 101)]
