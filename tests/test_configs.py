"""Every main config and every experiment composes; every experiment trains on a tiny world."""

from __future__ import annotations

import hydra
import pytest
from conftest import run_command
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from resilience.core.paths import config_dir, experiments_dir
from resilience.data.contract import DataContract
from resilience.learn.models import CALIBRATIONS, DEFAULT_LGBM_PARAMS, FAMILIES, PersistenceModel

MAIN_CONFIGS = [
    "generate",
    "validate",
    "train",
    "score",
    "promote",
    "outcomes",
    "decide",
    "card",
    "report",
]
COMMANDS = [f"resilience-{name}" for name in MAIN_CONFIGS]
EXPERIMENTS = sorted(p.stem for p in experiments_dir().glob("*.yaml"))


def composed(config_name: str, overrides: list[str] | None = None):
    GlobalHydra.instance().clear()
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(config_dir().parent))
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose(config_name, overrides=overrides or [], return_hydra_config=True)


def settings(cfg) -> dict:
    """A composed config without Hydra's own node, every interpolation resolved."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in cfg
        if key != "hydra" and not OmegaConf.is_missing(cfg, key)
    }


@pytest.mark.parametrize("name", MAIN_CONFIGS)
def test_main_configs_compose_and_resolve(name):
    cfg = composed(name)
    assert cfg.hydra.job.config_name == name
    resolved = settings(
        cfg
    )  # a broken interpolation (unknown key, resolver, env default) fails here
    assert resolved, f"{name}.yaml composes to nothing"
    if "data" in cfg:
        contract = DataContract.from_dict(cfg.data)
        assert contract.features and contract.label
    if "model" in cfg:
        model = hydra.utils.instantiate(cfg.model, _partial_=True)(
            contract=DataContract.from_dict(cfg.data)
        )
        assert isinstance(model, PersistenceModel)
        assert model.family in FAMILIES and model.calibration in CALIBRATIONS


@pytest.mark.parametrize("value,expected", [(None, None), ("3", 3)])
def test_lightgbm_threads_come_from_the_environment_at_the_config_edge(
    monkeypatch, value, expected
):
    if value is None:
        monkeypatch.delenv("RESILIENCE_N_JOBS", raising=False)
    else:
        monkeypatch.setenv("RESILIENCE_N_JOBS", value)
    assert composed("train").model.n_jobs == expected


def test_lightgbm_defaults_live_in_one_place():
    """The model config lists the tunable keys (so overrides and sweeps work) but no values:
    null means the toolkit's default, kept only in resilience.learn.models.DEFAULT_LGBM_PARAMS."""
    params = settings(composed("train", ["model=lightgbm"]))["model"]["params"]
    assert params and all(value is None for value in params.values()), params
    assert set(params) <= set(DEFAULT_LGBM_PARAMS)


def test_experiments_exist():
    assert {
        "baseline_logistic",
        "lightgbm_default",
        "lightgbm_monotone",
        "home_grown_only",
        "imported_only",
        "sweep_lightgbm",
    } <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose_and_list_only_what_differs(experiment):
    cfg = composed("train", [f"experiment={experiment}"])
    assert cfg.run_name == experiment
    text = (experiments_dir() / f"{experiment}.yaml").read_text()
    assert text.startswith("# @package _global_") or "# @package _global_" in text.splitlines()[0:3]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if not e.startswith("sweep")])
def test_every_experiment_trains_on_a_tiny_world(experiment, small_world_dir, tmp_path):
    result = run_command(
        "resilience-train",
        f"experiment={experiment}",
        f"input={small_world_dir / 'disruptions.parquet'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test ROC AUC" in result.stdout
    assert (tmp_path / "run").is_dir(), "hydra.run.dir puts the run's local files where asked"


@pytest.mark.slow
def test_sweep_runs_trials_as_child_runs(small_world_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_command(
        "resilience-train",
        "--multirun",
        "experiment=sweep_lightgbm",
        "hydra.sweeper.n_trials=2",
        f"input={small_world_dir / 'disruptions.parquet'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("line-resilience")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert all("test_cv_roc_auc" in c.data.metrics for c in children)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_finds_its_configs_from_any_directory(command, tmp_path):
    result = run_command(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    name = command.removeprefix("resilience-")
    assert result.stdout.startswith(f"{name} is powered by Hydra."), result.stdout[:200]
    config = result.stdout.split("== Config ==", 1)[1]
    for key in settings(composed(name)):  # the command's own config, found from tmp_path
        assert f"\n{key}:" in config, (
            f"{command} --help does not show {key!r} from configs/{name}.yaml"
        )
    assert not list(tmp_path.iterdir()), "--help writes nothing"


def test_generate_writes_only_the_world(tmp_path):
    out = tmp_path / "world"
    result = run_command("resilience-generate", "world.n_lines=400", f"out_dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"], (
        "no outputs/<date>/, .hydra/ or log files"
    )
    assert (out / "disruptions.parquet").is_file() and (out / "truth.parquet").is_file()
