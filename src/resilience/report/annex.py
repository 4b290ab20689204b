"""The annex: every line of the week (up to a bound) in one offline HTML table, sortable and
filterable with a small inline script; no network. The briefing stays a few pages; this holds the list.

Rows are read from ``scores.parquet`` in batches (only the columns shown) and written out as they are
escaped, so memory is bounded by the annex's row limit, not by the week.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
from markupsafe import Markup, escape

from resilience.core import week_files
from resilience.data.contract import DataContract
from resilience.data.io import atomic_path
from resilience.report.load import SCAN
from resilience.report.words import clean_text

_BATCH = 20_000


def _columns(names: tuple[str, ...], contract: DataContract) -> list[tuple[str, str, bool]]:
    """(column, heading, numeric) of the annex, in order, for the columns the week has."""
    wanted = [
        ("priority_rank", "Priority", True),
        ("rank", "Likelihood rank", True),
        ("line_id", "Line", False),
        ("disruption_id", "Disruption", False),
    ]
    wanted += [
        (c, contract.describe(c) if c in contract.column_names else c, False)
        for c in contract.slices
    ]
    wanted += [
        ("percent", "Likelihood %", True),
        ("yardstick_band", "Yardstick band", False),
        ("harm_index", "Harm (0\u2013100)", True),
        ("reason_for_1", "Main reason for", False),
        ("reason_against_1", "Main reason against", False),
    ]
    return [w for w in wanted if w[0] in names]


def _cell(value, numeric: bool) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<td></td>"
    if numeric:
        text = f"{value:.0f}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-v="{escape(text)}">{escape(text)}</td>'
    return f"<td>{escape(clean_text(value))}</td>"


def _rows(path: Path, columns: list[tuple[str, str, bool]], max_rows: int):
    """The annex's rows as HTML strings, in priority order, at most ``max_rows``."""
    dataset = ds.dataset(path, format="parquet")
    names = [c for c, _, _ in columns]
    order_column = "priority_rank" if "priority_rank" in dataset.schema.names else "rank"
    table = dataset.to_table(columns=names, filter=pc.field(order_column) <= max_rows, **SCAN)
    table = table.take(pc.sort_indices(table, sort_keys=[(order_column, "ascending")]))
    for batch in table.to_batches(max_chunksize=_BATCH):
        data = [batch.column(i).to_pylist() for i in range(len(names))]
        yield "".join(
            "<tr>"
            + "".join(_cell(data[j][r], columns[j][2]) for j in range(len(names)))
            + "</tr>\n"
            for r in range(batch.num_rows)
        )


def _asset(name: str) -> str:
    text = resources.files("resilience.report").joinpath("static", name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{name} may not contain '</'")
    return text


def write_annex(
    week_dir: Path, contract: DataContract, title: str, marking: str, total: int, max_rows: int
) -> Path:
    """Write ``annex.html`` beside the scores atomically and return its path."""
    path = Path(week_dir) / week_files.SCORES_PARQUET
    names = tuple(ds.dataset(path, format="parquet").schema.names)
    columns = _columns(names, contract)
    shown = min(total, max_rows)
    note = (
        "every line scored this week"
        if shown == total
        else f"the first {shown:,} of {total:,} lines by priority; every line is in scores.csv"
    )
    heads = "".join(
        f'<th scope="col"{" class=num" if n else ""} aria-sort="none"><button type="button" '
        f'data-col="{i}" data-num="{int(n)}">{escape(h)}</button></th>'
        for i, (_, h, n) in enumerate(columns)
    )
    target = Path(week_dir) / week_files.ANNEX_HTML
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{escape(title)}: annex of every line</title>
<style>{Markup(_asset("annex.css"))}</style></head>
<body><p class="marking">{escape(marking)}</p>
<main id="main"><h1>{escape(title)}: annex</h1>
<p>This annex lists {escape(note)}, in priority order. Sort by a column with its heading's button; type in
the box to show only rows containing that text. It works offline and fetches nothing.</p>
<p><label for="filter">Show rows containing</label> <input id="filter" type="search" autocomplete="off">
<span id="shown" role="status" aria-live="polite">{shown:,} rows shown</span></p>
<div class="table-wrap" role="region" aria-labelledby="annex-caption" tabindex="0">
<table id="annex"><caption id="annex-caption">Lines scored this week, by priority ({shown:,} rows)</caption>
<thead><tr>{heads}</tr></thead><tbody>
""")
        for chunk in _rows(path, columns, max_rows):
            out.write(chunk)
        out.write(f"""</tbody></table></div></main>
<p class="marking">{escape(marking)}</p>
<script>{Markup(_asset("annex.js"))}</script>
</body></html>
""")
    return target
