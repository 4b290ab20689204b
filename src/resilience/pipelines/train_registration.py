"""What becomes of a version training registers: its digest, the champion rule, the model card and
the registration key's signature, in that order (the signature vouches for all of them)."""

from __future__ import annotations

import logging

from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract
from resilience.governance.card import publish
from resilience.governance.champion import ChampionConfig
from resilience.governance.promotion import apply_champion_rule
from resilience.tracking import registration, registry, signing
from resilience.tracking.store import TrackingConfig
from resilience.tracking.vetting import LoadedModel

log = logging.getLogger(__name__)


def decide_and_sign(
    trained,
    contract: DataContract,
    register: str,
    version: str,
    run_id: str,
    champion_config: ChampionConfig,
    tracking: TrackingConfig,
    governance: dict,
    champion: LoadedModel | None = None,
):
    """A version ``trained`` (:class:`~resilience.pipelines.train.Trained`) registered: its digest
    (shown in the card), the champion rule (against ``champion`` when it is still the champion:
    loaded once when the run started), the card, then the signature last (it vouches for files,
    card and evidence). Returns (promotion, churn, (key id or None, why not)).

    A step that fails withdraws the version (:func:`~resilience.tracking.registry.withdraw`): the
    registry is left as it was, with no version unsigned and undecided for a person to promote."""
    before = registry.state(register)
    try:
        registration.record_digest(register, version)
        promotion, churn = apply_champion_rule(
            version,
            trained.model,
            trained.evidence,
            trained.recipe,
            trained.rows.scoring_rows,  # rows as scoring meets them
            contract,
            register,
            champion_config,
            tracking.trusted_keys,
            champion,
        )
        publish(register, version, governance)
        return promotion, churn, sign_registered(register, version, tracking, run_id)
    except BaseException as exc:
        registry.withdraw(register, version, before)
        withdrawn = f"version {version} of {register} was withdrawn: the registry is as it was"
        if isinstance(exc, ResilienceError):  # the one line the user reads says so
            exc.args = (f"{exc} ({withdrawn})", *exc.args[1:])
        else:
            log.error("registration stopped (%s); %s", type(exc).__name__, withdrawn)
        raise


def sign_registered(
    name: str, version: str, tracking: TrackingConfig, run_id: str
) -> tuple[str | None, str]:
    """Sign a version just registered (its files, card and evidence) with the registration key;
    returns the key's id, or None and why when there is no usable key: the version then stays
    unsigned and scoring refuses it until a person signs it (``resilience-sign``)."""
    try:
        key = signing.load_private_key(signing.private_key_path(tracking.signing_key))
    except ResilienceError as exc:
        return None, str(exc)
    statement = registration.sign_version(
        name,
        version,
        key,
        "resilience-train",
        f"registered by training run {run_id}",
        tracking.trusted_keys,
    )
    return statement.key_id, ""
