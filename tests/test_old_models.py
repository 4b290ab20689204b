"""Models registered before the house move still vet and score once signed: every cell as it was
written then.

``fixtures/d2737ed-store.tar.gz`` holds an MLflow store with one version of ``line-resilience``
trained and registered by the toolkit at commit d2737ed (before its modules moved into packages),
one weekly extract, and the ``scores.csv`` that toolkit wrote for it (today's file adds columns,
such as the playbook's options, and is sorted by priority; every cell written then is written again). Its pickles name the old
module paths (``resilience.learn.models.PersistenceModel``, ``resilience.learn.ranges.IntervalEnsemble``,
``resilience.tracking.pyfunc.ResiliencePyfunc`` ...) and the version carries its own code (``code_paths``).
``fixtures/README.md`` says how it was built. It was registered before versions were signed, so it
is refused until a person signs it with ``resilience-sign`` (the migration step), then it runs as it did.
"""

from __future__ import annotations

import csv
import re
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import move_store, run_command

FIXTURE = Path(__file__).parent / "fixtures" / "d2737ed-store.tar.gz"
BUILT_AT = "/tmp/resilience-d2737ed"  # the store's root when it was built (kept in mlflow.db)
SOURCE = Path(__file__).resolve().parents[1] / "src" / "resilience"


@pytest.fixture()
def old_store(tmp_path) -> Path:
    """The d2737ed store, unpacked and moved to ``tmp_path`` (its version not signed yet)."""
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / "resilience-d2737ed"
    move_store(root / "mlflow.db", BUILT_AT, str(root))
    return root


def sign_old_version(store: Path, cwd: Path) -> None:
    """The migration: refused until a person signs it, with a message saying how; then signed."""
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    refused = run_command(
        "resilience-score",
        f"input={store / 'week.parquet'}",
        f"output_root={cwd / 'refused'}",
        "report=false",
        "log_to_mlflow=false",
        cwd=cwd,
        env=env,
    )
    assert refused.returncode == 2 and "is not signed" in refused.stderr, refused.stderr[-2000:]
    assert "resilience-sign version=1 by=" in refused.stderr and not (cwd / "refused").exists()
    signed = run_command(
        "resilience-sign",
        "version=1",
        "by=head-of-analysis",
        "reason='registered at d2737ed: card, run and evidence reviewed'",
        cwd=cwd,
        env=env,
    )
    assert signed.returncode == 0 and "signed line-resilience version 1" in signed.stdout, (
        signed.stderr[-2000:]
    )


def test_a_version_registered_at_d2737ed_still_vets_and_runs_todays_code(
    old_store, mlflow_at, monkeypatch, tmp_path
):
    import mlflow

    from resilience.core.errors import ResilienceError
    from resilience.tracking.pyfunc import ResiliencePyfunc, load_vetted

    monkeypatch.setattr(sys, "path", list(sys.path))  # MLflow puts the model's code_paths first
    uri = f"sqlite:///{old_store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    with pytest.raises(ResilienceError, match="is not signed.*resilience-sign version=1"):
        load_vetted("models:/line-resilience@champion")
    sign_old_version(old_store, tmp_path)
    path_before = list(sys.path)
    pyfunc = load_vetted("models:/line-resilience@champion")  # signature and digests check out
    assert sys.path == path_before, "the code the version carries is never put on sys.path"
    wrapper = pyfunc.unwrap_python_model()
    assert type(wrapper) is ResiliencePyfunc
    # the toolkit already imported wins over the code the version carries: today's code predicts
    for obj in (wrapper, wrapper.model, wrapper.model.interval_ensemble_):
        module = sys.modules[type(obj).__module__]
        assert Path(module.__file__).resolve().is_relative_to(SOURCE), module.__file__


# The one wording changed on purpose since d2737ed: a summary's movers no longer need a verb that
# agrees with them ("2 premises closure orders raises ..." read wrong); the same values and points.
_MOVERS = [
    (
        re.compile(
            r"; ([^;]+?) raises the estimate most \(([^()]+)\) and ([^;]+?) lowers it most "
            r"\(([^()]+)\)\.$"
        ),
        r"; what raises the estimate most: \1 (\2); what lowers it most: \3 (\4).",
    ),
    (
        re.compile(r"; ([^;]+?) raises the estimate most \(([^()]+)\); nothing lowers"),
        r"; what raises the estimate most: \1 (\2); nothing lowers",
    ),
    (
        re.compile(r"; ([^;]+?) lowers the estimate most \(([^()]+)\); nothing raises"),
        r"; what lowers the estimate most: \1 (\2); nothing raises",
    ),
]


def _in_today_s_words(cell: str) -> str:
    """A cell d2737ed wrote, with its summary's movers in today's wording."""
    for pattern, replacement in _MOVERS:
        cell = pattern.sub(replacement, cell)
    return cell


@pytest.mark.slow
def test_a_version_registered_at_d2737ed_scores_a_week_cell_for_cell(old_store, tmp_path):
    sign_old_version(old_store, tmp_path)
    result = run_command(
        "resilience-score",
        f"input={old_store / 'week.parquet'}",
        f"output_root={tmp_path / 'weekly'}",
        "report=false",
        "log_to_mlflow=false",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{old_store / 'mlflow.db'}"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scored = tmp_path / "weekly" / "2026-W47" / "scores.csv"
    now, then = _csv_cells(scored), _csv_cells(old_store / "expected_scores.csv")
    # every column and every cell d2737ed wrote is written again, character for character ...
    assert set(then[0]) <= set(now[0]), set(then[0]) - set(now[0])
    by_id = {row["disruption_id"]: row for row in now}
    assert sorted(by_id) == sorted(row["disruption_id"] for row in then)
    changed = [
        (row["disruption_id"], column)
        for row in then
        for column, cell in row.items()
        if by_id[row["disruption_id"]][column] != _in_today_s_words(cell)
    ]
    assert not changed, changed[:10]
    # ... and the rows now come in priority order, the order the briefing acts in (issue 23)
    assert [int(row["priority_rank"]) for row in now] == list(range(1, len(now) + 1))


def _csv_cells(path: Path) -> list[dict[str, str]]:
    """The file's rows as the raw text of each cell (no number parsing: a changed digit shows)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
