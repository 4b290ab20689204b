"""`make demo`'s split of the synthetic world (scripts/demo_history.py): the model trains only on
outcomes known before the first scored week, and every outcome known later (by the world's end,
its horizon passed) is kept for `resilience-outcomes`, never for training."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd

from resilience.core.paths import project_root
from resilience.core.weeks import week_monday


def _demo_history():
    path = project_root() / "scripts" / "demo_history.py"
    spec = importlib.util.spec_from_file_location("demo_history", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_trains_on_what_was_known_before_the_scored_weeks(
    small_world_dir, contract, tmp_path
):
    as_of, n_history, n_labels = _demo_history().split(small_world_dir, tmp_path, weeks=3)
    extracts = sorted((small_world_dir / "weekly").glob("*.parquet"))
    first_scored = extracts[-3].stem
    end = pd.Timestamp(json.loads((small_world_dir / "world.json").read_text())["end_date"])
    assert pd.Timestamp(as_of) == min(week_monday(first_scored) + pd.Timedelta(days=6), end)
    assert (tmp_path / "as_of.txt").read_text().strip() == as_of

    history = pd.read_parquet(tmp_path / "history.parquet")
    labels = pd.read_parquet(tmp_path / "labels.parquet")
    every = pd.read_parquet(small_world_dir / "disruptions.parquet")
    assert (len(history), len(labels)) == (n_history, n_labels) and n_history and n_labels
    # training: only outcomes whose horizon had passed by the first scored week's extraction day
    horizon = pd.Timedelta(weeks=contract.horizon_weeks)
    assert (pd.to_datetime(history[contract.date_column]) <= pd.Timestamp(as_of) - horizon).all()
    # the rest of the world's known outcomes, and only those, go to resilience-outcomes
    ids = contract.id_column
    assert set(history[ids]).isdisjoint(labels[ids])
    assert set(history[ids]) | set(labels[ids]) == set(every[ids])
    assert list(labels.columns) == [ids, contract.label]
    # the scored weeks' disruptions whose outcome the world knows are among them
    scored = pd.concat(pd.read_parquet(p, columns=[ids]) for p in extracts[-3:])
    assert set(scored[ids]) & set(labels[ids])
