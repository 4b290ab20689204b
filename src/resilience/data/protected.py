"""Does a column name (or its plain-English label) describe a protected characteristic of a person?

The toolkit models lines, not people. A data config *declares* what every feature describes
(``describes: line | disruption | place``; see :mod:`resilience.data.contract`), and on top of that
the name and label of every feature are checked here against a lexicon of the Equality Act 2010's
protected characteristics (age, disability, gender reassignment, marriage and civil partnership,
pregnancy and maternity, race including colour, nationality and ethnic or national origins,
religion or belief, sex, sexual orientation) and their common proxies (postcode, date or year of
birth, names).

Names are **folded** before matching, so spelling tricks do not pass:

1. Unicode NFKC (fullwidth and compatibility forms), accents removed, case folded;
2. confusable letters mapped to their Latin skeleton (Cyrillic ``е`` -> ``e``, Greek ``ο`` -> ``o``);
3. digits and symbols used for letters read as letters (``1`` -> i, ``3`` -> e, ``0`` -> o,
   ``4`` -> a, ``5`` -> s, ``7`` -> t, ``@`` -> a, ``$`` -> s, ``!`` -> i, ``|`` -> l);
4. split into words at separators and camelCase, each word also singular; and squashed with the
   separators removed (``eth_nicity`` -> ``ethnicity``).

Long, distinctive stems (``ethnic``, ``religio``, ``postcode``...) are looked for anywhere in the
squashed name; short words (``sex``, ``male``, ``yob``...) only as whole words, or glued to a
person word (``ismale``, ``holdersex``). A few words are protected only when they are a person's:
``age`` or ``colour`` on their own, or with a person word, are refused, while ``line_age_weeks``
(the age of a *line*) passes.

This lexicon is policy, kept in code on purpose: a data config cannot switch it off.

>>> protected_reason("ethn1city") is not None, protected_reason("line_age_weeks")
(True, None)
"""

from __future__ import annotations

import re
import unicodedata

# Latin skeletons of letters that look like Latin ones (Unicode TR39 confusables, the subset that
# matters for column names: Cyrillic and Greek lower case after case folding).
CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "з": "3",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "п": "n",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "һ": "h",
        "ӏ": "l",
        "ɡ": "g",
        "ь": "b",
        "ʏ": "y",
        "α": "a",
        "β": "b",
        "γ": "y",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
        "ς": "c",
        "σ": "o",
        "μ": "u",
        "ϲ": "c",
        "ϳ": "j",
        "ı": "i",
        "ȷ": "j",
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ħ": "h",
        "ŀ": "l",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
    }
)
DIGITS_FOR_LETTERS = str.maketrans(
    {
        "1": "i",
        "3": "e",
        "0": "o",
        "4": "a",
        "5": "s",
        "7": "t",
        "$": "s",
        "@": "a",
        "!": "i",
        "|": "l",
    }
)

# Protected characteristic -> words. Stems of six letters or more are matched inside squashed names;
# shorter words only as whole words (see module docstring).
LEXICON: dict[str, frozenset[str]] = {
    "a person's age, a protected characteristic": frozenset(
        {
            "dob",
            "yob",
            "birth",
            "birthday",
            "birthdate",
            "born",
            "dateofbirth",
            "yearofbirth",
            "birthyear",
            "birthmonth",
            "yearborn",
            "elderly",
            "pensioner",
            "agegroup",
            "ageband",
            "agerange",
        }
    ),
    "a person's disability, a protected characteristic": frozenset(
        {
            "disability",
            "disabilities",
            "disabled",
            "impairment",
            "impaired",
            "handicap",
            "wheelchair",
            "blind",
            "deaf",
            "autism",
            "autistic",
            "adhd",
            "dyslexia",
            "mentalhealth",
            "learningdifficult",
            "learningdisab",
            "neurodivers",
        }
    ),
    "gender reassignment, a protected characteristic": frozenset(
        {"transgender", "transsexual", "reassignment", "nonbinary", "intersex", "genderidentity"}
    ),
    "marriage or civil partnership, a protected characteristic": frozenset(
        {
            "marital",
            "married",
            "marriage",
            "spouse",
            "husband",
            "wife",
            "civilpartner",
            "widowed",
            "divorced",
            "unmarried",
        }
    ),
    "pregnancy or maternity, a protected characteristic": frozenset(
        {"pregnant", "pregnancy", "maternity", "paternity", "breastfeed"}
    ),
    "race (colour, nationality, ethnic or national origins), a protected characteristic": frozenset(
        {
            "race",
            "racial",
            "ethnic",
            "ethnicity",
            "ethnicgroup",
            "skin",
            "complexion",
            "nationality",
            "nationalities",
            "citizenship",
            "citizen",
            "immigration",
            "immigrant",
            "migrant",
            "asylum",
            "refugee",
            "foreigner",
            "birthplace",
            "countryofbirth",
            "placeofbirth",
            "nationalorigin",
            "ethnicorigin",
            "caucasian",
            "asian",
            "african",
            "caribbean",
            "arab",
            "roma",
            "gypsy",
            "traveller",
            "caste",
            "tribe",
            "tribal",
            "clan",
            "ic",
            "iccode",
            "sde",
            "ode",
            "language",
            "accent",
            "dialect",
            "passport",
        }
    ),
    "religion or belief, a protected characteristic": frozenset(
        {
            "religion",
            "religious",
            "religio",
            "faith",
            "belief",
            "creed",
            "denomination",
            "worship",
            "muslim",
            "islam",
            "islamic",
            "christian",
            "christianity",
            "catholic",
            "protestant",
            "jewish",
            "judaism",
            "jew",
            "hindu",
            "hinduism",
            "sikh",
            "sikhism",
            "buddhist",
            "buddhism",
            "atheist",
            "agnostic",
            "mosque",
            "church",
            "synagogue",
            "gurdwara",
        }
    ),
    "a person's sex, a protected characteristic": frozenset(
        {
            "sex",
            "gender",
            "female",
            "male",
            "woman",
            "women",
            "man",
            "men",
            "girl",
            "boy",
            "feminine",
            "masculine",
        }
    ),
    "sexual orientation, a protected characteristic": frozenset(
        {
            "sexuality",
            "sexualorientation",
            "orientation",
            "gay",
            "lesbian",
            "bisexual",
            "heterosexual",
            "homosexual",
            "lgbt",
            "lgbtq",
            "queer",
        }
    ),
    "a common proxy for a person's protected characteristics (postcode, name, identity number)": frozenset(
        {
            "postcode",
            "postalcode",
            "zipcode",
            "zip",
            "firstname",
            "lastname",
            "surname",
            "forename",
            "fullname",
            "maidenname",
            "givenname",
            "nhsnumber",
            "ninumber",
            "nationalinsurance",
        }
    ),
}
# Words that are protected only when they are a person's: on their own or with a person word.
_AGE = "a person's age, a protected characteristic"
_COLOUR = "race (colour), a protected characteristic"
QUALIFIED: dict[str, str] = {
    "age": _AGE,
    "aged": _AGE,
    "colour": _COLOUR,
    "color": _COLOUR,
    "origin": "national or ethnic origins (race), a protected characteristic",
    "name": "a person's name, a common proxy for protected characteristics",
}
PERSON_WORDS = frozenset(
    {
        "holder",
        "runner",
        "suspect",
        "offender",
        "person",
        "people",
        "victim",
        "child",
        "children",
        "adult",
        "controller",
        "member",
        "subject",
        "individual",
        "nominal",
        "user",
        "customer",
        "owner",
        "youth",
        "juvenile",
        "minor",
        "worker",
        "dealer",
    }
)
# Words a short protected word may be glued to without a separator (``ismale``, ``holdersex``).
GLUE_WORDS = PERSON_WORDS | {"is", "has", "their", "his", "her", "own"}
THING_WORDS = frozenset(
    {
        "line",
        "brand",
        "number",
        "phone",
        "handset",
        "sim",
        "deal",
        "operation",
        "disruption",
        "address",
        "premises",
        "vehicle",
        "car",
        "case",
        "network",
        "account",
        "pill",
        "tablet",
        "wrap",
        "package",
        "packaging",
        "bag",
        "drug",
        "commodity",
        "hub",
        "supply",
        "market",
        "order",
        "week",
        "month",
        "record",
        "data",
        "intel",
        "intelligence",
        "report",
        "referral",
        "group",
        "ocg",
        "county",
        # places
        "area",
        "beat",
        "ward",
        "district",
        "force",
        "lpa",
        "station",
        "town",
        "city",
        "region",
        "location",
        "place",
        "street",
        "road",
        "estate",
        "site",
    }
)
MIN_STEM = 6  # stems this long are looked for inside squashed names

_BY_WORD = {word: characteristic for characteristic, words in LEXICON.items() for word in words}
_STEMS = sorted((w for w in _BY_WORD if len(w) >= MIN_STEM), key=len, reverse=True)


def fold(text: str) -> str:
    """NFKC, accents removed, case folded, confusables to Latin, digits-for-letters read as letters.

    Separators and camelCase boundaries become single spaces.

    >>> fold("Еth_N1city")
    'eth nicity'
    """
    text = unicodedata.normalize("NFKC", str(text))
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)  # camelCase -> camel Case
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = text.casefold().translate(CONFUSABLES)
    text = re.sub(
        r"(?<=[a-z])[0-9@$!|]+|[0-9@$!|]+(?=[a-z])",
        lambda m: m.group(0).translate(DIGITS_FOR_LETTERS),
        text,
    )
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _singular(word: str) -> set[str]:
    forms = {word}
    if len(word) > 3 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    return forms


def words_of(text: str) -> set[str]:
    """The folded words of a name or label, each also in its singular form."""
    return {form for word in fold(text).split() for form in _singular(word)}


def _glued(squashed: str) -> str | None:
    """A short protected word glued to a person word (``ismale``, ``holdersex``, ``victimage``)."""
    for word in (*_BY_WORD, *QUALIFIED):
        if len(word) < MIN_STEM and squashed != word and word in squashed:
            if squashed.startswith(word):
                rest = squashed[len(word) :]
            elif squashed.endswith(word):
                rest = squashed[: -len(word)]
            else:
                continue
            if _singular(rest) & (GLUE_WORDS | set(_BY_WORD) | set(QUALIFIED)):
                return word
    return None


def protected_hit(text: str) -> tuple[str, str] | None:
    """``(word, characteristic)`` if ``text`` names a protected characteristic of a person, else None."""
    words = words_of(text)
    squashed = "".join(fold(text).split())
    for word in sorted(words):
        if word in _BY_WORD:
            return word, _BY_WORD[word]
    for stem in _STEMS:
        for form in _singular(squashed):
            if stem in form:
                return stem, _BY_WORD[stem]
    for form in _singular(squashed):
        if form in _BY_WORD:
            return form, _BY_WORD[form]
        if form in QUALIFIED:  # "a_ge": a qualified word split with nothing to qualify it
            return form, QUALIFIED[form]
    glued = _glued(squashed)
    if glued:
        return glued, _BY_WORD.get(glued) or QUALIFIED[glued]
    for word in sorted(words & set(QUALIFIED)):
        if words & PERSON_WORDS or not words & THING_WORDS:
            return word, QUALIFIED[word]
    return None


def protected_reason(name: str, label_text: str = "") -> str | None:
    """Why a column (by name or plain-English label) describes a protected characteristic, or None."""
    for text in (name, label_text):
        hit = protected_hit(text) if text else None
        if hit:
            word, characteristic = hit
            shown = f"'{name}'" if text == name else f"its label '{label_text}'"
            return f"{shown} reads as '{word}': {characteristic}"
    return None


PROTECTED_WORDS = frozenset(_BY_WORD) | frozenset(QUALIFIED)
