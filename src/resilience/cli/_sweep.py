"""The train command's study, at the config edge: ``sweep.space`` read in Hydra's sweep syntax
and turned into Optuna distributions, each trial's settings applied to a copy of the config, and
what a study must keep to be resumed (:mod:`resilience.pipelines.sweep` runs it).

The syntax is Hydra's own (its override parser reads it), as the retired Optuna sweeper plugin
read it: ``choice(7, 15, 31)`` a categorical choice, ``interval(0.5, 1.0)`` a float range,
``int(interval(20, 200))`` an integer range, ``tag(log, interval(...))`` either on a log scale,
``range(1, 10, 2)`` the values of a stepped range.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from resilience.core.errors import ConfigError, nearest
from resilience.learn.params import check_params
from resilience.pipelines.sweep import StudyOutcome, SweepConfig, sweep
from resilience.tracking.runs import ParentRun, flatten
from resilience.tracking.store import TrackingConfig, resolve_tracking_uri

# Keys that change where a trial is recorded or how fast it runs, not what it measures: a study
# resumes whatever they are.
NOT_STUDY_SETTINGS = ("sweep.n_trials", "input", "mlflow.", "governance.")


def search_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """``sweep.space`` (config key -> sweep syntax; nested keys are joined with dots) as Optuna
    distributions, or a :class:`ConfigError` naming the key."""
    parser = OverridesParser.create()
    out = {}
    for key, text in flatten(space).items():
        try:
            override = parser.parse_override(f"{key}={text}")
            if not override.is_sweep_override():
                raise ValueError("a fixed value, not a search dimension (set it as an override)")
            # an interval has no values to list; a choice or a range has
            values = [] if override.is_interval_sweep() else list(override.sweep_iterator())
            out[key] = _distribution(override.value(), values)
        except (HydraException, ValueError, TypeError) as exc:
            raise ConfigError(
                f"sweep.space: {key}: {text!r}: {str(exc).splitlines()[0]} (expected choice(a, b), "
                "interval(a, b), int(interval(a, b)), tag(log, interval(a, b)) or range(a, b, step))"
            ) from exc
    return out


def _distribution(value: Any, values: list) -> BaseDistribution:
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(values)
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    if isinstance(value, RangeSweep) and values and all(isinstance(v, int) for v in values):
        return IntDistribution(min(values), max(values), step=abs(int(value.step)))
    if isinstance(value, RangeSweep) and values:
        return CategoricalDistribution(values)
    raise ValueError("an empty range")


def with_settings(cfg: DictConfig, settings: Mapping[str, Any]) -> DictConfig:
    """A copy of ``cfg`` with each ``key: value`` of ``settings`` in place; a key the command does
    not have, or a value of the wrong type, is a :class:`ConfigError` naming the nearest key."""
    trial = copy.deepcopy(cfg)
    for key, value in settings.items():
        try:
            OmegaConf.update(trial, key, value, merge=False)
        except OmegaConfBaseException as exc:
            close = nearest(key, flatten(OmegaConf.to_container(cfg, resolve=False)))
            hint = f"; did you mean '{close}'?" if close and close != key else ""
            raise ConfigError(
                f"sweep.space: {key}={value!r}: {str(exc).splitlines()[0]}{hint}"
            ) from exc
    return trial


def first_values(space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """One value of each dimension (its low end or first choice): to check the space before any work."""
    return {
        key: dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low
        for key, dist in space.items()
    }


def study_settings(cfg: DictConfig, data_sha256: str) -> dict[str, str]:
    """What a study must keep to be resumed: the resolved config, less what does not change what
    a trial measures, and the data's SHA-256."""
    flat = flatten(OmegaConf.to_container(cfg, resolve=True))
    kept = {
        key: str(value)
        for key, value in flat.items()
        if not key.startswith(NOT_STUDY_SETTINGS) and not key.endswith("n_jobs")
    }
    return {**kept, "data_sha256": data_sha256}


def checked_space(cfg: DictConfig, config: SweepConfig) -> dict[str, BaseDistribution]:
    """The study's search space (empty for one ordinary run), checked before any work: each key
    is a setting of the command and each model parameter one the model family knows."""
    if config.n_trials < 0 or (config.n_trials and not config.space):
        raise ConfigError(
            f"sweep.n_trials={config.n_trials}: expected 0 (one run) or a number of trials over "
            "a search space declared in sweep.space (see experiments/sweep_lightgbm.yaml)"
        )
    space = search_space(config.space) if config.n_trials else {}
    probe = with_settings(cfg, first_values(space))
    check_params(probe.model.family, OmegaConf.to_container(probe.model.params, resolve=True))
    return space


def trial_overrides(given: list[str], settings: Mapping[str, Any]) -> list[str]:
    """What replays one trial as one run (``resilience-train rerun=<its run id>``): the command
    line's overrides (``given``) but the study's size, the trial's sampled settings and no study."""
    keys = {*settings, "sweep.n_trials"}
    own = [o for o in given if o.split("=", 1)[0].lstrip("+~") not in keys]
    sampled = [
        f"++{key}={str(value).lower() if isinstance(value, bool) else value}"
        for key, value in settings.items()
    ]
    return [*own, *sampled, "sweep.n_trials=0"]


# (the trial's config, where it is tracked, the parent run, the overrides that replay it) ->
# its training run's result
TrainTrial = Callable[[DictConfig, TrackingConfig, ParentRun, list[str]], Any]


def run_study(
    cfg: DictConfig,
    config: SweepConfig,
    space: Mapping[str, BaseDistribution],
    data_sha256: str,
    tracking: TrackingConfig,
    train_trial: TrainTrial,
) -> float:
    """Run (or resume) the study of ``train_trial`` runs; trials register nothing. Prints the
    best trial and returns its value."""
    trials_tracking = replace(tracking, register=False)
    metric = cfg.optimized_metric

    def objective(settings: dict, number: int, parent: ParentRun) -> tuple[float | None, str]:
        replay = trial_overrides(list(HydraConfig.get().overrides.task), settings)
        result = train_trial(with_settings(cfg, settings), trials_tracking, parent, replay)
        return result.evaluation.metrics.get(metric), result.run_id

    name = config.name or cfg.run_name or HydraConfig.get().runtime.choices.get("experiment")
    outcome = sweep(
        config,
        name or "sweep",
        space,
        objective,
        tracking,
        metric,
        study_settings(cfg, data_sha256),
        say=lambda text: print(text, file=sys.stderr, flush=True),
    )
    report(outcome, metric, resolve_tracking_uri(tracking.tracking_uri))
    return outcome.best_value


def report(
    outcome: StudyOutcome, metric: str, tracking_uri: str, say: Callable[[str], None] = print
) -> None:
    """The study's standing and its best trial's settings, as overrides a user can paste."""
    settings = " ".join(f"{key}={value}" for key, value in outcome.best_params.items())
    say(
        f"study {outcome.name} ({outcome.storage}): {outcome.complete} complete trials, "
        f"{outcome.ran} run now"
    )
    say(
        f"best trial {outcome.best_number}: {metric} {outcome.best_value:.4f} "
        f"(MLflow run {outcome.best_run_id}, under parent run {outcome.parent_run_id})"
    )
    say(f"its settings: {settings}")
    say(f"to train and register it: resilience-train {settings} (with your other overrides)")
    say(f"see it in MLflow: make mlflow-ui  (tracking URI {tracking_uri})")
