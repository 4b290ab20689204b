"""The registry side of MLflow: registered versions, their aliases and tags, the champion history
(for rollbacks) and the best champion so far (the cumulative budget's yardstick).

The champion rule itself is pure and lives in :mod:`resilience.governance.champion`; applying it
(:mod:`resilience.governance.promotion`) records its decisions through this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from resilience.core.errors import ResilienceError
from resilience.tracking.store import registry_label

CHAMPION, CHALLENGER = "champion", "challenger"
# what a rollback records on the version it took the champion alias from
ROLLBACK_TAGS = ("promotion.rolled_back", "promotion.rollback_reason", "promotion.rollback_by")
CHAMPION_HISTORY_TAG, BEST_CHAMPION_TAG = "champion_history", "champion_best"


def _version_for_uri(client, model_uri: str):
    """The registered ModelVersion a ``models:/`` URI names (``name@alias``, ``name/N``, ``m-<id>``)."""
    body = model_uri[len("models:/") :].strip("/")
    try:
        if "@" in body and "/" not in body:
            name, alias = body.rsplit("@", 1)
            return client.get_model_version_by_alias(name, alias)
        if "/" in body:
            name, number = body.rsplit("/", 1)
            if not number.isdigit():
                raise ResilienceError(
                    f"'{model_uri}': give a version number or an alias "
                    "(models:/<name>/<N> or models:/<name>@<alias>)"
                )
            return client.get_model_version(name, number)
        # MLflow 3 logged-model URI models:/m-<id>: only as the source of a registered version
        client.get_logged_model(body)
        # a version registered from a logged model has it as its source (the SQL store keeps no model_id)
        matches = [
            v
            for v in client.search_model_versions(max_results=10_000)
            if getattr(v, "model_id", None) == body
            or str(v.source).rstrip("/") == f"models:/{body}"
        ]
        if not matches:
            raise ResilienceError(
                f"'{model_uri}' is a logged model that was never registered in "
                f"{registry_label()}; only registered versions with a model card are used"
            )
        return client.get_model_version(matches[0].name, matches[0].version)
    except MlflowException as exc:
        raise ResilienceError(
            f"no registered model at '{model_uri}' in {registry_label()}: {exc.message}"
        ) from exc


def model_version_info(model_uri: str) -> dict[str, Any]:
    """Name, version, run id, source and tags of a registered version (``models:/name@alias``,
    ``models:/name/N`` or ``models:/m-<id>``); other URIs give an all-None record."""
    if not str(model_uri).startswith("models:/"):
        return {"name": None, "version": None, "run_id": None, "source": None, "tags": {}}
    version = _version_for_uri(MlflowClient(), str(model_uri))
    return {
        "name": version.name,
        "version": str(version.version),
        "run_id": version.run_id,
        "source": version.source,
        "tags": dict(version.tags or {}),
    }


def version_and_run(name: str, version: str):
    """A registered version and the run that made it."""
    client = MlflowClient()
    model_version = client.get_model_version(name, str(version))
    return model_version, client.get_run(model_version.run_id)


def champion_version(name: str):
    """The registered version with alias ``champion``, or None."""
    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def tag_version(name: str, version: str, tags: Mapping[str, Any]) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def _champion_history(name: str) -> list[str]:
    """Versions that have been champion, oldest first (kept as a registered-model tag)."""
    model = MlflowClient().get_registered_model(name)
    text = (model.tags or {}).get(CHAMPION_HISTORY_TAG, "")
    return [v for v in text.split(",") if v]


def record_champion(name: str, version: str) -> None:
    """Make ``version`` champion and append it to the champion history (for rollbacks)."""
    history = _champion_history(name)
    if not history or history[-1] != str(version):
        history.append(str(version))
    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, ",".join(history))
    try:  # @challenger names a version that is not the champion (a store may give it as a number)
        if str(client.get_model_version_by_alias(name, CHALLENGER).version) == str(version):
            client.delete_registered_model_alias(name, CHALLENGER)
    except MlflowException:  # no challenger
        pass


def best_champion(name: str) -> str | None:
    """The version that scored best among champions so far (the cumulative budget's yardstick)."""
    return (MlflowClient().get_registered_model(name).tags or {}).get(BEST_CHAMPION_TAG) or None


def set_best_champion(name: str, version: str) -> None:
    MlflowClient().set_registered_model_tag(name, BEST_CHAMPION_TAG, str(version))


def describe_version(name: str, version: str, description: str) -> None:
    """The version's description in the registry UI (what it is and what was decided)."""
    MlflowClient().update_model_version(name, str(version), description=description[:5000])


def promote_explicitly(name: str, version: str, reason: str, by: str | None) -> None:
    """A person makes ``version`` champion; the decision is recorded on the version."""
    client = MlflowClient()
    try:
        tags = client.get_model_version(name, version).tags or {}
    except MlflowException as exc:
        raise ResilienceError(
            f"no version {version} of registered model {name}: {exc.message}"
        ) from exc
    record_champion(name, version)
    for key in ROLLBACK_TAGS:  # champion again: no longer "rolled back" (as its decision is new)
        if key in tags:
            client.delete_model_version_tag(name, version, key)
    tag_version(
        name,
        version,
        {
            "promotion.decision": "champion (explicit)",
            "promotion.reason": reason,
            "promotion.by": by or "unrecorded",
        },
    )


class Rollback(NamedTuple):
    """What a rollback does: ``current``, the last champion in the history; ``previous``, the
    version it makes champion again; ``deleted``, earlier champions passed over because they were
    deleted; ``history``, the champion history afterwards (up to ``previous``)."""

    current: str | None
    previous: str
    deleted: list[str]
    history: list[str]


def rollback_plan(name: str) -> Rollback:
    """The rollback of registered model ``name``: back to the latest earlier champion that is
    still registered. Refused when there is none to go back to, and when the champion alias was
    moved outside resilience-promote (it is not the last champion in the history): which version
    the rollback leaves would be a guess."""
    history = _champion_history(name)
    current, deleted = (history[-1] if history else None), []
    champion = champion_version(name)
    if champion is not None and str(champion.version) != current:
        raise ResilienceError(
            f"{name}'s champion is version {champion.version}, but its champion history ends with "
            f"{current or 'nothing'}: the champion alias was moved outside resilience-promote, so "
            "what to roll back to is unclear. Nothing was changed; promote the version wanted "
            "explicitly: resilience-promote version=<N> reason=... by=..."
        )
    for index in range(len(history) - 2, -1, -1):
        if history[index] == current:
            continue
        if is_registered(name, history[index]):
            return Rollback(current, history[index], deleted, history[: index + 1])
        deleted.append(history[index])
    gone = f"; deleted since: {', '.join(deleted)}" if deleted else ""
    raise ResilienceError(
        f"{name} has no earlier champion to roll back to (history: {history or 'empty'}{gone}); "
        "promote a version explicitly: resilience-promote version=<N> reason=... by=..."
    )


def is_registered(name: str, version: str) -> bool:
    """Whether version ``version`` of registered model ``name`` exists (not deleted)."""
    try:
        MlflowClient().get_model_version(name, version)
    except MlflowException:  # deleted
        return False
    return True


def rollback_champion(name: str, reason: str, by: str | None, plan: Rollback | None = None) -> str:
    """Make the previous champion still registered champion again; returns its version. The
    history keeps the champions up to it (a deleted one passed over is dropped from it).
    ``plan``: the :func:`rollback_plan` already read (the command vets its target first)."""
    plan = plan or rollback_plan(name)
    current, previous = plan.current, plan.previous
    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, ",".join(plan.history))
    if is_registered(name, current):  # a champion deleted since carries no tags
        tag_version(
            name,
            current,
            {
                ROLLBACK_TAGS[0]: "true",
                ROLLBACK_TAGS[1]: reason,
                ROLLBACK_TAGS[2]: by or "unrecorded",
            },
        )
    tag_version(
        name, previous, {"promotion.decision": "champion (rollback)", "promotion.reason": reason}
    )
    return previous


def state(name: str) -> dict[str, dict[str, str]]:
    """What a registration may change on registered model ``name``: its champion and challenger
    aliases and its champion-history and best-champion tags ({} parts when it has none yet)."""
    try:
        model = MlflowClient().get_registered_model(name)
    except MlflowException:
        return {"aliases": {}, "tags": {}}
    aliases = {a: str(v) for a, v in (model.aliases or {}).items() if a in (CHAMPION, CHALLENGER)}
    tags = {
        t: v
        for t, v in (model.tags or {}).items()
        if t in (CHAMPION_HISTORY_TAG, BEST_CHAMPION_TAG)
    }
    return {"aliases": aliases, "tags": tags}


def withdraw(name: str, version: str, before: Mapping[str, Mapping[str, str]]) -> None:
    """Undo a registration that failed part-way: the aliases and tags of :func:`state` as they
    were ``before``, then version ``version`` deleted, so no half-registered version (unsigned,
    without its card or decision) is left for a person to promote."""
    client = MlflowClient()
    now = state(name)
    for alias in (CHAMPION, CHALLENGER):
        if alias in before["aliases"]:
            client.set_registered_model_alias(name, alias, before["aliases"][alias])
        elif alias in now["aliases"]:
            client.delete_registered_model_alias(name, alias)
    for tag in (CHAMPION_HISTORY_TAG, BEST_CHAMPION_TAG):
        if tag in before["tags"]:
            client.set_registered_model_tag(name, tag, before["tags"][tag])
        elif tag in now["tags"]:
            client.delete_registered_model_tag(name, tag)
    client.delete_model_version(name, str(version))
