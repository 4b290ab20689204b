"""Contradictory records of one line in one extract: a column the data config marks ``per_line``
(a fact about the line, the same for every one of its disruptions: its type, the hub it is run
from) holding two different values among the rows of one line id.

Such an extract says two things about one line, and the model would learn from (or score) both as
if they were true. Whether it is refused or reported and kept is the data config's to say, column
by column (``per_line: error`` or ``per_line: warning``): a line does not change where it is run
from, but it can spread into a neighbouring policing area. Empty values are not compared (a value
not yet recorded contradicts nothing), and values are compared as the contract types them
(``' imported'`` and ``'imported'`` are one category).

:func:`line_conflicts` checks one frame; :class:`LineRecords` keeps, chunk by chunk, which value
each line had (8-byte hashes, not the rows), so a streamed extract whose line holds one value in
one chunk and another in the next is caught as well (:meth:`LineRecords.across_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import Problem, first_few
from resilience.data.contract import DataContract
from resilience.data.io import read_columns
from resilience.data.parse import parse_column
from resilience.data.problems import row_problem, shown_value

LINES_NAMED = 3  # conflicting lines named in a message besides the first


def conflicting_lines(lines: pd.Series, values: pd.Series) -> dict[str, list[str]]:
    """Each line id holding more than one distinct (non-empty) value, in the order of its first
    row, with its values in the order they first appear."""
    known = lines.notna() & values.notna()
    pairs = pd.DataFrame({"line": lines[known].astype(str), "value": values[known].astype(str)})
    distinct = pairs.drop_duplicates()
    several = distinct["line"].duplicated(keep=False)
    return {
        str(line): group["value"].tolist()
        for line, group in distinct[several].groupby("line", sort=False)
    }


def line_conflicts(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    contract: DataContract,
    source: str,
    only: dict[str, set[str]] | None = None,
    refused: frozenset[str] = frozenset(),
) -> tuple[list[Problem], list[Problem]]:
    """Per ``per_line`` column of the typed ``frame``, one problem naming the first line recorded
    with different values, the values and the rows of the lines in conflict (the values as
    ``raw`` has them): (errors, warnings). ``only``: per column, the lines to report (the rest
    were reported already). Columns in ``refused`` already hold a refused value (an unknown
    category, say): they are not compared, so one bad cell is one problem."""
    line = contract.line_column
    errors: list[Problem] = []
    warned: list[Problem] = []
    for name in contract.per_line_columns:
        if name not in frame.columns or line not in frame.columns or name in refused:
            continue
        found = conflicting_lines(frame[line], frame[name])
        if only is not None:
            found = {k: v for k, v in found.items() if k in only.get(name, set())}
        if found:
            problem = _problem(frame[line], raw[name], contract, name, found, source)
            (errors if problem.severity == "error" else warned).append(problem)
    return errors, warned


def _problem(
    lines: pd.Series,
    raw: pd.Series,
    contract: DataContract,
    name: str,
    found: dict[str, list[str]],
    source: str,
) -> Problem:
    """The one-line problem for a column's conflicting lines: the first named with its values,
    the next few by id; its rows line by line (the first line's rows first)."""
    first, *others = found
    text = lines.astype(str)
    rows = pd.Index(np.concatenate([lines.index[text.eq(k).to_numpy()] for k in found]))
    shown = ", ".join(repr(shown_value(value)) for value in found[first])
    rule = (
        f"line {shown_value(first)!r} is recorded with {len(found[first])} different values "
        f"({shown})"
    )
    if others:
        named = first_few((repr(shown_value(k)) for k in others), LINES_NAMED)
        rule += f"; so {'are' if len(others) > 1 else 'is'} {len(others)} other line{'s' if len(others) > 1 else ''}: {named}"
    spec = contract.column(name)
    expected = (
        f"one {name} for every disruption of a line ({spec.label_text or name} describes the line, "
        f"not the disruption: data config '{contract.name}', per_line: {spec.per_line})"
    )
    return row_problem(source, name, rule, expected, rows, raw, severity=spec.per_line)


@dataclass
class LineRecords:
    """Which value each line had in each ``per_line`` column, chunk by chunk, as 8-byte hashes."""

    contract: DataContract
    _pairs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _within: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, frame: pd.DataFrame) -> None:
        """Note the distinct (line, value) pairs of a typed chunk, and the lines already in
        conflict within it (the chunk's own check reported those)."""
        line = self.contract.line_column
        for name in self.contract.per_line_columns:
            if name not in frame.columns:
                continue
            known = frame[name].notna()
            hashed = pd.DataFrame(
                {
                    "line": pd.util.hash_pandas_object(frame[line][known].astype(str), index=False),
                    "value": pd.util.hash_pandas_object(
                        frame[name][known].astype(str), index=False
                    ),
                }
            ).drop_duplicates()
            self._pairs.setdefault(name, []).append(hashed.to_numpy(dtype=np.uint64))
            twice = hashed["line"][hashed["line"].duplicated()].to_numpy(dtype=np.uint64)
            self._within.setdefault(name, []).append(twice)

    def across_chunks(self) -> dict[str, np.ndarray]:
        """Per column, the hashes of lines holding different values in different chunks only."""
        found = {}
        for name, pairs in self._pairs.items():
            distinct = np.unique(np.concatenate(pairs), axis=0)
            lines, counts = np.unique(distinct[:, 0], return_counts=True)
            across = np.setdiff1d(lines[counts > 1], np.concatenate(self._within[name]))
            if across.size:
                found[name] = across
        return found


def conflicts_across_chunks(
    path: str | Path, records: LineRecords
) -> tuple[list[Problem], list[Problem]]:
    """The lines :class:`LineRecords` found with different values in different chunks of the
    extract at ``path``, as problems naming them: (errors, warnings). Only then is the file read
    again, and only its line id and those columns."""
    across = records.across_chunks()
    if not across:
        return [], []
    contract = records.contract
    raw = read_columns(path, [contract.line_column, *across])
    typed = pd.DataFrame(
        {name: parse_column(raw[name], contract.column(name))[0] for name in raw.columns}
    )
    only = {
        name: _hashed_line_ids(typed[contract.line_column], lines) for name, lines in across.items()
    }
    return line_conflicts(typed, raw, contract, str(path), only=only)


def _hashed_line_ids(lines: pd.Series, wanted: np.ndarray) -> set[str]:
    """The line ids among ``lines`` whose hash (as :class:`LineRecords` hashes them) is wanted."""
    text = lines.dropna().astype(str)
    hashes = pd.util.hash_pandas_object(text, index=False).to_numpy(dtype=np.uint64)
    return set(text[np.isin(hashes, wanted)])
