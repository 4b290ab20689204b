"""How a column earns its place in a reason beyond the null test (:mod:`resilience.explain.screen`,
whose ``ScreenConfig`` holds the levels used here): each rule takes the screen's table (one row per
feature and per concept) and says, in the rows it changes, on what evidence.

* a column that **summarises others** only with an effect of its own (:func:`judge_summaries`);
* the **cohort column** for the calibrator's offset, on the calibration's own tests
  (:func:`judge_cohort`);
* what the registered champion showed, while this run's evidence stays clear
  (:func:`keep_champion_verdicts`);
* a **concept through its earned columns** when it beats its null as a whole
  (:func:`concepts_of_earned_columns`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.data.contract import DataContract
from resilience.explain.resamples import own_effect


def judge_summaries(table: pd.DataFrame, draws, contract: DataContract, config) -> None:
    """A summary column is earned only with an effect of its own (held-out log loss lower with it,
    one-sided at ``summary_alpha``); the evidence goes in its row."""
    table["own_effect_gain"] = np.nan
    table["own_effect_p_value"] = np.nan
    for column, columns in contract.summaries.items():
        at = (table["kind"] == "feature") & (table["name"] == column)
        if not at.any() or config.summary_alpha <= 0:
            continue
        test = own_effect(draws.gains.get(column, np.zeros(0)), draws.lines)
        table.loc[at, ["own_effect_gain", "own_effect_p_value"]] = test["gain"], test["p_value"]
        if test["p_value"] >= config.summary_alpha:
            table.loc[at, "earned"] = False
            table.loc[at, "verdict"] = (
                f"summarises {', '.join(contract.describe(c) for c in columns[:3])}"
                f"{' and more' if len(columns) > 3 else ''}: no effect of its own "
                f"(held-out loss, p = {test['p_value']:.2g})"
            )


def judge_cohort(table: pd.DataFrame, model, config) -> None:
    """The cohort column (line type) carries, beside its trees' share, the calibrator's offset for
    its cohort, which the permuted refits (no calibrator) never see. Where the calibration's own
    tests find that the cohorts differ (:meth:`~resilience.learn.models.PersistenceModel.
    cohort_evidence`, below ``cohort_alpha``), the column and its concept are earned on that
    evidence; the p-value goes in their rows."""
    table["cohort_p_value"] = np.nan
    evidence = model.cohort_evidence() if config.cohort_alpha > 0 else None
    if evidence is None:
        return
    column, p_value = evidence
    feature = (table["kind"] == "feature") & (table["name"] == column)
    if not feature.any():
        return
    concept = (table["kind"] == "concept") & (
        table["name"] == table.loc[feature, "concept"].iloc[0]
    )
    table.loc[feature | concept, "cohort_p_value"] = p_value
    if p_value >= config.cohort_alpha:
        return
    for at in (feature, concept):
        if not table.loc[at, "earned"].all():
            table.loc[at, "earned"] = True
            table.loc[at, "verdict"] = (
                f"earned by the calibration by {column}: its values' levels differ "
                f"(p = {p_value:.2g}), an offset the refits without a calibrator cannot see"
            )


def keep_champion_verdicts(table: pd.DataFrame, config, champion) -> pd.DataFrame:
    """``table`` (of :func:`null_importance`) with what the ``champion``'s screen showed kept
    earned while this run's evidence stays clear: it beats its null by ``keep_ratio`` at least,
    and a summary column has an effect of its own; or, the cohort column and its concept, the
    calibration still finds the cohorts differ below ``cohort_keep_alpha`` (``kept`` marks those
    rows). A champion trained without a screen (it showed everything) keeps nothing."""
    table = table.copy()
    table["kept"] = False
    if champion is None or not config.keep_ratio or champion.mode == "none":
        return table
    shown = {"feature": set(champion.earned_features), "concept": set(champion.earned_concepts)}
    no_own_effect = table["own_effect_p_value"].to_numpy(float) >= config.summary_alpha
    was_shown = np.array(
        [name in shown.get(kind, ()) for kind, name in zip(table["kind"], table["name"])],
        dtype=bool,
    )
    keep = (
        ~table["earned"].to_numpy(bool)
        & table["beats_null"].to_numpy(bool)
        & (table["ratio"].to_numpy(float) >= config.keep_ratio)
        & ~no_own_effect
        & was_shown
    )
    table.loc[keep, ["earned", "kept"]] = True
    table.loc[keep, "verdict"] = [
        f"kept: shown by the champion and still {ratio:.1f}x its null "
        f"(to stay {config.keep_ratio:g}x, to enter {config.min_ratio:g}x)"
        for ratio in table.loc[keep, "ratio"]
    ]
    # the cohort column (and its concept) the champion showed for its offset: the same hysteresis
    # on the calibration's evidence
    cohort_p = table.get("cohort_p_value", pd.Series(np.nan, index=table.index)).to_numpy(float)
    stays = ~table["earned"].to_numpy(bool) & was_shown & (cohort_p < config.cohort_keep_alpha)
    table.loc[stays, ["earned", "kept"]] = True
    table.loc[stays, "verdict"] = [
        f"kept: shown by the champion for its calibration offset, the levels still differing "
        f"(p = {p:.2g}; to stay {config.cohort_keep_alpha:g}, to enter {config.cohort_alpha:g})"
        for p in cohort_p[stays]
    ]
    return table


def concepts_of_earned_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each concept that holds an earned column earned too, when the concept as a
    whole beats its null (``through`` names the columns). A concept's null is that of the sum of
    its columns, so columns without an effect beside a strong one can keep it below ``min_ratio``;
    what the concept then shows is only its earned columns' points, each resting on its own test.
    A concept whose columns cancel out to noise stays unearned."""
    table = table.copy()
    features = table[(table["kind"] == "feature") & table["earned"]]
    through = features.groupby("concept", sort=False)["name"].agg(list)
    at = (
        (table["kind"] == "concept")
        & ~table["earned"]
        & table["beats_null"]
        & table["name"].isin(through.index)
    )
    table["through"] = ""
    table.loc[at, "through"] = [", ".join(through[name]) for name in table.loc[at, "name"]]
    table.loc[at, "earned"] = True
    table.loc[at, "verdict"] = [
        f"shown for its earned column(s) {names} ({ratio:.1f}x its null as a whole)"
        for names, ratio in zip(table.loc[at, "through"], table.loc[at, "ratio"])
    ]
    return table
