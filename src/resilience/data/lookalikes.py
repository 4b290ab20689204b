"""Ids that look like other ids: a Cyrillic ``С`` or a Greek ``Ο`` in place of a Latin letter.

``'SYN-L0С01'`` (with U+0421 CYRILLIC CAPITAL LETTER ES) and ``'SYN-L0C01'`` print the same but
are two strings, so the extract would hold two lines that a reader takes for one, and a duplicate
disruption would hide from the uniqueness check. Two rules refuse such ids, per id column (the
columns whose role in the data config is an id), each naming the file, the column, the rows, the
ids and the lookalike characters by their Unicode names:

* **Twins.** Two distinct ids of one column with the same *skeleton* (Unicode Technical Standard
  #39, section 4: each character mapped to the prototype it is confusable with, then compared) at
  least one of which is not plain ASCII. Two ASCII ids (``'SYN-L0001'`` and ``'SYN-LO001'``) are
  never twins: ASCII ids are the force's own spelling, and 0 beside O is a typo no data can tell.
* **Mixed scripts.** One id holding letters of two of Latin, Cyrillic and Greek, twin or not: the
  three scripts whose letters look alike, which UTS #39's "moderately restrictive" level (section
  5.2) never lets share an identifier. An id is a code, not a name: ``'SYN-L0С01'`` has no reason
  to be. All-Cyrillic or all-Greek ids (``'СИН-Л0001'``) are accepted, unless one is another id's
  twin; so are digits and punctuation beside any one script.

Two values of a category or string column (a policing area) are refused as twins too, by the
same skeleton: ``'Еastvale'`` beside ``'Eastvale'`` would be two places in every count by area. A
name, unlike an id, may mix scripts.

The skeleton here is ``table(NFKD(table(NFD(id))))``: the canonical decomposition makes ``'é'``
and ``'e'`` + U+0301 one spelling; :data:`LOOKALIKES` maps each Cyrillic, Greek or Latin letter
that UTS #39's ``confusables.txt`` (Unicode 15.1) confuses with an ASCII letter or digit to that
prototype, together with the ASCII pairs it confuses (``0``/``O``, ``1``/``I``/``l``); the
compatibility decomposition then folds fullwidth and mathematical letters (``Ｓ``, ``𝐒``) onto
ASCII. The table is applied before NFKD too, because NFKD sends a few table entries elsewhere
(U+03F9 GREEK CAPITAL LUNATE SIGMA SYMBOL, which looks like ``C``, to a capital sigma).
The table is the subset this check needs, 82 letters, not the whole file (over 6,000 entries
of every script): a dependency for it (``confusable-homoglyphs``, last released in January 2024)
would also have to be pinned in the requirements every registered model carries, and a lookalike
the table misses in a mixed id is still refused by the second rule. Multi-character prototypes (``m`` as
``rn``) are left out: they only matter between ASCII ids.

Cost: only non-ASCII ids are looked at (one ``isascii`` over the joined distinct values first);
with one in a 100,000-row extract of distinct ids the check takes about 0.15 s (2-core machine),
mostly mapping the ASCII ids of the same length; with 10,000 twins, 0.3 s.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

import numpy as np
import pandas as pd

from resilience.core.errors import Problem, first_few
from resilience.data.problems import character_name, row_problem

# prototype -> the letters UTS #39's confusables.txt maps to it (Cyrillic, Greek, a few Latin)
LOOKALIKES = {
    "2": "\ua644",  # Ꙅ: cyrillic capital reversed dze
    "3": "\u0417\u04e0",  # З Ӡ: cyrillic capital ze, cyrillic capital abkhasian dze
    "6": "\u0431",  # б: cyrillic small be
    "A": "\u0391\u0410",  # Α А: greek capital alpha, cyrillic capital a
    "a": "\u0251\u03b1\u0430",  # ɑ α а: latin small alpha, greek small alpha, cyrillic small a
    "B": "\u0392\u0412",  # Β В: greek capital beta, cyrillic capital ve
    "b": "\u042c",  # Ь: cyrillic capital soft sign
    "C": "\u03f9\u0421",  # Ϲ С: greek capital lunate sigma symbol, cyrillic capital es
    "c": "\u03f2\u0441",  # ϲ с: greek lunate sigma symbol, cyrillic small es
    "d": "\u0501",  # ԁ: cyrillic small komi de
    "E": "\u0395\u0415",  # Ε Е: greek capital epsilon, cyrillic capital ie
    "e": "\u0435\u04bd",  # е ҽ: cyrillic small ie, cyrillic small abkhasian che
    "F": "\u03dc",  # Ϝ: greek digamma
    "G": "\u050c",  # Ԍ: cyrillic capital komi sje
    "g": "\u0261",  # ɡ: latin small script g
    "H": "\u0397\u041d",  # Η Н: greek capital eta, cyrillic capital en
    "h": "\u04bb",  # һ: cyrillic small shha
    # ı ɩ ι і ꙇ ӏ: latin dotless i, latin iota, greek iota, cyrillic byelorussian-ukrainian i,
    # cyrillic iota, cyrillic palochka
    "i": "\u0131\u0269\u03b9\u0456\ua647\u04cf",
    "J": "\u037f\u0408",  # Ϳ Ј: greek capital yot, cyrillic capital je
    "j": "\u03f3\u0458",  # ϳ ј: greek yot, cyrillic small je
    "K": "\u039a\u041a",  # Κ К: greek capital kappa, cyrillic capital ka
    # 1 I ǀ Ι І Ӏ: digit one, latin capital i, latin dental click, greek capital iota, cyrillic
    # capital byelorussian-ukrainian i, cyrillic palochka
    "l": "1I\u01c0\u0399\u0406\u04c0",
    "M": "\u039c\u03fa\u041c",  # Μ Ϻ М: greek capital mu, greek capital san, cyrillic capital em
    "N": "\u039d",  # Ν: greek capital nu
    "O": "0\u039f\u041e",  # 0 Ο О: digit zero, greek capital omicron, cyrillic capital o
    "o": "\u03bf\u03c3\u043e",  # ο σ о: greek small omicron, greek small sigma, cyrillic small o
    "P": "\u03a1\u0420",  # Ρ Р: greek capital rho, cyrillic capital er
    "p": "\u03c1\u03f1\u0440",  # ρ ϱ р: greek small rho, greek rho symbol, cyrillic small er
    "q": "\u051b",  # ԛ: cyrillic small qa
    "r": "\u1d26\u0433",  # ᴦ г: greek small capital gamma, cyrillic small ghe
    "S": "\u0405",  # Ѕ: cyrillic capital dze
    "s": "\u0455",  # ѕ: cyrillic small dze
    "T": "\u03a4\u0422",  # Τ Т: greek capital tau, cyrillic capital te
    "u": "\u03c5",  # υ: greek small upsilon
    "V": "\u0474",  # Ѵ: cyrillic capital izhitsa
    "v": "\u03bd\u0475",  # ν ѵ: greek small nu, cyrillic small izhitsa
    "W": "\u051c",  # Ԝ: cyrillic capital we
    "w": "\u0461\u051d",  # ѡ ԝ: cyrillic small omega, cyrillic small we
    "X": "\u03a7\u0425",  # Χ Х: greek capital chi, cyrillic capital ha
    "x": "\u0445",  # х: cyrillic small ha
    # Υ ϒ У Ү: greek capital upsilon, greek upsilon with hook symbol, cyrillic capital u,
    # cyrillic capital straight u
    "Y": "\u03a5\u03d2\u0423\u04ae",
    "y": "\u03b3\u0443\u04af",  # γ у ү: greek small gamma, cyrillic small u, cyrillic small straight u
    "Z": "\u0396",  # Ζ: greek capital zeta
}
_TO_PROTOTYPE = str.maketrans({ch: proto for proto, chars in LOOKALIKES.items() for ch in chars})
SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")  # the scripts whose letters look alike
TWINS = "two ids that look the same"  # how a pair's problem starts
TWIN_VALUES = "two values that look the same"  # ... in a category or string column
MIXED = "letters of "  # how the problem of ids mixing scripts starts
MORE_TWINS = "more pairs of ids that look the same"
PAIRS_NAMED = 5  # pairs of twins in a column each given their own problem; the rest in one


def skeleton(text: str) -> str:
    """What ``text`` looks like: its characters mapped to the prototypes they are confusable with
    (two ids with one skeleton look the same).

    >>> skeleton("SYN-L0\u042101") == skeleton("SYN-LOC0l")
    True
    """
    if text.isascii():
        return text.translate(_TO_PROTOTYPE)
    mapped = unicodedata.normalize("NFD", text).translate(_TO_PROTOTYPE)
    return unicodedata.normalize("NFKD", mapped).translate(_TO_PROTOTYPE)


def letter_scripts(text: str) -> dict[str, list[str]]:
    """The letters of ``text`` by script, for Latin, Cyrillic and Greek (as written; a fullwidth or
    mathematical letter counts as the letter it is a form of)."""
    found: dict[str, list[str]] = defaultdict(list)
    for ch in text:
        for part in unicodedata.normalize("NFKD", ch):
            script = unicodedata.name(part, "").split(" ")[0]
            if unicodedata.category(part).startswith("L") and script in SCRIPTS:
                found[script].append(ch)
                break
    return dict(found)


def lookalike_problems(
    text: pd.Series, column: str, source: str, raw: pd.Series, ids: bool = True
) -> list[Problem]:
    """The twins (one problem per pair, the first :data:`PAIRS_NAMED`, then one for the rest)
    among the non-empty values ``text`` of ``column``, and, when they are ``ids``, the ids mixing
    scripts (one problem). A category or string (``ids`` False) may mix scripts: it is a name."""
    values = pd.unique(text.to_numpy())
    if "".join(values).isascii():  # the usual case: nothing to look at
        return []
    pairs = twin_pairs(values)
    problems = [_twin_problem(text, a, b, column, source, raw, ids) for a, b in pairs[:PAIRS_NAMED]]
    if len(pairs) > PAIRS_NAMED:
        problems.append(_more_twins(text, pairs[PAIRS_NAMED:], column, source, raw, ids))
    twins = {value for pair in pairs for value in pair}
    mixed = [v for v in values if ids and not v.isascii() and v not in twins and _mixes(v)]
    if mixed:
        problems.append(_mixed_problem(text, mixed, column, source, raw))
    return problems


def is_lookalike(problem: Problem) -> bool:
    """Is ``problem`` one of :func:`lookalike_problems`' (twins, more twins, ids mixing scripts)?"""
    return problem.rule.startswith((TWINS, TWIN_VALUES, MIXED)) or any(
        more in problem.rule for more in (MORE_TWINS, MORE_TWINS.replace("ids", "values"))
    )


def twin_pairs(values: np.ndarray) -> list[tuple[str, str]]:
    """Distinct ``values`` with one skeleton, as (reference, lookalike) pairs in order of first
    appearance: each member that is not ASCII paired with the group's ASCII member most like it
    (or, with none, the group's first member)."""
    odd = {value: skeleton(value) for value in values if not value.isascii()}
    wanted, lengths = set(odd.values()), {len(s) for s in odd.values()}
    groups: dict[str, list[str]] = defaultdict(list)
    for value in values:
        # an ASCII id keeps its length under the table: only those of a wanted length can match
        shape = odd.get(value) or (
            value.translate(_TO_PROTOTYPE) if len(value) in lengths else None
        )
        if shape in wanted:
            groups[shape].append(value)
    pairs = []
    for members in groups.values():
        # two ASCII members (0 beside O) are the force's own spelling, never a pair
        plain = [m for m in members if m.isascii()] or members[:1]
        for member in members:
            if member not in plain:
                reference = max(plain, key=lambda r, m=member: _likeness(r, m))
                pairs.append((reference, member))
    return pairs


def _likeness(reference: str, twin: str) -> int:
    """How alike two ids of one skeleton are, character by character: the same character, or a
    character of the same kind (letter, digit), so 'BOX-1Ο' is paired with 'BOX-1O', not 'BOX-10'."""
    return sum(
        (a == b) + (unicodedata.category(a)[0] == unicodedata.category(b)[0])
        for a, b in zip(reference, twin)
    )


def _mixes(value: str) -> bool:
    return len(letter_scripts(value)) > 1


def _named(chars: set[str]) -> str:
    """The characters as a message names them, each with what it looks like."""

    def name(ch: str) -> str:
        looks = skeleton(ch)
        like = f" (looks like {looks!r})" if looks != ch and looks.isascii() else ""
        return character_name(ch) + like

    return first_few((name(ch) for ch in sorted(chars)), 3)


def _rows(text: pd.Series, first: list[str], then: list[str] = ()) -> pd.Index:
    """The rows holding any of ``first``, then those holding any of ``then``, each in file order
    (a message shows the first few: the lookalike's rows before its reference's)."""
    rows = [text.index[text.isin(values).to_numpy()] for values in (first, then)]
    return pd.Index(np.concatenate(rows))


def _expected_twins(ids: bool) -> str:
    noun, counted = (
        ("id", "one line would count as two and a duplicate would hide")
        if ids
        else (
            "value",
            "one place or category would count as two",
        )
    )
    article = "an" if ids else "a"
    return (
        f"each {noun} spelt one way: {article} {noun} with a Cyrillic or Greek letter (or another "
        f"lookalike) in place of a Latin letter or digit is a different {noun} that looks the "
        f"same, so {counted}"
    )


def _twin_problem(
    text: pd.Series,
    reference: str,
    twin: str,
    column: str,
    source: str,
    raw: pd.Series,
    ids: bool,
) -> Problem:
    differ = {ch for ch in set(reference) ^ set(twin) if not ch.isascii()}
    differ = differ or {ch for ch in reference + twin if not ch.isascii()}
    lead = TWINS if ids else TWIN_VALUES
    rule = f"{lead}, {reference!r} and {twin!r}: {_named(differ)}"
    rows = _rows(text, [twin], [reference])
    return row_problem(source, column, rule, _expected_twins(ids), rows, raw)


def _more_twins(
    text: pd.Series,
    pairs: list[tuple[str, str]],
    column: str,
    source: str,
    raw: pd.Series,
    ids: bool,
) -> Problem:
    twins = [twin for _, twin in pairs]
    more = MORE_TWINS if ids else MORE_TWINS.replace("ids", "values")
    rule = f"{len(pairs):,} {more}: " + first_few((f"{a!r} and {b!r}" for a, b in pairs), 3)
    return row_problem(source, column, rule, _expected_twins(ids), _rows(text, twins), raw)


def _mixed_problem(
    text: pd.Series, mixed: list[str], column: str, source: str, raw: pd.Series
) -> Problem:
    """One problem for the ids mixing scripts, naming the letters outside each id's main script
    (the script most of its letters are in, Latin on a tie)."""
    scripts: set[str] = set()
    odd: set[str] = set()
    for value in mixed:
        found = letter_scripts(value)
        main = max(SCRIPTS, key=lambda s: len(found.get(s, ())))
        scripts |= set(found)
        odd |= {ch for script, chars in found.items() if script != main for ch in chars}
    named = " and ".join(s.title() for s in SCRIPTS if s in scripts)
    return row_problem(
        source,
        column,
        f"{MIXED}{named} in one id: {_named(odd)}",
        "an id written in one script (Latin, Cyrillic or Greek letters, never two in one id: a "
        "Cyrillic or Greek letter in a Latin id looks like a Latin one, so the id would look "
        "like another)",
        _rows(text, mixed),
        raw,
    )
