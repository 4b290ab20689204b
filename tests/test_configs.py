"""Every main config and every experiment composes; every experiment trains on a tiny world."""

from __future__ import annotations

import hydra
import pytest
import yaml
from conftest import run_command, toolkit_commands
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from resilience.cli._config import register_schemas
from resilience.core.paths import config_dir, experiments_dir
from resilience.data.contract import DataContract
from resilience.learn.calibration import CALIBRATIONS
from resilience.learn.families import DEFAULT_LGBM_PARAMS, FAMILIES
from resilience.learn.models import PersistenceModel

MAIN_CONFIGS = toolkit_commands()
COMMANDS = [f"resilience-{name}" for name in MAIN_CONFIGS]
EXPERIMENTS = sorted(p.stem for p in experiments_dir().glob("*.yaml"))


def composed(config_name: str, overrides: list[str] | None = None):
    GlobalHydra.instance().clear()
    register_schemas()
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


# required settings (``???``) that other settings interpolate: a value so that those resolve
REQUIRED = {"backtest": ["backtest.cutoff=2026-W30"]}


@pytest.mark.parametrize("name", MAIN_CONFIGS)
def test_main_configs_compose_and_resolve(name):
    cfg = composed(name, REQUIRED.get(name))
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
    null means the toolkit's default, kept only in resilience.learn.families.DEFAULT_LGBM_PARAMS."""
    params = settings(composed("train", ["model=lightgbm"]))["model"]["params"]
    assert params and all(value is None for value in params.values()), params
    assert set(params) <= set(DEFAULT_LGBM_PARAMS)


def test_experiments_exist():
    """The experiments the README offers are shipped, each saying in a comment what it is for."""
    assert {
        "baseline_logistic",
        "lightgbm_default",
        "lightgbm_monotone",
        "home_grown_only",
        "imported_only",
        "segment_models",
        "sweep_lightgbm",
    } <= set(EXPERIMENTS)
    readme = (config_dir().parent / "README.md").read_text()
    for experiment in EXPERIMENTS:
        lines = (experiments_dir() / f"{experiment}.yaml").read_text().splitlines()
        assert lines[1].startswith("# ") and len(lines[1]) > 20, f"{experiment}: say what it is for"
        assert experiment in readme or experiment == "lightgbm_default", (
            f"{experiment}: not in README"
        )


def _flat(mapping: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (empty mappings and lists kept as values)."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose_and_list_only_what_differs(experiment):
    """An experiment changes the default run exactly where it says: every key it lists takes
    effect and differs from the default (nothing restated), and nothing else changes except inside
    the config groups it swaps (``override /model: logistic``)."""
    text = (experiments_dir() / f"{experiment}.yaml").read_text()
    assert "# @package _global_" in text.splitlines()[0:3]
    listed = yaml.safe_load(text)
    swapped = {  # "- override /model: logistic" swaps the model group
        key.removeprefix("override").strip().lstrip("/")
        for entry in listed.pop("defaults", [])
        for key in (entry if isinstance(entry, dict) else {entry: None})
    }
    listed = _flat(listed)
    cfg = composed("train", [f"experiment={experiment}"])
    before, after = _flat(settings(composed("train"))), _flat(settings(cfg))
    assert cfg.run_name == experiment
    for key, value in listed.items():
        assert after.get(key) == value, (
            f"{experiment} sets {key}={value!r}; the run has {after.get(key)!r}"
        )
        assert before.get(key) != value, f"{experiment} restates the default {key}={value!r}"

    def explained(key: str) -> bool:
        return key.split(".")[0] in swapped or any(
            key == k or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in listed
        )

    differs = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert differs and all(explained(k) for k in differs), sorted(
        k for k in differs if not explained(k)
    )


def _train(world, tmp_path, uri: str, *args: str):
    """``resilience-train`` on ``world`` with ``args``, its local files in tmp_path/run; it succeeds."""
    result = run_command(
        "resilience-train",
        *args,
        f"input={world / 'disruptions.parquet'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _trained_run(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("line-resilience")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


@pytest.mark.slow
@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if not e.startswith("sweep")])
def test_every_experiment_trains_on_a_tiny_world(
    experiment, tiny_world_dir, tmp_path, new_store_uri
):
    """Each shipped experiment trains end to end, and its run shows what the experiment is about:
    the baseline is a logistic challenger, the monotone model its constraints, the line-type runs
    only their lines and no registered version, the segment models their comparison."""
    import pandas as pd

    uri = new_store_uri
    # a smaller reason screen and ensemble than the shipped ones: what they decide is tested in
    # test_explain.py, test_screen_keep.py and test_intervals.py; here only that every experiment
    # runs them
    smaller = (
        "explain.screen.permutations=2",
        "explain.screen.resamples=2",
        "intervals.n_models=2",
    )
    result = _train(tiny_world_dir, tmp_path, uri, f"experiment={experiment}", *smaller)
    assert "test ROC AUC" in result.stdout
    # no library notices that do not apply (scikit-learn's feature names, MLflow's integer
    # hint and its pickle caution: the toolkit's models load only once vetted)
    assert "UserWarning" not in result.stderr and "CloudPickle" not in result.stderr, result.stderr
    assert (tmp_path / "run").is_dir(), "hydra.run.dir puts the run's local files where asked"
    client, run = _trained_run(uri)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["recipe"] == experiment and tags["mlflow.runName"].startswith(f"{experiment} · ")
    assert 0.5 < metrics["test_roc_auc"] <= 1
    versions = client.search_model_versions("name='line-resilience'")
    registered = yaml.safe_load((experiments_dir() / f"{experiment}.yaml").read_text())
    if (registered.get("mlflow") or {}).get("register") is False:
        assert not versions, "a comparison run registers no version"
        line_type = registered["row_filter"]["line_type"]
        local = client.download_artifacts(
            run.info.run_id, "tables/test_predictions.csv", str(tmp_path)
        )
        predictions = pd.read_csv(local)
        assert set(predictions["line_type"]) == set(line_type)
    else:
        # the champion rule: only the production recipe becomes champion by itself
        (version,) = versions
        production = experiment == "lightgbm_default"
        assert version.tags["promotion.decision"] == ("champion" if production else "challenger")
    assert tags["model_family"] == ("logistic" if experiment == "baseline_logistic" else "lightgbm")
    if experiment == "lightgbm_monotone":
        assert (
            params["model.monotone.holder_arrested"] == "-1"
            and params["model.monotone.contacts"] == "1"
        )
    if experiment == "segment_models":
        assert "test_single_roc_auc" in metrics and "model.capacity.segments" in params


def _children(client, experiment_id: str) -> tuple[list, list]:
    runs = client.search_runs([experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return parents, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


@pytest.mark.slow
def test_a_study_runs_trials_as_child_runs_and_resumes(tiny_world_dir, tmp_path, new_store_uri):
    """`experiment=sweep_lightgbm` runs an Optuna study: a child run per trial holding the settings
    it drew, the best trial printed and logged on the parent, nothing registered; the same command
    with more trials resumes the study from outputs/sweeps/ under the same parent (other settings
    are refused: tests/test_sweep.py)."""
    from mlflow.tracking import MlflowClient
    from optuna.distributions import CategoricalDistribution

    from resilience.cli._sweep import search_space

    uri = new_store_uri

    study = ("experiment=sweep_lightgbm",)
    first = _train(tiny_world_dir, tmp_path, uri, *study, "sweep.n_trials=2")
    assert (tmp_path / "outputs" / "sweeps" / "sweep_lightgbm.db").is_file()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("line-resilience").experiment_id
    (parent,), children = _children(client, experiment)
    assert len(children) == 2 and not client.search_model_versions("name='line-resilience'")
    space = search_space(composed("train", ["experiment=sweep_lightgbm"]).sweep.space)
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert 0.5 < child.data.metrics["test_cv_roc_auc"] <= 1
        for key, dimension in space.items():  # the settings the trial drew, not blanks
            value = yaml.safe_load(child.data.params[key])
            if isinstance(dimension, CategoricalDistribution):
                assert value in dimension.choices
            else:
                assert dimension.low <= value <= dimension.high
    best = max(children, key=lambda c: c.data.metrics["test_cv_roc_auc"])
    assert parent.data.tags["best.run_id"] == best.info.run_id
    settings = " ".join(f"{key}={best.data.params[key]}" for key in space)
    assert f"its settings: {settings}" in first.stdout
    resumed = _train(tiny_world_dir, tmp_path, uri, *study, "sweep.n_trials=3")
    assert "3 complete trials, 1 run now" in resumed.stdout
    (again,), children = _children(client, experiment)
    assert again.info.run_id == parent.info.run_id and len(children) == 3
    _spans(again, children)


@pytest.mark.slow
def test_multirun_runs_a_grid_under_one_parent(tiny_world_dir, tmp_path, new_store_uri):
    from mlflow.tracking import MlflowClient

    uri = new_store_uri
    _train(
        tiny_world_dir,
        tmp_path,
        uri,
        "--multirun",
        "model.params.num_leaves=5,7",
        "refit_on_all=false",
        "explain.screen.enabled=false",
        "intervals.enabled=false",
        "mlflow.register=false",
        f"hydra.sweep.dir={tmp_path / 'grid'}",
    )
    client = MlflowClient(uri)
    (parent,), children = _children(
        client, client.get_experiment_by_name("line-resilience").experiment_id
    )
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.params["model.params.num_leaves"] for c in children) == ["5", "7"]
    _spans(parent, children)
    for child in children:  # the children were named alike: which is which by what it swept
        swept = f"model.params.num_leaves={child.data.params['model.params.num_leaves']}"
        assert child.info.run_name.startswith(f"{swept} · "), child.info.run_name


def _spans(parent, children) -> None:
    """A grid's or a study's parent run spans its children on the run page (it was created
    finished before them, about 0 s long)."""
    assert parent.info.status == "FINISHED"
    assert parent.info.start_time == min(c.info.start_time for c in children)
    assert parent.info.end_time >= max(c.info.end_time for c in children)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_finds_its_configs_from_any_directory(command, tmp_path):
    # the installed console script itself, in a new interpreter
    result = run_command(command, "--help", cwd=tmp_path, fresh=True)
    assert result.returncode == 0, result.stderr[-2000:]
    name = command.removeprefix("resilience-")
    assert result.stdout.startswith(f"usage: {command} "), result.stdout[:200]
    for key in settings(
        composed(name, REQUIRED.get(name))
    ):  # the command's own settings and groups, from tmp_path
        assert f"\n  {key}=" in result.stdout or f"\n  {key}." in result.stdout, (
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


@pytest.mark.parametrize("data", ["default", "example_force"])
def test_the_data_schema_changes_no_value(data):
    """Composed through its schema, a data config gives the very contract the file does, byte for
    byte as JSON (the digest the champion rule compares, and every model's stored contract)."""
    import json

    from resilience.data.contract import load_data_contract

    through_hydra = DataContract.from_dict(composed("validate", [f"data={data}"]).data).to_dict()
    direct = load_data_contract(data).to_dict()
    assert json.dumps(through_hydra, sort_keys=True) == json.dumps(direct, sort_keys=True)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("+data.columns.contacts.nullable=maybe", "nullable must be true or false, not 'maybe'"),
        ("+data.columns.contacts.minn=0", "unknown key(s) ['minn']; did you mean 'min'?"),
    ],
)
def test_a_column_setting_the_contract_refuses_stops_the_run_before_its_folder(
    override, expected, tmp_path
):
    """The data config's columns are checked by the contract (not typed by Hydra), still before the
    run's folder is made and before any data are read: one line, status 2, nothing written."""
    result = run_command(
        "resilience-train", override, "input=/nonexistent/extract.parquet", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "column 'contacts'" in result.stderr
    assert expected in result.stderr, result.stderr
    assert str(config_dir() / "data" / "default.yaml") in result.stderr, "the file is named"
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_a_run_that_stops_on_its_data_says_why_in_its_folder_s_log(tmp_path, tiny_world_dir):
    """An extract the contract refuses stopped the run after Hydra made its folder: the folder
    kept the config and an empty train.log. The log now ends with the error, and the terminal
    still has one line."""
    import pandas as pd

    extract = tmp_path / "extract.csv"
    history = pd.read_parquet(tiny_world_dir / "disruptions.parquet").head(50)
    history.assign(contacts="abc").to_csv(extract, index=False)  # a column of the wrong type
    result = run_command(
        "resilience-train", f"input={extract}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    message = result.stderr.removeprefix("error: ").strip()
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.rstrip().endswith(f"[resilience][ERROR] - {message}"), log


@pytest.mark.parametrize(
    "sweep",
    [
        ("data=default,no_dtype",),
        ("data.columns.contacts.min=0,abc", "model.params.num_leaves=7,15"),
    ],
)
def test_a_grid_over_data_configs_is_checked_before_its_sweep_folder(sweep, tmp_path):
    """A --multirun grid's data configs are checked by the contract, each one, before Hydra makes
    the sweep's folder or any job's: one line naming the file, status 2, nothing written."""
    config = yaml.safe_load((config_dir() / "data" / "default.yaml").read_text())
    config["name"] = "no_dtype"
    del config["columns"]["contacts"]["dtype"]
    folder = tmp_path / "configs"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "no_dtype.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = run_command(
        "resilience-train",
        "--multirun",
        *sweep,
        "input=/nonexistent/extract.parquet",
        f"hydra.searchpath=[file://{folder}]",
        cwd=work,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "column 'contacts'" in result.stderr
    assert ".yaml: data config '" in result.stderr, "the data config file is named"
    assert not list(work.iterdir()), "nothing is written: no sweep folder, no job folder"


def test_a_logged_column_override_replays_as_add_or_override():
    """Runs before the columns were checked by the contract logged a column setting without `+`
    (Hydra's schema held every key): a rerun replays it with `++`, whatever the file writes."""
    from resilience.cli._rerun import _replayable

    assert _replayable("data.columns.contacts.nullable=true") == (
        "++data.columns.contacts.nullable=true"
    )
    assert _replayable("split.test_weeks=13") == "split.test_weeks=13"
    assert _replayable("+data.columns.contacts.min=1") == "+data.columns.contacts.min=1"
    for override in ("++data.columns.contacts.nullable=true", "data.columns.contacts.dtype=int"):
        composed("train", [_replayable(override)])  # composes: nothing is refused


@pytest.mark.parametrize(
    "override, expected",
    [
        ("split.test_weks=13", "unknown key 'split.test_weks'; did you mean 'split.test_weeks'?"),
        ("split.test_weeks=abc", "split.test_weeks=abc: must be a whole number, e.g."),
        ("explain.screen.permutation=5", "did you mean 'explain.screen.permutations'?"),
        ("mlflow.champion.alpa=0.1", "did you mean 'mlflow.champion.alpha'?"),
        ("experiment=baseline_logistc", "did you mean 'baseline_logistic'?"),
    ],
)
def test_a_config_error_is_one_line_naming_the_nearest_key(override, expected, tmp_path):
    result = run_command("resilience-train", override, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: config: ")
    assert expected in result.stderr, result.stderr
    assert not list(tmp_path.iterdir()), "nothing is written"
