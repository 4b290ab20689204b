"""The line board tells a filled-in record from a changed estimate (issue 20, item 5): a move of
the same disruption whose record gained fields since last week says which, apart from a move of
the estimate for an unchanged record."""

from __future__ import annotations

import pandas as pd

from resilience.data.validate import load_extract
from resilience.report import load_week, report_context
from resilience.report.changes import change_words, record_updates


def _records(contract, **values):
    row = {contract.id_column: "D1", "runners_arrested": 0, "holder_arrested": False, **values}
    return pd.DataFrame([row])


def test_a_filled_in_record_says_which_fields_were_recorded(contract):
    before = _records(contract)
    now = _records(contract, runners_arrested=2, holder_arrested=True)
    words = record_updates([("D1", "D1")], now, before, contract)
    runners = contract.column("runners_arrested").label_text
    assert words["D1"].startswith("record updated: ")
    assert f"{runners} 0 to 2" in words["D1"]
    assert f"{contract.column('holder_arrested').label_text} no to yes" in words["D1"]
    change = change_words(
        "down", -9, 60, moved_by="Runners arrested (-9.0 points)", record=words["D1"]
    )
    assert (
        change["text"]
        == f"down 9 points (from 60%); {words['D1']}; moved most by Runners arrested (-9.0 points)"
    )
    assert change["compact"] == "down 9 points (from 60%)" and change["moved"].startswith(
        "record updated"
    )


def test_an_unchanged_record_is_named_and_other_pairs_get_no_words(contract):
    same = _records(contract)
    assert record_updates([("D1", "D1")], same, same.copy(), contract) == {
        "D1": "same record as last week"
    }
    # a different disruption of the same line, or a week that kept no extract: nothing is claimed
    assert record_updates([("D1", "D0")], same, same.copy(), contract) == {}
    assert record_updates([("D1", "D1")], same, None, contract) == {}
    assert change_words("up", 5, 40)["text"] == "up 5 points (from 40%)"


def test_the_board_reads_both_kept_extracts(shared_scored_weeks, contract):
    previous, current = sorted(p for p in shared_scored_weeks.iterdir() if p.is_dir())
    context = report_context(load_week(current), load_week(previous))
    before = load_extract(previous / "extract.parquet", contract).frame.set_index("disruption_id")
    now = load_extract(current / "extract.parquet", contract).frame.set_index("disruption_id")
    fields = [f for f in contract.features if f not in contract.derived_columns]
    told = {"record updated": 0, "same record": 0}
    for line in context["board"]["lines"] + context["shortlist"]:
        disruption, text = line["disruption_id"], line["change"]["text"]
        if line["change"]["kind"] not in ("up", "down"):
            continue
        if disruption not in before.index:  # matched by line: another disruption, no record words
            assert "record updated" not in text and "same record" not in text
            continue
        a, b = now.loc[disruption, fields], before.loc[disruption, fields]
        filled = not a.astype(str).equals(b.astype(str))
        key = "record updated" if filled else "same record"
        assert key in text, (disruption, text)
        told[key] += 1
    assert sum(told.values()) > 0, "the board showed moves of disruptions open both weeks"
