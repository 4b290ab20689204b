"""Every piece of wording: templates, values in words, points, shares and the yardstick.

Wording says what raises or lowers *the estimate*; it never claims a cause (:data:`CAUSAL_WORDS`
are checked against every template and rendered reason by the tests). Values are written by the
column's dtype and plain-English label: counts with thousands separators ("no ..." for zero,
singular for one), decimals to at most two places, £ amounts for columns whose label contains
"£", booleans as the label or its negation ("line holder not arrested"), categories as
"value (label)" with underscores as spaces, and a missing value as "... not recorded". Points are
whole numbers (halves away from zero).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resilience.data.contract import DataContract

# Words that would claim a cause. Every template and every rendered reason is checked against them.
CAUSAL_WORDS: tuple[str, ...] = (
    "because",
    "due to",
    "cause",
    "caused",
    "causes",
    "causing",
    "leads to",
    "led to",
    "lead to",
    "results in",
    "resulted in",
    "result of",
    "drives",
    "drive",
    "driven",
    "driving",
    "driver",
    "owing to",
    "thanks to",
    "makes",
    "effect",
    "effects",
    "impact",
    "impacts",
    "influence",
    "influences",
    "responsible for",
    "therefore",
    "hence",
    "consequently",
    "so that",
    "triggers",
    "triggered",
    "produces",
    "determines",
    "explains why",
)

# Every fixed piece of wording, in one place so it can be read (and tested) as a whole.
TEMPLATES: dict[str, str] = {
    "reason": "{phrase}: {points}",
    "joint": "{first} and {second}",
    "series": "{first}, {second} and {third}",
    "points_one": "{sign}1 point",
    "points": "{sign}{n} points",
    "count": "{number} {label}",
    "count_zero": "no {label}",
    "money": "£{amount}",
    "money_zero": "no {rest}",
    "flag_true": "{label}",
    "flag_false_participle": "{head} not {participle}",
    "flag_false": "not {label}",
    "category": "{value} ({label})",
    "missing": "{label} not recorded",
    "summary": (
        "Estimated chance the line is still active {horizon} weeks after the disruption: "
        "{yardstick}; {movers}."
    ),
    "summary_similar": (
        "Estimated chance the line is still active {horizon} weeks after the disruption: "
        "{yardstick}; {similar}; {movers}."
    ),
    "similar_lines": "{share} {cohort} lines placed '{band}' in the test period persisted",
    # the phrases are noun phrases, one value or several ("2 premises closure orders", "X and Y"):
    # "what raises ..." agrees with every one of them
    "movers_both": (
        "what raises the estimate most: {up} ({up_points}); what lowers it most: {down} "
        "({down_points})"
    ),
    "movers_up": (
        "what raises the estimate most: {up} ({up_points}); nothing lowers it by a point or more"
    ),
    "movers_down": (
        "what lowers the estimate most: {down} ({down_points}); nothing raises it by a point or "
        "more"
    ),
    "movers_none": "nothing raises or lowers the estimate by a point or more",
    "share_tenths": "about {k} in 10",
    "share_hundredths": "about {k} in 100",
    "share_none": "fewer than 1 in 100",
    "share_all": "all",
}


_IRREGULAR = {"children": "child", "people": "person", "men": "man", "women": "woman"}
_NOT_PLURAL = {
    "premises",
    "series",
    "news",
    "this",
    "its",
    "his",
    "has",
    "was",
    "is",
    "as",
    "us",
    "always",
    "across",
    "less",
    "unless",
    "yes",
    "towards",
    "plus",
    "status",
}
_TIME_UNITS = {"weeks", "days", "months", "years", "hours", "minutes"}


def _plain_label(text: str) -> str:
    """Lower-case a sentence-case label for use mid-sentence ("Policing area" -> "policing area")."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _singular(label: str) -> str:
    """The label for a count of one: the first plural noun made singular."""
    words = label.split(" ")
    for i, word in enumerate(words):
        lower = word.lower()
        if lower in _IRREGULAR:
            words[i] = _IRREGULAR[lower]
            break
        if (
            len(lower) > 3
            and lower.endswith("s")
            and not lower.endswith("ss")
            and lower not in _NOT_PLURAL
            and lower.isalpha()
        ):
            if (
                lower.endswith("sses")
                or lower.endswith("xes")
                or lower.endswith("ches")
                or lower.endswith("shes")
            ):
                words[i] = word[:-2]
            elif lower.endswith("ies"):
                words[i] = word[:-3] + "y"
            else:
                words[i] = word[:-1]
            break
    return " ".join(words)


def _number(value: float) -> str:
    """Numbers as people write them: 1,200 / 6.5 / 0.25."""
    if float(value).is_integer():
        return f"{int(value):,}"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ValueWords:
    """How one column's values are written in a reason, from its dtype and plain-English label."""

    label: str
    kind: str  # "count", "money", "flag", "category"

    @classmethod
    def for_column(cls, contract: DataContract, name: str) -> ValueWords:
        spec = contract.column(name)
        label = _plain_label(contract.describe(name))
        if spec.dtype == "bool":
            kind = "flag"
        elif spec.dtype in ("int", "float"):
            kind = "money" if "£" in label else "count"
        else:
            kind = "category"
        return cls(label=label, kind=kind)

    def missing(self) -> str:
        return TEMPLATES["missing"].format(label=self.label)

    def phrase(self, value) -> str:
        """One value in words, e.g. "1,200 customer contacts", "line holder not arrested"."""
        if (
            value is None
            or (isinstance(value, float) and math.isnan(value))
            or value is pd.NA
            or value is pd.NaT
        ):
            return self.missing()
        if self.kind == "category":
            return TEMPLATES["category"].format(
                value=str(value).replace("_", " "), label=self.label
            )
        if self.kind == "flag":
            if bool(value):
                return TEMPLATES["flag_true"].format(label=self.label)
            words = self.label.split(" ")
            if len(words) > 1 and words[-1].endswith("ed"):
                return TEMPLATES["flag_false_participle"].format(
                    head=" ".join(words[:-1]), participle=words[-1]
                )
            return TEMPLATES["flag_false"].format(label=self.label)
        value = float(value)
        if self.kind == "money":
            if value == 0 and self.label.startswith("£ of "):
                return TEMPLATES["money_zero"].format(rest=self.label[len("£ of ") :])
            return self.label.replace("£", TEMPLATES["money"].format(amount=f"{value:,.0f}"), 1)
        first = self.label.split(" ", 1)[0].lower()
        if value == 0 and first not in _TIME_UNITS:
            return TEMPLATES["count_zero"].format(label=self.label)
        label = _singular(self.label) if value == 1 else self.label
        return TEMPLATES["count"].format(number=_number(value), label=label)

    def phrases(self, values) -> np.ndarray:
        """Vectorised :meth:`phrase`: each distinct value is written once."""
        codes, uniques = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
        texts = [self.phrase(u) for u in uniques] + [self.missing()]
        return np.asarray(texts, dtype=object)[codes]  # code -1 (missing) takes the last entry


def points_words(points: np.ndarray) -> np.ndarray:
    """Signed whole points: "+11 points", "-1 point" (halves round away from zero)."""
    magnitude = np.floor(np.abs(points) + 0.5).astype(np.int64)
    largest = int(magnitude.max()) if magnitude.size else 0
    words = [
        TEMPLATES["points_one"] if k == 1 else TEMPLATES["points"].replace("{n}", str(k))
        for k in range(largest + 1)
    ]
    table = np.asarray(
        [w.format(sign="-") for w in words[::-1]] + [w.format(sign="+") for w in words],
        dtype=object,
    )
    signed = np.where(points < 0, largest - magnitude, largest + 1 + magnitude)
    return table[signed]


def share_in_words(rate: float) -> str:
    """A rate as "about 4 in 10" (or in 100 near 0 and 1)."""
    tenths = math.floor(rate * 10 + 0.5)
    if 1 <= tenths <= 9:
        return TEMPLATES["share_tenths"].format(k=tenths)
    hundredths = math.floor(rate * 100 + 0.5)
    if hundredths <= 0:
        return TEMPLATES["share_none"]
    if hundredths >= 100 and rate >= 1:
        return TEMPLATES["share_all"]
    return TEMPLATES["share_hundredths"].format(k=min(hundredths, 99))


def phrases(
    words: dict,
    values: pd.DataFrame,
    features: list[str],
    feature_pos: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Phrase for each (row, feature) pair; each feature's values are written once per distinct value."""
    out = np.empty(len(rows), dtype=object)
    for j in np.unique(feature_pos):
        mask = feature_pos == j
        name = features[int(j)]
        column = values[name]
        out[mask] = words[name].phrases(column.iloc[rows[mask]].to_numpy())
    return out


def fill(template: str, **parts):
    """``template.format(**parts)`` where parts may be object arrays: one string per row.

    Constant parts are written into the template once; each row then costs one ``str.format``
    call, with no intermediate strings (what keeps the reasons cheap for 200,000 rows).
    """
    rows = {name: value for name, value in parts.items() if isinstance(value, np.ndarray)}
    pattern, order = [], []
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name in rows:
            pattern.append(f"{{{len(order)}}}")
            order.append(name)
        else:
            pattern.append(str(parts[name]).replace("{", "{{").replace("}", "}}"))
    fill = "".join(pattern).format
    if not order:
        return fill()
    out = np.empty(len(rows[order[0]]), dtype=object)
    out[:] = [fill(*values) for values in zip(*(rows[name] for name in order))]
    return out
