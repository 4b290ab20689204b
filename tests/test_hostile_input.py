"""Hostile input end to end (issue 15): text that could break a CSV row or start a spreadsheet
formula, weeks that do not match the data, and week names that leave the output folder.

Scoring here uses a small fixture model (five trees fitted in-process on a 300-row extract), so the
property test runs the real validate -> score -> scores.csv path in well under a second an example.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import unicodedata
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_command
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from test_validate import TODAY, valid_extract

from resilience.core.errors import ContractError, ResilienceError
from resilience.core.week_files import lock_file
from resilience.data.contract import load_data_contract
from resilience.data.csv_safety import csv_safe
from resilience.data.lookalikes import letter_scripts, skeleton
from resilience.data.text_checks import invisible
from resilience.data.validate import check_week_holds, validate_frame
from resilience.learn.models import PersistenceModel
from resilience.weekly.score import ModelRef, score_week

FORMULA_START = set("=+-@\u2212")
LINE_BREAKS = re.compile("\r\n|\r|\n|\u2028|\u2029|\x0b|\x0c|\x1c|\x1d|\x1e|\x85")


def starts_a_formula(cell: str) -> bool:
    """Would a spreadsheet read this cell as a formula? (first visible character, NFKC-folded)."""
    for ch in unicodedata.normalize("NFKC", cell):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            continue
        return ch in FORMULA_START
    return False


def refused_at_the_door(value: str, is_id: bool = False) -> bool:
    """What the contract refuses in an id: blank, control characters, bidi overrides, > 256 chars,
    spaces around it (a category's are stripped: ``is_id`` False), an invisible character anywhere
    (a format character, category Cf, or another default-ignorable one)."""
    return (
        not value.strip()
        or (is_id and value != value.strip())
        or len(value) > 256
        or re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", value)
        is not None
        or any(invisible(ch) for ch in value)
    )


def looks_like_another(ids: list[str], lines: pd.Series, areas: pd.Series) -> bool:
    """Ids the lookalike rules refuse: one mixing Latin, Cyrillic and Greek letters, or two
    distinct ids (or areas) of a column with one skeleton, one of them not ASCII."""

    def twins(values) -> bool:
        shapes = {}
        for value in set(values):
            shapes.setdefault(skeleton(value), []).append(value)
        return any(len(v) > 1 and not all(x.isascii() for x in v) for v in shapes.values())

    return (
        any(len(letter_scripts(v)) > 1 for v in ids)
        or twins(ids)
        or twins(lines)
        or twins(areas.str.strip())
    )


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


def tiny_model(contract) -> PersistenceModel:
    """Five trees fitted on a 300-row extract: scoring's real path in well under a second."""
    training = validate_frame(valid_extract(300), contract, require_label=True, today=TODAY).frame
    params = {"n_estimators": 5, "num_leaves": 4, "min_child_samples": 5, "n_jobs": 1}
    return PersistenceModel(
        contract, family="lightgbm", params=params, early_stopping_rounds=0
    ).fit(training)


@pytest.fixture(scope="module")
def model(contract):
    return tiny_model(contract)


def model_ref() -> ModelRef:
    known = {"uri": "fixture", "name": "fixture-model", "version": "1"}
    return ModelRef(**{f.name: known.get(f.name) for f in fields(ModelRef)})


def week_extract(n: int = 6) -> pd.DataFrame:
    """An unlabelled week: ``n`` disruptions of 2023 (the valid extract without its label)."""
    return valid_extract(n).drop(columns=["persisted_12w"])


# ----------------------------------------------------------------------------------------------
# csv_safe on its own
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "=cmd|' /C calc'!A0",
        "+SUM(A1)",
        "-2+3",
        "@SUM(A1)",
        " =1+1",
        "\t=1+1",
        "\u00a0=1+1",
        "\u3000=1+1",
        '\uff1dHYPERLINK("x")',
        "\uff0b1",
        "\uff0d1",
        "\uff201",
        "\ufe661",
        "\u200b=1",
        "\ufeff=1",
        "\u2212 1",
        "\r=cmd",
        "\n=cmd",
        "\u2028=cmd",
    ],
)
def test_a_cell_that_could_start_a_formula_is_neutralised(value):
    safe = csv_safe(value)
    assert safe.startswith("'"), repr(safe)
    assert not LINE_BREAKS.search(safe)


@pytest.mark.parametrize(
    "value",
    [
        "SYN-L000095",
        "Northmoor",
        "type1 (closure type): +2 points",
        "O'Neill",
        "",
        "a=b",
        "x-y",
        "50% chance",
    ],
)
def test_ordinary_text_is_left_as_it_is(value):
    assert csv_safe(value) == value


def test_line_breaks_inside_a_cell_never_reach_the_csv():
    assert csv_safe("SYN-L000095\r=cmd|' /C calc'!A0") == "SYN-L000095\ufffd=cmd|' /C calc'!A0"
    assert csv_safe(3) == 3 and csv_safe(None) is None


# ----------------------------------------------------------------------------------------------
# validate -> score -> scores.csv -> read back (property test)
# ----------------------------------------------------------------------------------------------

# Leads and tails a spreadsheet or a line-based reader might trip on; the first group passes the
# contract (so the text must come back exactly, made inert) except that an id may not start with a
# space (ids are matched exactly) and no id or category may hold an invisible character (a
# zero-width space, a byte-order mark), the second is refused at the door.
CLEAN_LEADS = ["", " ", "\u00a0", "\u3000", "\u200b", "\ufeff", "\u2009"]
CONTROL_LEADS = ["\t", "\r", "\n", "\u202e", "\x00", "\x85", "\u2028", "\u2066"]
STARTS = [
    "=",
    "+",
    "-",
    "@",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
    "\u2212",
    "\ufe66",
    "SYN-",
    "'",
    '"',
    ",",
]
CLEAN_TAILS = ["", ',"', "'; DROP TABLE lines; --", " =1+1", "\u00e9\u0301"]
CONTROL_TAILS = ["\r=cmd|' /C calc'!A0", "\n+1", "\u202e", "\r\n"]


@st.composite
def hostile(draw, clean: bool) -> str:
    leads, tails = (
        (CLEAN_LEADS, CLEAN_TAILS)
        if clean
        else (CLEAN_LEADS + CONTROL_LEADS, CLEAN_TAILS + CONTROL_TAILS)
    )
    alphabet = st.characters(
        codec="utf-8",
        exclude_categories=("Cs", "Cc") if clean else ("Cs",),
        exclude_characters="\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        if clean
        else "",
    )
    return (
        draw(st.sampled_from(leads))
        + draw(st.sampled_from(STARTS))
        + draw(st.text(alphabet, max_size=12))
        + draw(st.sampled_from(tails))
    )


@st.composite
def week_values(draw) -> tuple[list[str], str]:
    """Up to four hostile ids and a hostile area; half the examples only use text the contract allows."""
    clean = draw(st.booleans())
    return draw(st.lists(hostile(clean), min_size=1, max_size=4, unique=True)), draw(hostile(clean))


def read_back(text: str) -> tuple[list[list[str]], list[list[str]]]:
    """scores.csv as Python's csv module reads it, and as a reader splitting rows at any CR/LF does."""
    by_csv = list(csv.reader(io.StringIO(text, newline="")))
    lines = [line for line in LINE_BREAKS.split(text) if line]
    by_lines = [next(csv.reader([line])) for line in lines]
    return by_csv, by_lines


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=week_values())
@example(values=(["SYN-L000095\r=cmd|' /C calc'!A0"], "Northmoor"))
@example(values=(["=cmd|' /C calc'!A0", " =1+1", "\u00a0@SUM(A1)", "\uff1dHYPERLINK()"], "\uff0b1"))
def test_hostile_ids_are_refused_or_come_back_exactly_and_inert(model, contract, values):
    ids, area = values
    frame = week_extract(len(ids) + 2)
    frame.loc[: len(ids) - 1, "disruption_id"] = ids
    frame.loc[0, "line_id"] = ids[0]
    frame.loc[1, "policing_area"] = area
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        source = folder / "week.csv"
        frame.to_csv(source, index=False, quoting=csv.QUOTE_ALL)
        expect_refusal = (
            any(refused_at_the_door(v, is_id=True) for v in ids)
            or refused_at_the_door(area)
            or looks_like_another(ids, frame["line_id"], frame["policing_area"])
        )
        try:
            result = score_week(source, model, model_ref(), folder / "out", today=TODAY)
        except ContractError as exc:
            event("refused at validation")
            assert expect_refusal, f"refused a value the contract allows: {exc}"
            assert not (folder / "out").exists() or not any(
                p.name.startswith("20") for p in (folder / "out").iterdir()
            )
            return
        assert not expect_refusal, "a value the contract refuses was scored"
        event("scored and read back")
        by_csv, by_lines = read_back((result.folder / "scores.csv").read_text(encoding="utf-8"))
    assert by_csv == by_lines, "a CR/LF-splitting reader sees the same rows and cells"
    header, rows = by_csv[0], by_csv[1:]
    assert len(rows) == len(frame), "exactly the input's rows"
    got = {row[header.index("disruption_id")] for row in rows}
    expected = {("'" + v) if starts_a_formula(v) else v for v in frame["disruption_id"]}
    assert got == expected
    assert {row[header.index("policing_area")] for row in rows} >= {
        ("'" + area.strip()) if starts_a_formula(area) else area.strip()
    }
    for row in by_csv:
        for cell in row:
            assert not starts_a_formula(cell), f"cell {cell!r} starts a formula"


def test_every_text_field_is_quoted_and_reruns_are_byte_identical(model, tmp_path):
    source = tmp_path / "week.csv"
    week_extract(8).to_csv(source, index=False)
    first = score_week(source, model, model_ref(), tmp_path / "out", today=TODAY)
    before = (first.folder / "scores.csv").read_bytes()
    again = score_week(source, model, model_ref(), tmp_path / "out", today=TODAY)
    assert (again.folder / "scores.csv").read_bytes() == before
    header, *rows = before.decode().splitlines()
    assert all(name.startswith('"') for name in header.split(","))
    cells = next(csv.reader([rows[0]]))
    raw = rows[0].split(",")
    names = next(csv.reader([header]))
    assert raw[names.index("disruption_id")].startswith('"') and not raw[
        names.index("rank")
    ].startswith('"')
    assert cells[names.index("disruption_id")] in set(week_extract(8)["disruption_id"])


# ----------------------------------------------------------------------------------------------
# The week given must hold the data (issue 15.4)
# ----------------------------------------------------------------------------------------------


def test_the_week_must_hold_the_latest_disruption():
    assert check_week_holds("2026-W47", pd.Timestamp("2026-11-22")) == "2026-W47"  # a Sunday
    assert check_week_holds("2026-W48", pd.Timestamp("2026-11-23")) == "2026-W48"  # the next Monday
    with pytest.raises(ContractError) as info:
        check_week_holds("2026-W46", pd.Timestamp("2026-11-18"), "w47.parquet")
    message = str(info.value)
    assert "w47.parquet" in message and "week=2026-W46 does not hold" in message
    assert "2026-11-18, in week 2026-W47" in message and "expected week=2026-W47" in message


@pytest.mark.parametrize(
    "week", ["2025-W53", "2026-W00", "../victim", "/tmp/victim", "2026-w47", ""]
)
def test_weeks_that_do_not_exist_are_refused(week):
    with pytest.raises(ResilienceError):
        check_week_holds(week, pd.Timestamp("2026-11-18"))


def test_a_typo_in_week_replaces_nothing(model, tmp_path):
    source = tmp_path / "week.csv"
    frame = week_extract(6)
    frame["disruption_date"] = [
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
    ]
    frame.to_csv(source, index=False)
    today = pd.Timestamp("2026-11-30")
    out = tmp_path / "out"
    real = score_week(source, model, model_ref(), out, today=today)
    assert real.week == "2026-W47"
    other = out / "2026-W46"
    other.mkdir()
    (other / "manifest.json").write_text('{"week": "2026-W46"}')
    with pytest.raises(ContractError, match="week=2026-W46 does not hold"):
        score_week(source, model, model_ref(), out, week="2026-W46", overwrite=True, today=today)
    assert (other / "manifest.json").read_text() == '{"week": "2026-W46"}', (
        "the W46 folder is untouched"
    )
    # W47's lock stays from the run that scored it (locks are kept between runs, by design)
    kept_lock = lock_file(out, "2026-W47").name
    written = sorted(p.name for p in out.iterdir() if p.name != kept_lock)
    assert written == ["2026-W46", "2026-W47"], "nothing else written (no W46 lock or folder)"
    assert (
        score_week(source, model, model_ref(), out, week="2026-W47", today=today).week == "2026-W47"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("week", "folder"), [("../victim", "victim"), ("2025-W53", "weekly/2025-W53")]
)
def test_decide_refuses_weeks_outside_the_output_root(model, tmp_path, week, folder):
    # a real scored week sits where the bad week name points, so only the week check can refuse it
    source = tmp_path / "week.csv"
    week_extract(4).to_csv(source, index=False)
    scored = score_week(source, model, model_ref(), tmp_path / "scratch", today=TODAY)
    target = tmp_path / "out" / folder
    target.parent.mkdir(parents=True, exist_ok=True)
    scored.folder.rename(target)
    log = tmp_path / "out" / "decisions.sqlite"
    result = run_command(
        "resilience-decide",
        f"week={week}",
        "line=SYN-L0000",
        "decision=visit",
        "reason=test",
        "by=duty-inspector",
        f"output_root={tmp_path / 'out' / 'weekly'}",
        f"log_path={log}",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert ("ISO week" in result.stderr) or ("does not exist" in result.stderr), result.stderr
    assert not log.exists(), "no decision stored"
