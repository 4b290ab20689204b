"""The annex: every line of the week (up to a bound, and every line with exploited people and no
referral whatever the bound) in one offline HTML table, sortable and filterable with a small inline
script; no network. The briefing stays a few pages; this holds the list.

* Codes read as words ("home_grown" -> "Home grown"), so a filter finds what the page shows.
* The first click on a heading sorts the way a reader wants first: the highest likelihood, harm and
  counts of exploited people first; priority, referrals and text from the top (1, 0, A).
* "No referral recorded" shows, in one click, only the lines whose record holds exploited people
  and no safeguarding referral: the safeguarding columns (exploited children, vulnerable adults,
  referrals, the record's age) are in every row.
* The header stays in view while scrolling; on a phone each row becomes a card with its labels.

Rows are read from ``scores.parquet`` in batches (only the columns shown) and written out as they are
escaped, so memory is bounded by the annex's row limit, not by the week.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from markupsafe import Markup, escape

from resilience.core import week_files
from resilience.data.contract import DataContract
from resilience.data.io import atomic_path
from resilience.report.load import SCAN
from resilience.report.options import playbook_rules, strand_words
from resilience.report.protect import protect_columns
from resilience.report.words import clean_text, css_string, slice_value_text
from resilience.weekly.priority import REFERRALS_COLUMN

_BATCH = 20_000
PLAUSIBLE = "plausible_range"  # "95-99" from the range's ends, as the briefing prints them
RANGE_ENDS = ("probability_low", "probability_high")
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class AnnexColumn:
    """One column of the annex: where its values come from, its heading, and how it sorts."""

    name: str
    heading: str
    numeric: bool = False
    first: str = "asc"  # the first click's direction
    words: Mapping[str, str] | None = None  # code -> words (declared categories)


def _columns(names: tuple[str, ...], contract: DataContract, policy: Mapping) -> list[AnnexColumn]:
    """The annex's columns, in order, for the columns the week has."""
    cols = [AnnexColumn("priority_rank", "Priority", True), AnnexColumn("line_id", "Line")]
    for c in contract.slices:
        spec = contract.column(c) if c in contract.column_names else None
        words = (
            {v: slice_value_text(contract, c, v) for v in spec.allowed}
            if spec and spec.allowed
            else None
        )
        cols.append(AnnexColumn(c, contract.describe(c) if spec else c, words=words))
    cols += [
        AnnexColumn("percent", "Likelihood %", True, "desc"),
        AnnexColumn(PLAUSIBLE, "Plausible range %"),
        AnnexColumn("yardstick_band", "Yardstick band"),
        AnnexColumn("harm_index", "Harm (0\u2013100)", True, "desc"),
    ]
    protect = protect_columns(policy, names)
    cols += [
        AnnexColumn(c, protect["labels"].get(c, c), True, "desc") for c in protect["exploited"]
    ]
    if protect["referrals_known"]:
        cols.append(AnnexColumn(REFERRALS_COLUMN, "Safeguarding referrals", True))
    cols += [
        AnnexColumn("record_age", "Record age (days)", True, "desc"),
        AnnexColumn("options", "Options to consider"),
        AnnexColumn("reason_for_1", "Main reason for"),
        AnnexColumn("reason_against_1", "Main reason against"),
        AnnexColumn("disruption_id", "Disruption"),
    ]
    derived = {  # computed here
        "record_age": "disruption_date" in names,
        "options": True,
        PLAUSIBLE: {*RANGE_ENDS} <= set(names),
    }
    return [c for c in cols if c.name in names or derived.get(c.name, False)]


def _unreferred(table: pa.Table, exploited: list[str]) -> pa.Array:
    """True where the row records exploited people and no referral."""
    if not exploited or REFERRALS_COLUMN not in table.column_names:
        return pa.array(np.zeros(table.num_rows, dtype=bool))
    people = np.zeros(table.num_rows)
    for c in exploited:
        people += table[c].to_numpy(zero_copy_only=False).astype(float)
    referrals = np.nan_to_num(
        table[REFERRALS_COLUMN].to_numpy(zero_copy_only=False).astype(float), nan=1
    )
    return pa.array((people > 0) & (referrals <= 0))


def _range_text(table: pa.Table) -> pa.Array:
    """Each row's plausible range in whole percent, "95\u201399" (empty where not recorded)."""
    low, high = (table[c].to_numpy(zero_copy_only=False).astype(float) for c in RANGE_ENDS)
    return pa.array(
        [
            None if np.isnan(lo) or np.isnan(hi) else f"{lo * 100:.0f}\u2013{hi * 100:.0f}"
            for lo, hi in zip(low, high, strict=True)
        ],
        pa.string(),
    )


def _options_text(table: pa.Table, rules: list[dict]) -> list[str]:
    """Per row: the strands and short words of the options whose rules hold ("Protect: referral now")."""
    texts = [[] for _ in range(table.num_rows)]
    for rule in rules:
        column = week_files.OPTION_PREFIX + str(rule["name"])
        if column not in table.column_names:
            continue
        short = rule.get("short") or str(rule["name"]).replace("_", " ")
        label = f"{strand_words(rule.get('strand'))}: {clean_text(short)}"
        for i in np.flatnonzero(table[column].to_numpy(zero_copy_only=False).astype(bool)):
            texts[i].append(label)
    return ["; ".join(t) for t in texts]


def _cell(value: Any, column: AnnexColumn) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<td></td>"
    if column.numeric:
        text = f"{value:.0f}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-v="{escape(text)}">{escape(text)}</td>'
    text = clean_text(value)
    if column.words:
        text = column.words.get(text, text)
    return f"<td>{escape(text)}</td>"


def _table(
    path: Path, columns: list[AnnexColumn], max_rows: int, policy: Mapping, rules
) -> pa.Table:
    """The rows the annex lists (first ``max_rows`` by priority, and every unreferred one), sorted."""
    dataset = ds.dataset(path, format="parquet")
    names = dataset.schema.names
    order = "priority_rank" if "priority_rank" in names else "rank"
    exploited = protect_columns(policy, names)["exploited"]
    wanted = list(
        dict.fromkeys(
            [
                *(c.name for c in columns if c.name in names),
                *exploited,
                *([REFERRALS_COLUMN] if REFERRALS_COLUMN in names else []),
                *(c for c in names if c.startswith(week_files.OPTION_PREFIX)),
                *(["disruption_date"] if "disruption_date" in names else []),
                *(RANGE_ENDS if {*RANGE_ENDS} <= set(names) else ()),
                order,
            ]
        )
    )
    table = dataset.to_table(columns=wanted, **SCAN)
    if "disruption_date" in names:  # days to the week's as-of date, its latest disruption
        dates = np.array(table["disruption_date"].to_pylist(), dtype="datetime64[D]")
        ages = ((dates.max() - dates) / _DAY).astype(np.int64) if len(dates) else dates
        table = table.append_column("record_age", pa.array(ages, pa.int64()))
    if {*RANGE_ENDS} <= set(names):
        table = table.append_column(PLAUSIBLE, _range_text(table))
    unreferred = _unreferred(table, exploited)
    keep = pc.or_(pc.less_equal(table[order], max_rows), unreferred)
    table = table.append_column("_unreferred", unreferred).filter(keep)
    table = table.take(pc.sort_indices(table, sort_keys=[(order, "ascending")]))
    return table.append_column("options", pa.array(_options_text(table, rules), pa.string()))


def _rows(table: pa.Table, columns: list[AnnexColumn]):
    """The annex's rows as HTML strings; an unreferred row carries ``data-u``."""
    for batch in table.to_batches(max_chunksize=_BATCH):
        data = [batch.column(batch.schema.get_field_index(c.name)).to_pylist() for c in columns]
        flags = batch.column(batch.schema.get_field_index("_unreferred")).to_pylist()
        yield "".join(
            ('<tr data-u="1">' if flags[r] else "<tr>")
            + "".join(_cell(data[j][r], columns[j]) for j in range(len(columns)))
            + "</tr>\n"
            for r in range(batch.num_rows)
        )


def _asset(name: str) -> str:
    text = resources.files("resilience.report").joinpath("static", name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{name} may not contain '</'")
    return text


def _card_labels(columns: list[AnnexColumn]) -> str:
    """CSS giving each cell its heading on a phone, where a row becomes a card (headings CSS-escaped)."""
    return " ".join(
        f'#annex td:nth-child({i + 1})::before {{ content: {css_string(c.heading)} ": "; }}'
        for i, c in enumerate(columns)
    )


def write_annex(
    week_dir: Path,
    contract: DataContract,
    title: str,
    marking: str,
    max_rows: int,
    policy: Mapping | None = None,
    playbook: Mapping | None = None,
) -> Path:
    """Write ``annex.html`` beside the scores atomically and return its path. ``policy`` and
    ``playbook`` are the week's harm policy and playbook (its manifest's)."""
    path = Path(week_dir) / week_files.SCORES_PARQUET
    names = tuple(ds.dataset(path, format="parquet").schema.names)
    columns = _columns(names, contract, policy or {})
    table = _table(path, columns, max_rows, policy or {}, playbook_rules(playbook or {}))
    total = ds.dataset(path, format="parquet").count_rows()
    flagged = int(pc.sum(table["_unreferred"]).as_py() or 0)
    target = Path(week_dir) / week_files.ANNEX_HTML
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(_head(title, marking, columns, table.num_rows, total, flagged, max_rows))
        for chunk in _rows(table, columns):
            out.write(chunk)
        out.write(f"""</tbody></table></div></main>
<p class="marking">{escape(marking)}</p>
<script>{Markup(_asset("annex.js"))}</script>
</body></html>
""")
    return target


def _head(
    title: str,
    marking: str,
    columns: list[AnnexColumn],
    shown: int,
    total: int,
    flagged: int,
    max_rows: int,
) -> str:
    """The page up to the first row: what the annex holds, the filters, the table's header."""
    note = (
        "every line scored this week"
        if shown == total
        else f"the first {min(max_rows, total):,} of {total:,} lines by priority, and every line with "
        "exploited people and no referral recorded; every line is in scores.csv"
    )
    heads = "".join(
        f'<th scope="col"{" class=num" if c.numeric else ""} aria-sort="none"><button type="button" '
        f'data-col="{i}" data-num="{int(c.numeric)}" data-first="{c.first}">{escape(c.heading)}</button></th>'
        for i, c in enumerate(columns)
    )
    return f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{escape(title)}: annex of every line</title>
<style>{Markup(_asset("annex.css"))}
@media (max-width: 45rem) {{ {Markup(_card_labels(columns))} }}</style></head>
<body><p class="marking">{escape(marking)}</p>
<main id="main"><h1>{escape(title)}: annex</h1>
<p>This annex lists {escape(note)}, in priority order. Sort by a column with its heading's button (the first click puts the
highest likelihood, harm and counts first; priority and referrals from the top); type in the box to show only rows containing
that text. It works offline and fetches nothing.</p>
<div class="filters"><p><label for="filter">Show rows containing</label> <input id="filter" type="search" autocomplete="off"></p>
<p><button type="button" id="unreferred" aria-pressed="false">No referral recorded: show only the {flagged:,} line{"" if flagged == 1 else "s"} with exploited people and no safeguarding referral</button></p>
<p id="shown" role="status" aria-live="polite">{shown:,} rows shown</p></div>
<div class="table-wrap" role="region" aria-labelledby="annex-caption" tabindex="0">
<table id="annex"><caption id="annex-caption">Lines scored this week, by priority ({shown:,} rows)</caption>
<thead><tr>{heads}</tr></thead><tbody>
"""
