"""resilience-backtest: the weekly decision replayed after a cutoff (resilience.pipelines.backtest)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed
from resilience.cli.train import _recipe_and_settings
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256
from resilience.data.snapshots import find_snapshots
from resilience.data.validate import load_extract
from resilience.pipelines.backtest import BacktestConfig, backtest_and_track
from resilience.pipelines.train import TrainingData
from resilience.pipelines.train_inputs import filter_rows, load_truth
from resilience.tracking import store
from resilience.weekly.priority import load_priority_policy


@hydra_app("backtest")
def main(cfg: DictConfig) -> None:
    contract = DataContract.from_dict(cfg.data)
    config = typed(BacktestConfig, cfg.backtest)  # a bad cutoff fails before any work
    champion, tracking = tracking_configs(cfg)
    store.connect(tracking)
    extract = load_extract(cfg.input, contract, require_label=True)
    data = TrainingData(
        filter_rows(extract.frame, cfg.row_filter),
        contract,
        cfg.input,
        file_sha256(cfg.input),
        truth=load_truth(cfg.truth, Path(cfg.input), contract),
        snapshots=find_snapshots(cfg.snapshots),
    )
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
