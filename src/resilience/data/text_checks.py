"""The text checks of an extract: ids, strings, categories and free text hold no control
characters (NUL, CR, LF, tab, C1), line separators or bidirectional overrides, and are no longer
than the column's ``max_length`` -- such text could break CSV rows, hide itself or smuggle formulas.
Ids (of disruptions, lines and groups) have no spaces around them: ids are matched exactly, so
``'SYN-D1 '`` beside ``'SYN-D1'`` would be two disruptions to the duplicate check. For the same
reason ids, strings and categories hold no invisible character anywhere (a zero-width space, a
byte-order mark, a soft hyphen: any Unicode format character, category Cf, or other
default-ignorable one): ``'SYN-L00\u200b1'`` looks like ``'SYN-L001'`` and is another line.
Nor may two ids, or two values of a category or string column, look the same (a Cyrillic ``С``
in place of a Latin ``C``), nor one id mix Latin, Cyrillic and Greek letters (:mod:`.lookalikes`).
Each check is a pure function of one column's text, giving the rows, the rule and what was
expected.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

from resilience.core.errors import CONTROL_CHARACTERS, Problem, first_few
from resilience.data.contract import ColumnSpec, DataContract
from resilience.data.contract_specs import ID_ROLES
from resilience.data.io import read_columns
from resilience.data.lookalikes import is_lookalike, lookalike_problems
from resilience.data.parse import blank_cells
from resilience.data.problems import character_name, row_problem

CONTROL_EXPECTED = (
    "without control characters (NUL, CR, LF, tab or other C0/C1 codes, line or paragraph "
    "separators) or bidirectional overrides (U+202A-U+202E, U+2066-U+2069)"
)
# free text (an officer's notes) may run over lines, as notes do: tab, LF and CR are its own
TEXT_CONTROL_CHARACTERS = (
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
TEXT_CONTROL_EXPECTED = CONTROL_EXPECTED.replace("NUL, CR, LF, tab or other", "NUL, ESC or other")
# Characters Unicode marks as default-ignorable (shown as nothing) that are not format characters
# (category Cf): the combining grapheme joiner, the Hangul fillers, the Khmer inherent vowels,
# the Mongolian free variation selectors and the variation selectors (DerivedCoreProperties.txt,
# Default_Ignorable_Code_Point).
OTHER_INVISIBLE = (
    ("\u034f", "\u034f"),
    ("\u115f", "\u1160"),
    ("\u17b4", "\u17b5"),
    ("\u180b", "\u180f"),
    ("\u3164", "\u3164"),
    ("\ufe00", "\ufe0f"),
    ("\uffa0", "\uffa0"),
    ("\U000e0100", "\U000e01ef"),
)
_OTHER_INVISIBLE = "[" + "".join(f"{low}-{high}" for low, high in OTHER_INVISIBLE) + "]"
# what a check finds: where, the rule broken, what was expected
Found = tuple[pd.Series, str, str]


def text_problems(
    raw: pd.DataFrame,
    contract: DataContract,
    present: list[str],
    source: str,
    unparsed: dict[str, pd.Series] | None = None,
) -> list[Problem]:
    """Ids, strings, categories and text: no control characters, no bidi overrides, not too long;
    ids without surrounding spaces (categories are stripped; an id is matched exactly); ids,
    strings and categories without invisible characters inside them.

    Such values would break CSV rows, hide text, split one id or category into two that look the
    same, or smuggle formulas into the outputs, so they are refused at the door rather than
    cleaned later. Cells in ``unparsed`` (lists, bytes: already refused) are not read as text.
    """
    problems = []
    for name in present:
        spec = contract.column(name)
        if spec.text_limit is None:
            continue
        cells = raw[name][~unparsed[name]] if unparsed and name in unparsed else raw[name]
        text = cells[~blank_cells(cells)].astype(str)
        free = spec.dtype == "text"
        control = _control(text, TEXT_CONTROL_CHARACTERS if free else CONTROL_CHARACTERS)
        expected = TEXT_CONTROL_EXPECTED if free else CONTROL_EXPECTED
        found = [
            (control, "control character", f"{spec.expected()} {expected}"),
            _padded(text, spec, control),
            _invisible(text, spec, control),
            _too_long(text, spec),
        ]
        found = [item for item in found if item is not None and item[0].any()]
        problems += [
            row_problem(source, name, rule, expected, text.index[mask.to_numpy()], raw[name])
            for mask, rule, expected in found
        ]
        if spec.dtype != "text":  # values already refused above are not compared again
            refused = pd.Series(False, index=text.index)
            for mask, _, _ in found:
                refused |= mask
            kept = text[~refused]
            kept = kept.str.strip() if spec.dtype == "category" else kept  # as categories are read
            ids = spec.role in ID_ROLES
            problems += lookalike_problems(kept, name, source, raw[name], ids=ids)
    return problems


# what a spreadsheet, R, pandas or a database writes for a missing value, when it writes text
MISSING_WORDS = frozenset({"na", "n/a", "#n/a", "nan", "null", "none", "nil"})


def missing_words(
    raw: pd.DataFrame, contract: DataContract, present: list[str], source: str
) -> list[Problem]:
    """Warnings, not refusals: a column that may be empty holding ``NA``, ``null`` or ``None`` as
    text. The toolkit reads such a cell as a value of that name (an area or a crime group may
    really be called that), so every line exported with ``NA`` for "no group" would count as
    one crime group "NA" in the briefing; the warning names the rows and says to leave the cell
    empty instead."""
    warned = []
    for name in present:
        spec = contract.column(name)
        if not spec.nullable or spec.dtype not in ("string", "category"):
            continue
        cells = raw[name]
        text = cells[~blank_cells(cells)].astype(str).str.strip()
        hits = text.str.lower().isin(MISSING_WORDS)
        if hits.any():
            words = ", ".join(sorted({repr(v) for v in text[hits]})[:3])
            warned.append(
                row_problem(
                    source,
                    name,
                    f"{words} written where the cell may be empty",
                    f"an empty cell for no value ({words} is read as a value of that name)",
                    text.index[hits.to_numpy()],
                    cells,
                    severity="warning",
                )
            )
    return warned


def lookalikes_in_file(path: str | Path, contract: DataContract) -> list[Problem]:
    """The lookalike problems of a whole file's id, string and category columns
    (:mod:`.lookalikes`), read alone: for a file validated in chunks, whose pairs may lie in two
    chunks (an area in the first, its Cyrillic twin in the last) and whose chunks each called an
    id 'mixing scripts' when its twin was in another. Values refused for another reason are left
    out, as in :func:`text_problems`."""
    names = [
        c.name for c in contract.columns if c.role in ID_ROLES or c.dtype in ("string", "category")
    ]
    raw = read_columns(path, names)
    found = text_problems(raw, contract, list(raw.columns), str(path))
    return [p for p in found if is_lookalike(p)]


def _control(text: pd.Series, pattern: str = CONTROL_CHARACTERS) -> pd.Series:
    """Where a value holds a control character (``pattern``: :data:`CONTROL_CHARACTERS`, or
    :data:`TEXT_CONTROL_CHARACTERS` for free text)."""
    # fast path: one search over the joined column; only a hit looks row by row
    if not re.search(pattern, "".join(text.tolist())):
        return pd.Series(False, index=text.index)
    return text.str.contains(pattern, regex=True)


def _padded(text: pd.Series, spec: ColumnSpec, control: pd.Series) -> Found | None:
    """Ids with spaces around them (categories are stripped; a tab at an end is already a
    control character)."""
    if spec.role not in ID_ROLES:
        return None
    return (
        text.ne(text.str.strip()) & ~control,
        "id with spaces at the start or end",
        "an id without surrounding spaces (ids are matched exactly: 'SYN-D1 ' and "
        "'SYN-D1' would be two different ids)",
    )


def _invisible(text: pd.Series, spec: ColumnSpec, control: pd.Series) -> Found | None:
    """Ids, strings and categories holding an invisible character (:func:`invisible`) anywhere:
    ``'SYN-L00\u200b1'`` looks like ``'SYN-L001'`` but is another id (a hidden duplicate), and
    ``'Eastvale\u200b'`` another area. Free text may hold them (a joiner in an emoji). The rule
    names each character found (the first three); rows with a control character are already
    refused."""
    if spec.dtype == "text":
        return None
    # fast path: only values Python cannot print, or holding one of the printable invisibles
    odd = text[~text.map(str.isprintable) | text.str.contains(_OTHER_INVISIBLE, regex=True)]
    found = odd.map(lambda value: [ch for ch in value if invisible(ch)])
    found = found[found.map(bool) & ~control.reindex(found.index, fill_value=False)]
    if found.empty:
        return None
    chars = sorted({ch for value in found for ch in value})
    named = first_few((character_name(ch) for ch in chars), 3)
    kind = "id" if spec.role in ID_ROLES else "value"
    return (
        pd.Series(text.index.isin(found.index), index=text.index),
        f"invisible character{'s' if len(chars) > 1 else ''} {named} in the {kind}",
        f"{spec.expected()} without invisible characters (zero-width spaces and joiners, "
        f"byte-order marks, soft hyphens: Unicode format characters); {kind}s are matched "
        f"exactly, so two that look the same would be two different {kind}s",
    )


def _too_long(text: pd.Series, spec: ColumnSpec) -> Found | None:
    """Values longer than the column's ``max_length``."""
    if text.empty or text.str.len().max() <= spec.text_limit:
        return None
    return (
        text.str.len() > spec.text_limit,
        "value too long",
        f"at most {spec.text_limit:,} characters",
    )


def invisible(ch: str) -> bool:
    """Is ``ch`` a character that shows nothing: a Unicode format character (category Cf: zero-width
    space, joiners, byte-order mark, soft hyphen, bidi marks) or one of :data:`OTHER_INVISIBLE`."""
    return unicodedata.category(ch) == "Cf" or any(
        low <= ch <= high for low, high in OTHER_INVISIBLE
    )
