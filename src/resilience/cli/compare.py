"""resilience-compare: a leaderboard of recipes trained on one split (see
:mod:`resilience.pipelines.compare`); one table and one HTML page, logged to MLflow."""

from __future__ import annotations

from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed

OWN_KEYS = ("recipes", "reference", "output_root", "champion_uri")  # not training settings
# training settings a leaderboard cannot honour: refused, never silently ignored
NOT_COMPARED = {
    "rerun": "it trains each recipe afresh; reproduce a run with resilience-train rerun=<run id>",
    "snapshots": "it compares recipes on final records; to judge records as they stood, use "
    "resilience-backtest or resilience-train snapshots=<folder>",
    "sweep.n_trials": "it trains each recipe once; run a study with resilience-train "
    "experiment=sweep_lightgbm",
}


def _refuse_not_compared(name: str, recipe: DictConfig) -> None:
    """A recipe's setting the leaderboard would otherwise ignore: one line, before data are read."""
    from resilience.core.errors import ConfigError

    for key, why in NOT_COMPARED.items():
        value = OmegaConf.select(recipe, key)
        if value:
            raise ConfigError(f"{key}={value} ({name}): resilience-compare does not take it: {why}")


def _recipe_configs(cfg: DictConfig) -> dict[str, DictConfig]:
    """Each recipe's training config: the command line's training settings and its experiment."""
    from resilience.core.errors import ConfigError

    shared = [
        o for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=")[0] not in OWN_KEYS
    ]
    configs = {}
    for name in cfg.recipes:
        recipe = compose("train", overrides=[*shared, f"experiment={name}"])
        _refuse_not_compared(str(name), recipe)
        if recipe.row_filter:
            raise ConfigError(
                f"recipes: {name} keeps only some rows (row_filter), so it cannot share one split "
                "with the others; compare it with resilience-train instead"
            )
        configs[str(name)] = recipe
    if cfg.reference is not None and cfg.reference not in configs:
        raise ConfigError(f"reference={cfg.reference}: not one of recipes ({', '.join(configs)})")
    return configs


def _champion(uri: str, trusted_keys=None):
    """The registered champion (for churn), or None when there is none."""
    from resilience.core.errors import ResilienceError
    from resilience.tracking.vetting import load_persistence_model

    try:
        model, vetted = load_persistence_model(uri, trusted_keys=trusted_keys)
    except ResilienceError:
        return None, None
    return model, f"version {vetted.version}"


@hydra_app("compare")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within seconds
    from resilience.cli.train import build_recipe
    from resilience.data.asof import as_of_from_setting, check_training_extract
    from resilience.data.contract import DataContract
    from resilience.data.validate import load_extract
    from resilience.learn.evaluation import EvaluationConfig
    from resilience.learn.segments import maybe_segmented
    from resilience.learn.split import SplitConfig
    from resilience.pipelines.compare import compare_recipes, track_leaderboard
    from resilience.pipelines.train_inputs import require_both_outcomes
    from resilience.tracking import store

    contract = DataContract.from_dict(cfg.data)
    configs = _recipe_configs(cfg)
    champion_config, tracking = tracking_configs(cfg)
    store.connect(tracking)
    store.check_store(must_exist=False)
    history = load_extract(cfg.input, contract, require_label=True).frame
    require_both_outcomes(history, contract.label, str(cfg.input))
    # labels that could not be known yet are refused, as training refuses them
    as_of = as_of_from_setting(cfg.as_of, cfg.input, contract)
    check_training_extract(history, contract, as_of, source=str(cfg.input))
    recipes = {
        name: maybe_segmented(build_recipe(c, DataContract.from_dict(c.data)), c.segment_by)
        for name, c in configs.items()
    }
    champion, champion_name = _champion(str(cfg.champion_uri), tracking.trusted_keys)
    board = compare_recipes(
        history,
        contract,
        recipes,
        typed(SplitConfig, cfg.split),
        typed(EvaluationConfig, cfg.evaluation),
        champion_config,
        reference=cfg.reference,
        champion_model=champion,
        champion_name=champion_name,
    )
    folder = Path(cfg.output_root) / f"labels-to-{board.labels_to}"
    run_id = track_leaderboard(board, folder, tracking, contract.name)
    columns = ["recipe", "roc_auc", "pr_auc", "calibration_error", "brier"]
    print(board.table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"leaderboard: {folder / 'leaderboard.html'} (MLflow run {run_id})")


if __name__ == "__main__":
    main()
