"""What each tactic's review compares, and what it adjusts for, read from the data config.

A tactic is a column the data config marks ``tactic: <n>`` (:attr:`DataContract.tactics`).
Given or not: a yes/no tactic as recorded; a count, **any against none** (at least one against
zero); a category tactic, any level against the one it declares ``untreated``.

**Adjustment set.** The line's characteristics as of the disruption (features whose ``describes``
is in :attr:`ReviewSettings.adjust_describes`, by default ``line`` and ``place``) and the tactics
ordered strictly **before** the one estimated (:meth:`DataContract.tactics_before`). Never a tactic
of the same step or after it, nor any other column describing the disruption (seizures, the grade,
safeguarding referrals: they may follow from the tactic), unless the force names it in
``adjust_also`` (a column it knows precedes every tactic). Safeguarding referrals are a duty, not
a tactic: the contract never marks them, so they are never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.data.contract import DataContract
from resilience.tactics.settings import ReviewSettings


@dataclass(frozen=True)
class TacticDesign:
    """One tactic's comparison: the column, its words, and the columns adjusted for."""

    tactic: str
    label: str
    comparison: str
    adjustment: tuple[str, ...]


def _comparison(contract: DataContract, tactic: str) -> str:
    spec = contract.column(tactic)
    if spec.dtype == "bool":
        return "given against not given"
    if spec.dtype in ("int", "float"):
        return "any against none"
    return f"any other level against '{spec.untreated}'"


def tactic_designs(contract: DataContract, settings: ReviewSettings) -> list[TacticDesign]:
    """Every tactic of the data config, in order, with its adjustment set."""
    if not contract.tactics:
        raise ConfigError(
            f"data config '{contract.name}': no column is marked as a tactic (`tactic: <n>`), "
            "so there is nothing to review"
        )
    tactics = set(contract.tactics)
    for name in tactics:
        spec = contract.column(name)
        if spec.dtype == "category" and spec.untreated is None:
            raise ConfigError(
                f"data config '{contract.name}', column '{name}': a category tactic must name its "
                f"level meaning 'not given' with `untreated:` (one of {list(spec.allowed or ())})"
            )
    for name in settings.adjust_also:
        if name not in contract.column_names or name in tactics or name == contract.label:
            raise ConfigError(
                f"adjust_also: '{name}' must be a column of data config '{contract.name}' that is "
                "neither a tactic nor the label"
            )
    base = [
        c.name
        for c in contract.columns
        if c.role == "feature"
        and c.describes in settings.adjust_describes
        and c.name not in tactics
    ]
    base += [n for n in settings.adjust_also if n not in base]
    unknown = sorted(set(settings.tactics) - tactics)
    if unknown:
        raise ConfigError(
            f"tactics: {unknown} are not tactics of data config '{contract.name}' "
            f"(its tactics: {', '.join(contract.tactics)})"
        )
    return [
        TacticDesign(
            tactic=t,
            label=contract.describe(t),
            comparison=_comparison(contract, t),
            adjustment=tuple(base) + contract.tactics_before(t),
        )
        for t in contract.tactics
        if not settings.tactics or t in settings.tactics
    ]


def given(frame: pd.DataFrame, contract: DataContract, tactic: str) -> np.ndarray:
    """Whether each disruption received the tactic (a count: at least one)."""
    spec = contract.column(tactic)
    values = frame[tactic]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0]) + 1
        raise ConfigError(
            f"column '{tactic}': a tactic must be recorded on every disruption (empty at row {row})"
        )
    if spec.dtype == "bool":
        return values.astype(bool).to_numpy()
    if spec.dtype in ("int", "float"):
        return (values.astype(float) > 0).to_numpy()
    return (values.astype(str) != str(spec.untreated)).to_numpy()


def covariates(
    frame: pd.DataFrame, contract: DataContract, columns: tuple[str, ...]
) -> pd.DataFrame:
    """The adjustment columns as numbers for the nuisance models: categories and text as codes
    (in the data config's order of allowed levels where it gives one), yes/no as 0/1, empty as NaN."""
    out = {}
    for name in columns:
        spec = contract.column(name)
        values = frame[name]
        if spec.dtype in ("category", "string", "text"):
            levels = (
                list(spec.allowed) if spec.allowed else sorted(values.dropna().astype(str).unique())
            )
            codes = pd.Categorical(values.astype("string"), categories=levels).codes
            out[name] = np.where(codes < 0, np.nan, codes).astype(float)
        elif spec.dtype == "date":
            out[name] = (values - values.min()).dt.days.astype(float).to_numpy()
        else:
            out[name] = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    return pd.DataFrame(out, index=frame.index)
