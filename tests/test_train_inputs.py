"""What the train command reads besides the extract: an experiment's row filter (used by the shipped
``home_grown_only`` and ``imported_only`` experiments) and a synthetic world's truth."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from resilience.core.errors import ResilienceError
from resilience.core.paths import experiments_dir
from resilience.pipelines.train_inputs import filter_rows, load_truth


@pytest.mark.parametrize("experiment", ["home_grown_only", "imported_only"])
def test_the_shipped_row_filters_keep_exactly_their_lines(experiment, small_history):
    row_filter = yaml.safe_load((experiments_dir() / f"{experiment}.yaml").read_text())[
        "row_filter"
    ]
    kept = filter_rows(small_history, row_filter)
    wanted = set(row_filter["line_type"])
    assert set(kept["line_type"].astype(str)) == wanted
    # every such row is kept, in the extract's order, with a fresh index (what training splits)
    expected = small_history[small_history["line_type"].astype(str).isin(wanted)]
    assert kept["disruption_id"].tolist() == expected["disruption_id"].tolist()
    assert kept.index.equals(pd.RangeIndex(len(kept)))


def test_a_row_filter_compares_values_as_text_and_joins_columns():
    frame = pd.DataFrame({"a": [1, 2, 2, 3], "b": ["x", "x", "y", "y"]})
    assert filter_rows(frame, {"a": ["2"]})["b"].tolist() == ["x", "y"]  # 2 and "2" alike
    assert filter_rows(frame, {"a": [2, 3], "b": ["y"]})["a"].tolist() == [2, 3]  # every column
    assert filter_rows(frame, None) is frame and filter_rows(frame, {}) is frame


def test_a_row_filter_that_cannot_work_is_one_clear_error():
    frame = pd.DataFrame({"line_type": ["imported", "home_grown"]})
    with pytest.raises(ResilienceError, match="row_filter names column 'line_typ'") as caught:
        filter_rows(frame, {"line_typ": ["imported"]})
    assert "did you mean 'line_type'?" in str(caught.value)
    with pytest.raises(ResilienceError, match="keeps no rows") as caught:
        filter_rows(frame, {"line_type": ["homegrown"]})
    # the value no row holds, the one it might have meant and the values there are
    assert str(caught.value).endswith(
        ": no row has line_type 'homegrown' (did you mean 'home_grown'?); it holds 'home_grown', "
        "'imported'"
    ), str(caught.value)


def test_truth_is_read_only_when_asked_for_and_complete(tmp_path, contract):
    source = tmp_path / "disruptions.parquet"
    assert load_truth("auto", source, contract) is None  # no truth beside the input: none
    assert load_truth("none", source, contract) is None
    truth = pd.DataFrame({"disruption_id": ["SYN-D1"], "true_probability": [0.3], "extra": [1]})
    truth.to_parquet(tmp_path / "truth.parquet")
    assert list(load_truth("auto", source, contract).columns) == [
        "disruption_id",
        "true_probability",
    ]
    with pytest.raises(ResilienceError, match="does not exist"):
        load_truth(str(tmp_path / "missing.parquet"), source, contract)
    truth.drop(columns="true_probability").to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ResilienceError, match="needs columns"):
        load_truth(str(tmp_path / "bad.parquet"), source, contract)


@pytest.mark.parametrize("command", ["train", "compare"])
def test_a_history_of_one_outcome_is_refused_naming_its_file_and_column(
    command, tiny_history, tmp_path, new_store_uri
):
    """A history in which every line persisted (or a row filter leaving only such lines) cannot
    train a model: one line naming the file, the label column and the outcome every row holds,
    exit 2 and no run (it had said "the training rows hold only one outcome", naming no file)."""
    from conftest import run_command

    history = tiny_history.assign(persisted_12w=True)
    path = tmp_path / "all_persisted.csv"
    history.to_csv(path, index=False)
    env = {"MLFLOW_TRACKING_URI": new_store_uri}
    result = run_command(
        f"resilience-{command}", f"input={path}", "as_of=unchecked", cwd=tmp_path, env=env
    )
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert str(path) in result.stderr and "'persisted_12w'" in result.stderr
    assert "every labelled row is True" in result.stderr, result.stderr
