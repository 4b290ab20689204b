"""Does a feature describe a person's protected characteristic? A guard on meaning, not spelling.

The toolkit models lines, not people. Every feature of a data config declares what it describes
(``describes: line | disruption | place``, :mod:`resilience.data.contract`); on top of that its
**name**, **label**, **concept label** and **category values** are read here for the nine protected
characteristics of the Equality Act 2010 (age, disability, gender reassignment, marriage and civil
partnership, pregnancy and maternity, race -- colour, nationality, ethnic or national origins --,
religion or belief, sex, sexual orientation) and for proxies chosen for them (postcodes, names,
dates of birth, identity numbers).

Method
------
1. **Fold** (:func:`words`): Unicode NFKC (fullwidth, mathematical and circled letters); invisible
   format characters removed; camelCase split; small capitals and other Latin letter variants read
   by their Unicode name (``ᴇ`` LATIN LETTER SMALL CAPITAL E -> e); Cyrillic, Greek and Armenian
   look-alikes mapped to the Latin letter they imitate; accents removed; case folded; symbols and
   digits used for letters read as letters (``m@le``, ``ethn1city``). Each word is read twice,
   with and without the digit reading, so codes (``ic3``, ``a1``) keep their digits.
2. **Split** at separators and camelCase; a run-together word (``skintone``, ``holdersex``) is
   also split into known words (fewest pieces; pieces under three letters only from a short
   list), and so is the whole name squashed (``na_me`` -> ``name``).
3. **Read** against the word lists of ``protected_words.yaml`` (nine languages, abbreviations,
   group names): words refused *always* (``ethnicity``, ``sexe``, ``pcode``); words refused
   unless a *thing* owns them (``age``, ``colour``, ``origin``, ``name``, ``disabled``); stems read
   *inside* run-together names (``staatsangeh``); police codes (IC1-IC6, the 18+1 self-defined
   ethnicity codes); and, for category values, sets shaped like sex codes (M/F) or age bands.
4. **Whose is it?** For an owned word the nearest words on either side (skipping articles,
   prepositions and units, in any of the languages) decide: a person word (``holder``,
   ``titulaire``, ``podejrzanego``) or a body or identity word (``hair``, ``affiliation``) makes it
   a person's, a thing or place word (``line``, ``ligne``, ``vehicle``, ``street``) a thing's.
   Nothing nearby: the rest of the column's name and label decide; still nothing: refused, since
   a bare ``age`` is a person's as often as not. The declared ``describes: line`` never vouches
   for a word by itself -- every feature must declare one, so it would vouch for everything.

The lists are policy, kept with the code: a data config cannot switch them off. What the guard
cannot see is stated in ``docs/protected_guard.md`` (a proxy with an innocent name, a lying label).
Measured on the committed lists (``tests/fixtures``): every held-out family refused, 0 false
refusals on the legitimate list (``tests/test_protected_guard.py`` prints both rates).

>>> str(read("ᴇᴛʜɴɪᴄɪᴛʏ"))
"reads as 'ethnicity' (race, a protected characteristic under the Equality Act 2010)"
>>> read("line_age_weeks") is None
True
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

ACT = "a protected characteristic under the Equality Act 2010"
# Look-alikes NFKC leaves alone: Cyrillic, Greek and Armenian letters (after case folding) and a
# few Latin ones, mapped to the Latin letter they imitate (Unicode TR39 confusables, the subset
# that can spell a column name).
LOOK_ALIKES = str.maketrans(
    {
        **dict(zip("авеёзкмнопрстухѕіїјԁԛԝһӏьʏ", "abeeekmhonpctyxsiijdqwhlby", strict=True)),
        **dict(zip("αβγεηικνορτυχωςσμϲϳ", "abyenikvoptuxwcouci", strict=True)),
        **dict(zip("օսցհոաւ", "oughnwl", strict=True)),
        **dict(zip("ɡıȷłøđħŀ", "gijlodhl", strict=True)),
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
    }
)
LETTER_SYMBOLS = str.maketrans({"@": "a", "$": "s", "!": "i", "|": "l"})
DIGIT_LETTERS = str.maketrans({"1": "i", "3": "e", "0": "o", "4": "a", "5": "s", "7": "t"})
_LATIN_NAME = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: WITH .*)?$"
)
_SDE_CODE = re.compile(r"^[wmabo][1-49]$")  # 18+1 self-defined ethnicity codes (W1 ... O9)
_RANGE = re.compile(
    r"^(?:(\d{1,3}) ?[-–] ?(\d{1,3})|(\d{1,3}) ?\+|under (\d{1,3})|over (\d{1,3}))$"
)
AGE_CUTS = {16, 18, 21, 25, 35, 45, 55, 65}  # lower bounds of the usual age bands
WINDOW = 3  # words looked at on each side of an owned word


@dataclass(frozen=True)
class Reading:
    """What a text was read as: the spelling matched, its meaning and, for owned words, whose."""

    matched: str
    gloss: str
    characteristic: str
    whose: str = ""  # "of 'holder', a person" / "" for words refused wherever they are read

    def __str__(self) -> str:
        text = f"reads as '{self.matched}'"
        text += f", i.e. {self.gloss}" if self.gloss != self.matched else ""
        text += f" {self.whose}" if self.whose else ""
        if self.characteristic.startswith("a proxy"):
            return f"{text} ({self.characteristic} under the Equality Act 2010)"
        return f"{text} ({self.characteristic}, {ACT})"


@dataclass(frozen=True)
class Lexicon:
    """``protected_words.yaml``, folded: spelling (as a tuple of words) -> (gloss, characteristic)."""

    always: dict[tuple[str, ...], tuple[str, str]]
    owned: dict[tuple[str, ...], tuple[str, str]]
    inside: tuple[tuple[str, str, str], ...]
    accented: dict[str, tuple[str, str]]
    person: frozenset[str]
    thing: frozenset[str]
    neutral: frozenset[str]
    vocabulary: frozenset[str]
    short_pieces: frozenset[str]
    characteristics: dict[str, str]

    def single(self, word: str) -> tuple[str, tuple[str, str]] | None:
        """``(kind, (gloss, characteristic))`` of a one-word spelling."""
        for kind, table in (("always", self.always), ("owned", self.owned)):
            if (word,) in table:
                return kind, table[(word,)]
        return None


def _letter(ch: str) -> str:
    """A Latin letter variant NFKC keeps (small capitals...) read as its letter, by Unicode name."""
    if ch.isascii() or not ch.isalpha():
        return ch
    match = _LATIN_NAME.match(unicodedata.name(ch, ""))
    return match.group(1).lower() if match else ch


def _split_camel(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        prev, nxt = text[i - 1] if i else "", text[i + 1] if i + 1 < len(text) else ""
        if out and ch.isupper() and (prev.islower() or (prev.isupper() and nxt.islower())):
            out.append(" ")
        out.append(ch)
    return "".join(out)


def _normal(text: str, keep_accents: bool = False) -> str:
    text = unicodedata.normalize("NFKC", str(text))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _split_camel(text).casefold().translate(LOOK_ALIKES)
    if not keep_accents:
        text = unicodedata.normalize("NFKD", "".join(_letter(ch) for ch in text))
        text = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(LOOK_ALIKES)
    return re.sub(
        r"(?<=[^\W\d_])[@$!|]+|[@$!|]+(?=[^\W\d_])", lambda m: m[0].translate(LETTER_SYMBOLS), text
    )


def words(text: str) -> list[tuple[str, str]]:
    """The words of a name or label as ``(as written, digits read as letters)`` pairs."""
    out = []
    for word in re.findall(r"[a-z0-9]+", _normal(text)):
        read = re.sub(r"(?<=[a-z])\d+|\d+(?=[a-z])", lambda m: m[0].translate(DIGIT_LETTERS), word)
        out.append((word, read))
    return out


def fold(text: str) -> str:
    """A name folded for reading: words with digits read as letters, joined by spaces.

    >>> fold("Еth_N1city")
    'eth nicity'
    """
    return " ".join(read for _, read in words(text))


def _forms(word: str) -> set[str]:
    forms = {word}
    if len(word) > 3 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    return forms


@cache
def lexicon() -> Lexicon:
    """The word lists, loaded once from the package's ``protected_words.yaml``."""
    raw = yaml.safe_load(
        resources.files("resilience.data").joinpath("protected_words.yaml").read_text("utf-8")
    )
    names = raw["characteristics"]
    keep = {_normal(w, keep_accents=True) for w in raw["keep_accents"]}
    accented: dict[str, tuple[str, str]] = {}

    def table(section: dict) -> dict[tuple[str, ...], tuple[str, str]]:
        out = {}
        for key, readings in section.items():
            for gloss, spellings in readings.items():
                for spelling in spellings:
                    if _normal(spelling, keep_accents=True) in keep:
                        accented[_normal(spelling, keep_accents=True)] = (gloss, names[key])
                    else:
                        out[tuple(fold(spelling).split())] = (gloss, names[key])
        return out

    always, owned = table(raw["always"]), table(raw["owned"])
    inside = tuple(
        ("".join(fold(stem).split()), gloss, names[key])
        for key, readings in raw["inside"].items()
        for gloss, stems in readings.items()
        for stem in stems
    )
    plain = lambda key: frozenset(fold(w).replace(" ", "") for w in raw[key])
    person, thing, neutral = plain("person"), plain("thing"), plain("neutral")
    vocabulary = {w for spelling in (*always, *owned) for w in spelling}
    vocabulary |= person | thing | neutral | plain("attribute") | plain("short_pieces")
    return Lexicon(
        always=always,
        owned=owned,
        inside=tuple(sorted(inside, key=lambda s: -len(s[0]))),
        accented=accented,
        person=person,
        thing=thing,
        neutral=neutral,
        vocabulary=frozenset(vocabulary),
        short_pieces=plain("short_pieces"),
        characteristics=names,
    )


@cache
def _pieces(word: str) -> tuple[str, ...] | None:
    """A run-together word split into the fewest known words, or None (``skintone`` -> skin tone)."""
    lex = lexicon()
    best: list[tuple[str, ...] | None] = [()] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(end):
            piece, before = word[start:end], best[start]
            if before is None or (len(piece) < 3 and piece not in lex.short_pieces):
                continue
            if piece in lex.vocabulary and (best[end] is None or len(before) + 1 < len(best[end])):
                best[end] = (*before, piece)
    found = best[-1]
    return found if found and len(found) > 1 else None


@dataclass(frozen=True)
class _Word:
    forms: frozenset[str]
    compound: bool  # a piece of a run-together word: word boundaries were guessed


def _expand(pairs: Sequence[tuple[str, str]]) -> list[_Word]:
    lex, out = lexicon(), []
    for raw, read in pairs:
        forms = _forms(raw) | _forms(read)
        known = any(lex.single(f) or f in lex.vocabulary for f in forms)
        pieces = None if known or not read.isalpha() or len(read) < 5 else _pieces(read)
        if pieces:
            out += [_Word(frozenset(_forms(p)), True) for p in pieces]
        else:
            out.append(_Word(frozenset(forms), False))
    return out


def _kind_of(word: _Word) -> str | None:
    """'person', 'thing' or None (neutral or unknown)."""
    lex = lexicon()
    for form in word.forms:
        if form in lex.person or any(
            len(p) >= 5 and form.startswith(p) and len(form) - len(p) <= 4 for p in lex.person
        ):
            return "person"
    return "thing" if word.forms & lex.thing else None


def _owner(seq: list[_Word], start: int, end: int) -> tuple[str, str] | None:
    """The nearest person or thing word on either side of ``seq[start:end]``: (kind, word)."""
    lex, found = lexicon(), []
    for side in (range(start - 1, -1, -1), range(end, len(seq))):
        looked = 0
        for i in side:
            if seq[i].forms & lex.neutral:
                continue
            kind = _kind_of(seq[i])
            if kind:
                found.append((kind, min(seq[i].forms, key=len)))
                break
            looked += 1
            if looked >= WINDOW:
                break
    people = [f for f in found if f[0] == "person"]
    return (people or found or [None])[0]


def _evidence(texts: Iterable[str]) -> tuple[str, str] | None:
    """Whose the context says a column is: any person word, else any thing word, else None."""
    seq = [w for text in texts if text for w in _expand(words(text))]
    kinds = [(k, min(w.forms, key=len)) for w in seq if (k := _kind_of(w))]
    people = [k for k in kinds if k[0] == "person"]
    return (people or kinds or [None])[0]


def _match(seq: list[_Word], context: Sequence[str]) -> Reading | None:
    """The first always-word, or owned word a thing does not own, in a sequence of words."""
    lex, owned_hits = lexicon(), []
    for size in (4, 3, 2, 1):
        for i in range(len(seq) - size + 1):
            window = seq[i : i + size]
            for spelling in _spellings(window):
                if spelling in lex.always:
                    return Reading(" ".join(spelling), *lex.always[spelling])
                if spelling in lex.owned:
                    owned_hits.append((i, i + size, spelling, any(w.compound for w in window)))
    for start, end, spelling, compound in owned_hits:
        gloss, characteristic = lex.owned[spelling]
        owner = _owner(seq, start, end) or _evidence(context)
        matched = " ".join(spelling)
        if owner and owner[0] == "person":
            return Reading(matched, gloss, characteristic, f"of '{owner[1]}', a person")
        if owner is None and not compound:
            return Reading(matched, gloss, characteristic, _UNOWNED)
    return None


_UNOWNED = "and neither name nor label says whose (a thing's? say so: line_age_weeks)"


def _spellings(window: list[_Word]) -> set[tuple[str, ...]]:
    spellings: set[tuple[str, ...]] = {()}
    for word in window:
        spellings = {(*s, f) for s in spellings for f in word.forms}
    return spellings


def _codes(pairs: Sequence[tuple[str, str]]) -> Reading | None:
    """Police codes: IC1-IC6 (officer-defined ethnicity) and the W codes of the 18+1 census list."""
    raws = [raw for raw, _ in pairs]
    for i, raw in enumerate(raws):
        if re.fullmatch(r"ic\d", raw) or (
            raw == "ic" and i + 1 < len(raws) and raws[i + 1].isdigit()
        ):
            return Reading(raw, "an IC code (officer-defined ethnicity)", _race())
        if re.fullmatch(r"w[1-49]", raw):
            return Reading(raw, "a self-defined ethnicity code (White)", _race())
    return None


def _race() -> str:
    return lexicon().characteristics["race"]


def read(text: str, context: Sequence[str] = ()) -> Reading | None:
    """How ``text`` (a name, label or value) reads, if it names a protected characteristic.

    ``context``: the column's other texts (name, label), which say whose an owned word is when
    the text itself does not (``age_weeks`` labelled "the line's age in weeks").
    """
    lex = lexicon()
    accented = set(re.findall(r"[^\W\d_]+", _normal(text, keep_accents=True)))
    for word in sorted(accented & set(lex.accented)):
        gloss, characteristic = lex.accented[word]
        owner = _evidence([text, *context])
        if not owner or owner[0] == "person":
            return Reading(
                word, gloss, characteristic, _UNOWNED if not owner else f"of '{owner[1]}', a person"
            )
    pairs = words(text)
    if not pairs:
        return None
    found = _match(_expand(pairs), context) or _codes(pairs)
    if found:
        return found
    for squashed in {"".join(raw for raw, _ in pairs), "".join(read for _, read in pairs)}:
        for stem, gloss, characteristic in lex.inside:
            if stem in squashed:
                return Reading(stem, gloss, characteristic)
        if len(pairs) > 1:
            whole = _Word(frozenset(_forms(squashed)), False)
            pieces = _pieces(squashed) if squashed.isalpha() else None
            seq = [_Word(frozenset(_forms(p)), True) for p in pieces] if pieces else [whole]
            found = _match(seq, [text, *context])
            if found:
                return found
    return None


def read_values(
    values: Sequence[str], context: Sequence[str] = ()
) -> tuple[str, Reading, bool] | None:
    """``(value, reading, read together)``: the first category value that names a protected
    characteristic, or the values read together as a set of codes (M/F, 18+1, age bands)."""
    for value in values:
        found = read(value, context)
        if found:
            return value, found, False
    raws = ["".join(raw for raw, _ in words(v)) for v in values]
    shown = ", ".join(map(str, values[:6])) + (", ..." if len(values) > 6 else "")
    codes = [r for r in raws if _SDE_CODE.match(r)]
    letters = {c[0] for c in codes}
    if (
        len(codes) >= 2
        and len(codes) >= 0.75 * len(raws)
        and len(letters) >= 2
        and (letters & {"w", "m", "o"} or any(c.endswith("9") for c in codes))
    ):
        return shown, Reading("18+1 codes", "self-defined ethnicity codes", _race()), True
    if {"m", "f"} <= set(raws):
        return shown, Reading("m/f", "sex codes", lexicon().characteristics["sex"]), True
    ranges = [m for v in values if (m := _RANGE.match(str(v).strip().lower()))]
    numbers = [int(n) for m in ranges for n in m.groups() if n]
    lows = {int(m[1] or m[3] or m[5] or 0) for m in ranges}
    if len(ranges) >= 3 and max(numbers) <= 100 and len(lows & AGE_CUTS) >= 2:
        return shown, Reading("age bands", "age bands", lexicon().characteristics["age"]), True
    return None


def feature_refusal(
    name: str,
    label_text: str = "",
    concept_label: str = "",
    allowed: Sequence[str] | None = None,
    describes: str | None = None,
) -> str | None:
    """Why a feature may not be used (its name, label, concept label or a value reads as a
    protected characteristic), naming the key and the reading; None if it may."""
    declared = f", although the column declares describes: {describes}" if describes else ""
    checks = [
        (f"'{name}'", name, [label_text]),
        (f"its label '{label_text}'", label_text, [name]),
        (f"its concept label '{concept_label}'", concept_label, [name, label_text]),
    ]
    for key, text, context in checks:
        found = read(text, context) if text else None
        if found:
            return f"{key} {found}{declared if 'a person' in found.whose else ''}"
    if allowed:
        found_value = read_values(list(allowed), [name, label_text])
        if found_value:
            value, reading, together = found_value
            if together:
                return f"its category values '{value}', read together, {reading}"
            return f"its category value '{value}' {reading}"
    return None


def protected_reason(name: str, label_text: str = "") -> str | None:
    """Why a column (by name or plain-English label) describes a protected characteristic, or None."""
    return feature_refusal(name, label_text)


def __getattr__(name: str) -> frozenset[str]:
    """``PROTECTED_WORDS``: every folded spelling refused (read lazily: nothing loads at import)."""
    if name == "PROTECTED_WORDS":
        return frozenset(" ".join(s) for s in (*lexicon().always, *lexicon().owned))
    raise AttributeError(name)
