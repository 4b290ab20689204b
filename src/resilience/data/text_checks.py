"""The text checks of an extract: ids, strings, categories and free text hold no control
characters (NUL, CR, LF, tab, C1), line separators or bidirectional overrides, and are no longer
than the column's ``max_length`` -- such text could break CSV rows, hide itself or smuggle formulas.
Ids (of disruptions, lines and groups) have no spaces around them: ids are matched exactly, so
``'SYN-D1 '`` beside ``'SYN-D1'`` would be two disruptions to the duplicate check.
"""

from __future__ import annotations

import re

import pandas as pd

from resilience.core.errors import Problem
from resilience.data.contract import DataContract
from resilience.data.parse import blank_cells
from resilience.data.problems import row_problem

# C0 and C1 control characters (NUL, tab, CR, LF, ESC, DEL...), the Unicode line and paragraph
# separators, and the bidirectional embeddings, overrides and isolates that make text display in a
# different order from how it is stored.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(CONTROL_CHARACTERS)
CONTROL_EXPECTED = (
    "without control characters (NUL, CR, LF, tab or other C0/C1 codes, line or paragraph "
    "separators) or bidirectional overrides (U+202A-U+202E, U+2066-U+2069)"
)
ID_ROLES = ("id", "line_id", "group")


def text_problems(
    raw: pd.DataFrame, contract: DataContract, present: list[str], source: str
) -> list[Problem]:
    """Ids, strings, categories and text: no control characters, no bidi overrides, not too long;
    ids without surrounding spaces (categories are stripped; an id is matched exactly).

    Such values would break CSV rows, hide text or smuggle formulas into the outputs, so they are
    refused at the door rather than cleaned later.
    """
    problems = []
    for name in present:
        spec = contract.column(name)
        if spec.text_limit is None:
            continue
        text = raw[name][~blank_cells(raw[name])].astype(str)
        values = text.tolist()
        control = pd.Series(False, index=text.index)
        # fast path: one search over the joined column; only a hit looks row by row
        if _CONTROL.search("".join(values)):
            control = text.str.contains(CONTROL_CHARACTERS, regex=True)
            problems.append(
                row_problem(
                    source,
                    name,
                    "control character",
                    f"{spec.expected()} {CONTROL_EXPECTED}",
                    text.index[control.to_numpy()],
                    raw[name],
                )
            )
        # ids only (categories are stripped); a tab at an end is already a control character
        if spec.role in ID_ROLES and (spaced := text.ne(text.str.strip()) & ~control).any():
            problems.append(
                row_problem(
                    source,
                    name,
                    "id with spaces at the start or end",
                    "an id without surrounding spaces (ids are matched exactly: 'SYN-D1 ' and "
                    "'SYN-D1' would be two different ids)",
                    text.index[spaced.to_numpy()],
                    raw[name],
                )
            )
        if values and max(map(len, values)) > spec.text_limit:
            long = text.str.len() > spec.text_limit
            problems.append(
                row_problem(
                    source,
                    name,
                    "value too long",
                    f"at most {spec.text_limit:,} characters",
                    text.index[long.to_numpy()],
                    raw[name],
                )
            )
    return problems
