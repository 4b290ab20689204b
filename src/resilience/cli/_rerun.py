"""``resilience-train rerun=<run id>``: a logged training run, trained again.

The run logged its overrides (``config/overrides.txt``), its input's path (tag ``input``) and the
input's SHA-256 (tag ``data_sha256``); the config is recomposed from the overrides, with the
command line's own overrides on top (``input=`` when the data moved), and the data are refused
unless their digest equals the logged one. Training is seeded, so the test metrics repeat
(LightGBM's threads: run with the same ``RESILIENCE_N_JOBS`` for bit-identical trees).
"""

from __future__ import annotations

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

OVERRIDES_ARTIFACT = "config/overrides.txt"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def rerun_config(run_id: str) -> tuple[DictConfig, list[str], str]:
    """The logged run's config recomposed, the overrides it was composed from, and the digest its
    data must have."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from resilience.core.errors import ResilienceError
    from resilience.tracking.runs import artifact_text

    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise ResilienceError(f"rerun={run_id}: no such run in the tracking store") from exc
    logged = artifact_text(run_id, OVERRIDES_ARTIFACT)
    if logged is None or "data_sha256" not in run.data.tags:
        raise ResilienceError(
            f"rerun={run_id}: the run did not log its overrides ({OVERRIDES_ARTIFACT}) and its "
            "data's hash (tag data_sha256), so it cannot be reproduced"
        )
    own = [o for o in HydraConfig.get().overrides.task if _key(o) != "rerun"]
    given = {_key(o) for o in own}
    overrides = [_replayable(o) for o in logged.splitlines() if o and _key(o) not in given]
    if "input" not in given:
        overrides.append(f"input={run.data.tags['input']}")
    overrides += own
    return compose("train", overrides=overrides), overrides, run.data.tags["data_sha256"]


def _replayable(override: str) -> str:
    """A logged override as it replays today: a data config's column setting was typed by Hydra's
    schema in runs before 2026-12-05 (every key there, so set without ``+``); it is now checked by
    the contract, and a key the file does not write is added, so it replays as ``++`` (add or
    override)."""
    return f"++{override}" if override.startswith("data.columns.") else override


def check_same_data(run_id: str, path: str, expected: str, actual: str) -> None:
    """Refuse data whose digest differs from the run's."""
    from resilience.core.errors import ResilienceError

    if expected != actual:
        raise ResilienceError(
            f"rerun={run_id}: {path} has SHA-256 {actual[:12]}…, but the run was trained on data "
            f"with SHA-256 {expected[:12]}…; point input= at the data the run used"
        )
