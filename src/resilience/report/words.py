"""Words and numbers for people: safe display text, signed points, percentages, dates, bands.

Escaping is Jinja's job; these only turn values into the words the report prints.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
from markupsafe import Markup

from resilience.core.yardstick import BANDS
from resilience.data.contract import DataContract

DEFAULT_MARKING = "OFFICIAL-SENSITIVE — SYNTHETIC DATA"
FOUR_PS_WORDS = {
    "pursue": "Pursue",
    "prepare": "Prepare",
    "protect": "Protect",
    "prevent": "Prevent",
    "context": "Context (not a policing action)",
    "mixed": "Mixed (may include policing actions)",
}
# Characters that would let a hostile value break out of the page's text flow or confuse a reader:
# C0/C1 controls (not tab/newline) and bidirectional overrides/embeddings. Shown as U+FFFD.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: Any) -> str:
    """A data value as display text: None/NaN -> "", unsafe control characters -> U+FFFD.

    Escaping is Jinja's job; this only removes characters that no escaping makes safe to show.
    """
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if value is pd.NaT:
        return ""
    return _UNSAFE_CHARS.sub("\ufffd", str(value))


def one_line(value: Any) -> str:
    """A person's text (a decision, its reason) as one display line: :func:`clean_text`, then
    line breaks and runs of spaces one space."""
    return " ".join(clean_text(value).split())


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string that is safe inside a ``<style>`` element.

    Every character other than letters, digits, space and a few harmless marks becomes a CSS hex
    escape, so no value can close the string, the rule or the ``<style>`` element.
    """
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:;()")
    body = "".join(ch if ch in safe else f"\\{ord(ch):x} " for ch in clean_text(text))
    return Markup(f'"{body}"')


def number(value: Any) -> float | None:
    """A float, or None for anything missing or not a number."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def signed_points(points: float, decimals: int = 1) -> str:
    """+3.2 / −1.0 / 0.0 with a real minus sign (screen readers read it as "minus")."""
    rounded = round(points, decimals)
    if rounded == 0:
        return f"{0:.{decimals}f}"
    text = f"{abs(rounded):.{decimals}f}"
    return ("+" if rounded > 0 else "\u2212") + text


def points_text(points: float, decimals: int = 0) -> str:
    """ "+3 points", "\u22121 point", "0 points"."""
    text = signed_points(points, decimals)
    unit = "point" if text.lstrip("+\u2212") in ("1", "1.0") else "points"
    return f"{text} {unit}"


def percent(value: Any, decimals: int = 0) -> str:
    result = number(value)
    if result is None:
        return "not recorded"
    return f"{result * 100:.{decimals}f}%"


def band_range(name: str) -> str:
    for band_name, low, high in BANDS:
        if band_name == name:
            if low == 0:
                return f"{high}% or less"
            if high == 100:
                return f"{low}% or more"
            return f"{low}\u2013{high}%"
    return ""


def slice_value_text(contract: DataContract, column: str, value: Any) -> str:
    """A slice value for people: declared categories lose their underscores ("home_grown" ->
    "Home grown"); free values (area names) are shown exactly as the data has them."""
    text = clean_text(value)
    if not text:
        return "not recorded"
    try:
        spec = contract.column(column)
    except KeyError:
        return text
    if spec.allowed and text in spec.allowed:
        text = text.replace("_", " ")
        return text[:1].upper() + text[1:]
    return text


def when(value: Any) -> str:
    """An ISO timestamp as "23 Nov 2026, 06:00 UTC"; anything unparseable is shown as given."""
    text = clean_text(value)
    if not text:
        return ""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return text
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
        return stamp.strftime("%d %b %Y, %H:%M UTC")
    return (
        stamp.strftime("%d %b %Y, %H:%M")
        if (stamp.hour or stamp.minute)
        else stamp.strftime("%d %b %Y")
    )


def day(value: Any) -> str:
    """A date as "16 Nov 2026"; missing -> "not recorded"; unparseable -> as given."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "not recorded"
    try:
        return pd.Timestamp(value).strftime("%d %b %Y")
    except (ValueError, TypeError):
        return clean_text(value)


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def clipped(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a space where one is near the end, with an
    ellipsis: free text (a decision, its reason) keeps its place in the briefing bounded."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    space = cut.rfind(" ")
    if space >= len(cut) * 3 // 4:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "\u2026"
