"""resilience-backtest: the weekly decision replayed after a cutoff (resilience.pipelines.backtest)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed
from resilience.cli.train import _recipe_and_settings, training_data


@hydra_app("backtest")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: --help and a bad one take a second
    from resilience.data.contract import DataContract
    from resilience.pipelines.backtest import BacktestConfig, backtest_and_track
    from resilience.tracking import store
    from resilience.weekly.priority import load_priority_policy

    contract = DataContract.from_dict(cfg.data)
    config = typed(BacktestConfig, cfg.backtest)  # a bad cutoff fails before any work
    champion, tracking = tracking_configs(cfg)
    store.connect(tracking)
    data = training_data(cfg, contract)  # its as_of is the cutoff's (pipelines/backtest.py)
    recipe, settings = _recipe_and_settings(cfg, contract, champion, tracking, None)
    policy = load_priority_policy(None, contract)
    backtest, run_id = backtest_and_track(
        data, recipe, settings, config, Path(cfg.output), cfg.experiment_name, policy
    )
    summary = backtest.summary
    print(
        f"backtest as of {config.cutoff}: {summary['weeks_replayed']} weeks replayed, "
        f"{summary['rows_judged']:,} scored lines judged on outcomes known now"
    )
    print(f"page: {cfg.output}; MLflow run {run_id} in experiment '{cfg.experiment_name}'")


if __name__ == "__main__":
    main()
