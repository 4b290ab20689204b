"""The week in numbers: the headline sentences, band counts, the split by each slice, and the
safeguarding totals of the extract (named by the data config, whatever their names)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from resilience.core.yardstick import BAND_NAMES
from resilience.report import first_page
from resilience.report.charts import band_chart
from resilience.report.words import (
    FOUR_PS_WORDS,
    band_range,
    clean_text,
    number,
    plural,
    slice_value_text,
)

MAX_SPLIT_ROWS = 12  # values per split table; the rest are summed into "other values"


def safeguarding(items: list[dict], lines_scored: int) -> dict:
    """Totals of the protect/prevent columns (named by the data config, whatever their names)."""
    rows = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        total, lines_with_any = number(item.get("total")), number(item.get("lines_with_any"))
        rows.append(
            {
                "label": clean_text(item.get("label_text") or item.get("column")),
                "concept": clean_text(item.get("concept_label") or item.get("concept")),
                "four_ps": FOUR_PS_WORDS.get(
                    str(item.get("four_ps")), clean_text(item.get("four_ps")).title()
                ),
                "total": f"{int(total):,}" if total is not None else "not recorded",
                "lines_with_any": f"{int(lines_with_any):,}"
                if lines_with_any is not None
                else "not recorded",
            }
        )
    summary = [f"{r['total']} {r['label']}" for r in rows if r["total"] != "not recorded"]
    sentence = ""
    if summary:
        sentence = (
            f"Across the {plural(lines_scored, 'line')} scored this week, the extract records "
            + ", ".join(summary[:-1])
            + (" and " if len(summary) > 1 else "")
            + summary[-1]
            + "."
        )
    return {"rows": rows, "sentence": sentence}


def splits_by_slice(rows: pd.DataFrame, contract) -> list[dict]:
    columns = [c for c in contract.slices if c in rows.columns]
    if contract.cohort_column in columns:
        columns.remove(contract.cohort_column)
        columns.insert(0, contract.cohort_column)
    splits = []
    for column in columns:
        values = (
            rows[column]
            if isinstance(rows[column].dtype, pd.CategoricalDtype)
            else rows[column].astype("category")
        )
        if values.isna().any():
            values = values.cat.add_categories([""]).fillna("")
        table = pd.crosstab(values, rows["band"], dropna=False).reindex(
            columns=list(BAND_NAMES), fill_value=0
        )
        table = table[table.sum(axis=1) > 0]
        table = table.assign(_n=table.sum(axis=1)).sort_values("_n", ascending=False, kind="stable")
        out = [
            {
                "value": slice_value_text(contract, column, value),
                "count": int(r["_n"]),
                "bands": [int(r[b]) for b in BAND_NAMES],
                "likely": int(sum(r[b] for b in first_page.LIKELY_BANDS)),
            }
            for value, r in table.head(MAX_SPLIT_ROWS).iterrows()
        ]
        rest = table.iloc[MAX_SPLIT_ROWS:]
        if len(rest):
            out.append(
                {
                    "value": f"{len(rest):,} other values",
                    "count": int(rest["_n"].sum()),
                    "bands": [int(rest[b].sum()) for b in BAND_NAMES],
                    "likely": int(sum(rest[b].sum() for b in first_page.LIKELY_BANDS)),
                }
            )
        label = contract.describe(column) if column in contract.column_names else column
        splits.append(
            {
                "column": column,
                "label": label,
                "is_cohort": column == contract.cohort_column,
                "rows": out,
            }
        )
    return splits


def since_last_week(board: dict, unchanged_points: int, outcomes: dict | None) -> str:
    """ "Since last week: 20 new, 94 up, ...; 22 of last week's lines are no longer in the open
    list." and, when outcomes became known, how the estimates did on them."""
    gone = (
        f"; {board['gone']:,} of last week's lines are no longer in the open list"
        if board.get("gone") is not None
        else ""
    )
    known = f" {outcomes['headline']}" if outcomes and outcomes.get("headline") else ""
    return (
        f"Since last week: {board['new']:,} new, {board['up']:,} up, {board['down']:,} down, "
        f"{board['unchanged']:,} unchanged (within \u00b1{unchanged_points} points){gone}.{known}"
    )


def headline(
    rows: pd.DataFrame,
    contract,
    board: dict | None,
    unchanged_points: int,
    outcomes: dict | None = None,
    last_week: list[str] = (),
) -> dict:
    """The counts behind the week, and the sentences that open the briefing (``last_week``: what
    became of last week's lists, appended after the changes)."""
    total = len(rows)
    counts = rows["band"].value_counts()
    bands = [
        {
            "band": name,
            "range": band_range(name),
            "count": int(counts.get(name, 0)),
            "share": f"{counts.get(name, 0) / total * 100:.0f}%" if total else "0%",
        }
        for name in BAND_NAMES
    ]
    likely = int(sum(counts.get(b, 0) for b in first_page.LIKELY_BANDS))
    chart = band_chart(bands, "chart-bands")
    chart["aria_label"] = (
        f"Bar chart of the {total:,} lines scored by yardstick band: "
        + "; ".join(f"{b['band']} {b['count']:,}" for b in bands)
        + "."
    )
    splits = splits_by_slice(rows, contract)
    sentences = [
        f"{plural(total, 'line')} scored this week.",
        f"{likely:,} of them {'is' if likely == 1 else 'are'} likely or more to persist (55% or above on the yardstick).",
    ]
    cohort = next((s for s in splits if s["is_cohort"]), None)
    if cohort and cohort["rows"]:
        parts = [f"{r['likely']:,} of {r['count']:,} {r['value'].lower()}" for r in cohort["rows"]]
        sentences.append(
            f"By {cohort['label'].lower()}: "
            + "; ".join(parts)
            + " lines are likely or more to persist."
        )
    if board is not None:
        sentences.append(since_last_week(board, unchanged_points, outcomes))
    sentences += [s for s in last_week if s]
    return {
        "lines_scored": total,
        "likely": likely,
        "bands": bands,
        "band_chart": chart,
        "splits": splits,
        "sentences": sentences,
        "band_names": list(BAND_NAMES),
    }
