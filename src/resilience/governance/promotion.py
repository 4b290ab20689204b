"""Applying the champion rule to a newly registered version (the registry side of
:mod:`resilience.governance.champion`): load the champion and the best champion so far with their
evidence, find held-out rows none of the evaluated models trained on, compare, decide, record the
decision, the churn and a description on the version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from resilience.data.contract import DataContract
from resilience.data.extract_sample import Held, held_in
from resilience.data.record_age import as_complete_records
from resilience.explain import explain
from resilience.governance.champion import (
    ChampionConfig,
    PromotionDecision,
    Recipe,
    churn,
    decide_promotion,
    paired_comparisons,
)
from resilience.governance.fairness import flagged_groups
from resilience.learn.evidence import ModelEvidence
from resilience.tracking import registry, vetting

log = logging.getLogger(__name__)


def comparison_rows(
    history: pd.DataFrame, contract: DataContract, splits: list[dict], min_rows: int
) -> tuple[pd.DataFrame | None, str]:
    """Labelled rows of a test period that starts after every evaluated model's training span
    (the champion's own test period first), with a description; or None and the reason."""
    dates = pd.to_datetime(history[contract.date_column])
    train_ends = [pd.Timestamp(s["train_end"]) for s in splits if s.get("train_end")]
    if len(train_ends) < len(splits):
        return None, "a model's evidence does not say what it was trained on"
    names = [
        "the champion's test period",
        "the challenger's test period",
        "the best champion's test period",
    ]
    candidates = [
        (names[min(i, 2)], s["test_start"], s["test_end"])
        for i, s in sorted(enumerate(splits), key=lambda item: item[0] == 1)
    ]  # the challenger's own period last
    for name, start, end in candidates:
        if not all(pd.Timestamp(start) > t for t in train_ends):
            continue
        rows = history[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
        if len(rows) >= min_rows and rows[contract.label].nunique() == 2:
            # labelled rows are complete records: a model that learnt from records as they stood
            # reads them at the complete age, whether or not this run learnt from snapshots
            rows = as_complete_records(rows, contract)
            return rows, f"{name} ({start} to {end}, {len(rows)} disruptions)"
    return None, "no labelled period in this extract is unseen by every model compared"


def _comparable(model, contract: DataContract) -> bool:
    return (
        model is not None and model.contract.to_dict()["columns"] == contract.to_dict()["columns"]
    )


def _other_data(held: Held) -> str:
    """Why a challenger that learnt from other data than the champion is not compared with it."""
    return (
        f"the challenger learnt from other data: of {held.within_span} labelled disruptions "
        f"sampled from the champion's data and dated within this extract's span, {held.held} are "
        "in it with the same line, date and outcome. The rule compares a retrain with its "
        "champion on the same data; review both and promote with resilience-promote"
    )


def _recipe_of(evidence: ModelEvidence, fallback_model) -> Recipe:
    if evidence.recipe:
        return Recipe.from_dict(evidence.recipe)
    return Recipe.of(fallback_model)  # a version registered before recipes were recorded


def _churn(challenger, champion, rows: pd.DataFrame) -> dict:
    new, old = explain(challenger, rows), explain(champion, rows)
    return churn(new.probability, old.probability, new.top_concepts, old.top_concepts)


@dataclass
class Comparison:
    """The challenger against the champion (and the best champion so far) on shared held-out rows."""

    champion_recipe: Recipe
    vs_champion: dict | None = None
    vs_best: dict | None = None
    churn: dict | None = None
    period: str = ""
    best_version: str | None = None


def _vetted(name: str, version: str, trusted_keys, loaded: vetting.LoadedModel | None = None):
    """Version ``version`` vetted and loaded with the model it was evaluated as: ``loaded`` when it
    is that version (loaded once when the run started), else from the registry."""
    if loaded is not None and str(loaded.vetted.version) == version:
        return loaded
    uri = f"models:/{name}/{version}"
    return vetting.load_vetted_model(uri, evaluation_model=True, trusted_keys=trusted_keys)


def _best_version(name: str, champion: str) -> str:
    """The best champion so far, or the champion when there is none or it was deleted since
    (nothing left to compare with: the champion is the yardstick)."""
    best = registry.best_champion(name) or champion
    if best != champion and not registry.is_registered(name, best):
        log.warning("best champion version %s was deleted; compared with the champion", best)
        return champion
    return best


def compare_with_champions(
    name: str,
    current_version: str,
    model,
    evidence: ModelEvidence,
    history: pd.DataFrame,
    contract: DataContract,
    config: ChampionConfig,
    trusted_keys: str | None = None,
    loaded: vetting.LoadedModel | None = None,
) -> Comparison:
    """Load the champion (and the best champion so far, if another version) with their evidence,
    vetted (signature and digests, :func:`resilience.tracking.vetting.load_vetted_model`), find
    rows none of the evaluated models trained on, and compare there. ``loaded``: the champion
    already vetted and loaded with its evaluated model, used when it is version ``current_version``."""
    champion = _vetted(name, str(current_version), trusted_keys, loaded)
    champion_evidence = champion.evidence
    result = Comparison(
        _recipe_of(champion_evidence, champion_evidence.evaluation_model),
        period="the champion was trained on a different data contract; compare them by hand",
    )
    best_version = _best_version(name, str(current_version))
    best_evidence = None
    if best_version != str(current_version):
        best_evidence = _vetted(name, best_version, trusted_keys).evidence
        if _comparable(best_evidence.evaluation_model, contract):
            result.best_version = best_version
        else:
            best_evidence = None
    if not _comparable(champion_evidence.evaluation_model, contract):
        return result
    held = held_in(champion_evidence.labelled_sample, history, contract)
    if not held.same_data:
        result.period = _other_data(held)
        return result
    splits = [champion_evidence.split, evidence.split] + (
        [best_evidence.split] if best_evidence else []
    )
    rows, result.period = comparison_rows(history, contract, splits, config.min_rows)
    if rows is None:
        return result
    y, lines = rows[contract.label].astype(int).to_numpy(), rows[contract.line_column].to_numpy()
    p_new = (evidence.evaluation_model or model).persistence_probability(rows)
    result.vs_champion = paired_comparisons(
        y, p_new, champion_evidence.evaluation_model.persistence_probability(rows), lines, config
    )
    if best_evidence is not None:
        result.vs_best = paired_comparisons(
            y,
            p_new,
            best_evidence.evaluation_model.persistence_probability(rows),
            lines,
            config,
            [config.primary_metric],
        )
    result.churn = _churn(model, champion.model, rows)
    return result


def apply_champion_rule(
    version: str,
    model,
    evidence: ModelEvidence,
    recipe: Recipe,
    history: pd.DataFrame,
    contract: DataContract,
    name: str,
    config: ChampionConfig,
    trusted_keys: str | None = None,
    champion: vetting.LoadedModel | None = None,
) -> tuple[PromotionDecision, dict | None]:
    """Make version ``version`` of registered model ``name`` challenger, decide whether it becomes
    champion under the rule's settings ``config``, record everything on it. A champion that does
    not pass vetting is never loaded: the new version stays challenger, with the reason.
    ``champion``: the champion as the run found it, vetted and loaded (used if still champion)."""
    current = registry.champion_version(name)
    comparison = None
    flags = flagged_groups(evidence.fairness)
    if current is None:
        decision = decide_promotion(recipe, None, config, fairness_flags=flags)
    else:
        try:
            comparison = compare_with_champions(
                name,
                str(current.version),
                model,
                evidence,
                history,
                contract,
                config,
                trusted_keys,
                champion,
            )
        except vetting.UnvettedModel as exc:
            return _not_compared(name, version, recipe, evidence, str(current.version), exc)
        decision = _decided(recipe, comparison, config, flags, str(current.version))
    if not decision.promote:  # @challenger only on a version that is not the champion
        registry.set_alias(name, registry.CHALLENGER, version)
    if decision.promote:
        registry.record_champion(name, version)
        reference = comparison and (comparison.vs_best or comparison.vs_champion)
        if not reference or reference[config.primary_metric].improvement >= 0:
            registry.set_best_champion(name, version)
    churned = comparison.churn if comparison else None
    tags = {
        **decision.as_tags(),
        "family": recipe.family,
        "recipe.experiment": recipe.experiment or "default",
        "recipe.data_config": recipe.data_config,
        "recipe.features": len(recipe.features),
    }
    tags.update({f"churn.{k}": f"{v:.4g}" for k, v in (churned or {}).items()})
    registry.tag_version(name, version, tags)
    registry.describe_version(name, version, describe(recipe, evidence, decision, churned))
    log.info("model version %s: %s", version, decision.reason)
    return decision, churned


def _decided(
    recipe: Recipe, comparison: Comparison, config: ChampionConfig, flags, compared_with: str
) -> PromotionDecision:
    """The rule's decision on ``comparison`` with the champion (version ``compared_with``)."""
    compared = comparison.vs_champion is not None
    decision = decide_promotion(
        recipe,
        comparison.champion_recipe,
        config,
        comparison.vs_champion,
        comparison.vs_best,
        comparison.period if compared else "",
        "" if compared else comparison.period,
        flags,
    )
    decision.numbers["compared_with_version"] = compared_with
    if comparison.best_version:
        decision.numbers["best_champion_version"] = comparison.best_version
    return decision


def _not_compared(
    name: str,
    version: str,
    recipe: Recipe,
    evidence: ModelEvidence,
    champion: str,
    problem: Exception,
) -> tuple[PromotionDecision, None]:
    """The decision when the champion (or the best champion) cannot be vetted: nothing of it was
    loaded, so nothing was compared and the new version stays challenger."""
    decision = PromotionDecision(
        False,
        f"kept the champion (version {champion}) without comparing: a champion did not pass "
        f"vetting, so nothing of it was loaded ({problem}). Review both and promote with "
        "resilience-promote",
    )
    registry.tag_version(name, version, {**decision.as_tags(), "family": recipe.family})
    registry.describe_version(name, version, describe(recipe, evidence, decision, None))
    log.warning("model version %s: %s", version, decision.reason)
    return decision, None


def describe(
    recipe: Recipe, evidence: ModelEvidence, decision: PromotionDecision, churned: dict | None
) -> str:
    """The version's description in the registry: what it is, how good, what was decided."""
    metrics, split = evidence.test_metrics, evidence.split
    text = (
        f"{recipe.family} model ({recipe.experiment or 'default recipe'}, data config {recipe.data_config}, "
        f"{len(recipe.features)} features), evaluated on {split.get('test_rows', '?')} held-out disruptions "
        f"{split.get('test_start', '?')} to {split.get('test_end', '?')}: ROC AUC "
        f"{metrics.get('roc_auc', float('nan')):.3f}, calibration error {metrics.get('ece', float('nan')):.3f}. "
        f"Decision: {'champion' if decision.promote else 'challenger'}, {decision.reason}."
    )
    if churned:
        text += (
            f" Against the champion: {churned['band_changed_share']:.0%} of lines change band, median move "
            f"{churned['median_move_points']:.1f} points (90th percentile {churned['p90_move_points']:.1f})"
            + (
                f", {churned['top_reason_changed_share']:.0%} change top reason"
                if "top_reason_changed_share" in churned
                else ""
            )
            + "."
        )
    return text
