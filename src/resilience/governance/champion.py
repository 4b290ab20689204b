"""The champion rule: when may a newly trained model replace the production model by itself?

A registered version is a ``challenger``. It becomes ``champion`` automatically only when **all**
of these hold (:func:`decide_promotion`); otherwise it stays challenger and a person can promote
it explicitly with ``resilience-promote``:

1. **Same recipe.** It was made by the production recipe (``champion.production_family`` and one
   of ``champion.production_experiments``), with the champion's model family, feature set and
   data config. A different family, feature set or data config is a different model, not a
   retrain: it is compared and the numbers are recorded, but it never replaces the champion
   by itself (``experiment=baseline_logistic`` can never become champion by running it).
2. **The same data.** It learnt from the champion's data, extended or cut to a later window: the
   new extract holds at least 90% of a fixed sample of the champion's labelled records dated
   within its span, with the same line, date and outcome (:mod:`resilience.data.extract_sample`).
   A challenger of another extract (another force, another world) would win on its own rows
   because it learnt that population; it is registered, never compared or promoted by itself.
3. **Not significantly worse.** Both models (as evaluated: the recipe fitted before the test
   period) are scored on the *same* held-out rows, unseen by either. A bootstrap over **lines**
   (rows of one line move together) gives the distribution of the paired difference; the
   challenger is significantly worse when the one-sided ``1 - alpha`` bound of the difference
   is below zero, for the ranking metric (ROC AUC) or for calibration (ECE).
4. **Within the cumulative budget.** Its ranking metric, on the same rows, is at most
   ``cumulative_budget`` below the **best champion so far** (kept as a registry tag), so a chain
   of individually insignificant losses cannot ratchet the production model down.
5. **Not flagged by the fairness check.** A version whose evaluated model runs high or low for a
   group (:mod:`resilience.governance.fairness`) is registered, compared and recorded, never
   promoted by itself. The first model of a store is still promoted, so that scoring can run; its
   flag is in its decision, its card and on page 1 of every briefing it scores.

Whatever the decision, the version records the **churn** against the champion on the compared
rows: the share of lines that change yardstick band, the median and 90th-percentile absolute
move in points, and the share whose top reason changes (:func:`churn`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.core.yardstick import band
from resilience.learn.metrics import bootstrap_weights, weighted_statistics

HIGHER_IS_BETTER = {"roc_auc": True, "brier": False, "ece": False}


@dataclass(frozen=True)
class ChampionConfig:
    """Settings of the champion rule (``mlflow.champion`` in the config)."""

    primary_metric: str = "roc_auc"  # ranking: paired test and cumulative budget
    calibration_metric: str = "ece"  # calibration: paired test
    alpha: float = 0.05  # one-sided level of each paired test
    cumulative_budget: float = (
        0.005  # ROC AUC the production model may lose against the best champion so far
    )
    n_bootstrap: int = 500  # line resamples for the paired tests
    min_rows: int = 50  # fewer comparable rows than this: no automatic decision
    production_family: str = "lightgbm"
    production_experiments: tuple = (None, "lightgbm_default")
    seed: int = 0

    def __post_init__(self):
        for metric in (self.primary_metric, self.calibration_metric):
            if metric not in HIGHER_IS_BETTER:
                raise ConfigError(
                    f"mlflow.champion metric '{metric}' is not one of {sorted(HIGHER_IS_BETTER)}"
                )
        object.__setattr__(self, "production_experiments", tuple(self.production_experiments))


@dataclass(frozen=True)
class Recipe:
    """What made a model: what must match for one version to replace another automatically."""

    family: str
    features: tuple[str, ...]
    data_config: str
    data_config_sha256: str
    experiment: str | None = None

    @classmethod
    def of(cls, model, experiment: str | None = None) -> Recipe:
        contract = model.contract.to_dict()
        digest = hashlib.sha256(
            json.dumps(contract, sort_keys=True, default=str).encode()
        ).hexdigest()
        return cls(model.family, tuple(model.feature_names_), contract["name"], digest, experiment)

    @classmethod
    def from_dict(cls, data: Mapping) -> Recipe:
        return cls(
            data["family"],
            tuple(data["features"]),
            data["data_config"],
            data["data_config_sha256"],
            data.get("experiment"),
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "features": list(self.features)}

    def is_production(self, config: ChampionConfig) -> bool:
        return (
            self.family == config.production_family
            and self.experiment in config.production_experiments
        )

    def differences(self, other: Recipe) -> list[str]:
        """What differs from ``other`` (the champion's recipe), in words."""
        found = []
        if self.family != other.family:
            found.append(f"model family {other.family} -> {self.family}")
        if set(self.features) != set(other.features):
            added, dropped = (
                sorted(set(self.features) - set(other.features)),
                sorted(set(other.features) - set(self.features)),
            )
            found.append(
                "feature set ("
                + "; ".join(
                    [f"added {', '.join(added)}"] * bool(added)
                    + [f"dropped {', '.join(dropped)}"] * bool(dropped)
                )
                + ")"
            )
        if (self.data_config, self.data_config_sha256) != (
            other.data_config,
            other.data_config_sha256,
        ):
            found.append(
                f"data config {other.data_config} -> {self.data_config}"
                + (
                    " (same name, different contents)"
                    if self.data_config == other.data_config
                    else ""
                )
            )
        return found


@dataclass(frozen=True)
class PairedComparison:
    """Two models' metric on the same rows and the line-bootstrap distribution of the difference."""

    metric: str
    challenger: float
    champion: float
    lower: float  # one-sided (alpha) lower bound of the improvement (challenger better = positive)
    upper: float  # one-sided (alpha) upper bound of the improvement
    rows: int
    lines: int

    @property
    def improvement(self) -> float:
        """Challenger minus champion, signed so that positive means better."""
        sign = 1.0 if HIGHER_IS_BETTER[self.metric] else -1.0
        return sign * (self.challenger - self.champion)

    @property
    def significantly_worse(self) -> bool:
        return self.upper < 0


def line_bootstrap_weights(lines: Sequence, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, rows) weights of a bootstrap over lines: a drawn line brings all its rows."""
    codes, _ = pd.factorize(pd.Series(lines).astype(str), sort=True)
    per_line = bootstrap_weights(int(codes.max()) + 1 if len(codes) else 0, n_boot, seed)
    return per_line[:, codes]


def paired_comparisons(
    y, p_challenger, p_champion, lines, config: ChampionConfig, metrics: Sequence[str] | None = None
) -> dict[str, PairedComparison]:
    """Paired line-bootstrap comparison of two models' predictions of the same rows."""
    y = np.asarray(y, float)
    p_challenger, p_champion = np.asarray(p_challenger, float), np.asarray(p_champion, float)
    weights = line_bootstrap_weights(lines, config.n_bootstrap, config.seed)
    ones = np.ones((1, len(y)))
    challenger_boot = weighted_statistics(y, p_challenger, weights)
    champion_boot = weighted_statistics(y, p_champion, weights)
    challenger_full = weighted_statistics(y, p_challenger, ones)
    champion_full = weighted_statistics(y, p_champion, ones)
    out = {}
    for metric in metrics or (config.primary_metric, config.calibration_metric):
        sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
        difference = sign * (challenger_boot[metric] - champion_boot[metric])
        difference = difference[np.isfinite(difference)]
        lower, upper = (
            np.quantile(difference, [config.alpha, 1 - config.alpha])
            if len(difference)
            else (np.nan, np.nan)
        )
        out[metric] = PairedComparison(
            metric,
            float(challenger_full[metric][0]),
            float(champion_full[metric][0]),
            float(lower),
            float(upper),
            len(y),
            int(pd.Series(lines).nunique()),
        )
    return out


@dataclass
class PromotionDecision:
    promote: bool
    reason: str
    numbers: dict = field(default_factory=dict)

    def as_tags(self) -> dict[str, str]:
        tags = {
            "promotion.decision": "champion" if self.promote else "challenger",
            "promotion.reason": self.reason[:5000],
        }
        tags.update(
            {
                f"promotion.{k}": f"{v:.6g}" if isinstance(v, float) else str(v)
                for k, v in self.numbers.items()
            }
        )
        return tags


def comparison_numbers(against: str, comparisons: Mapping[str, PairedComparison]) -> dict:
    numbers = {}
    for metric, c in comparisons.items():
        numbers.update(
            {
                f"challenger_{metric}": c.challenger,
                f"{against}_{metric}": c.champion,
                f"{against}_{metric}_improvement": c.improvement,
                f"{against}_{metric}_improvement_upper": c.upper,
            }
        )
    return numbers


def decide_promotion(
    recipe: Recipe,
    champion_recipe: Recipe | None,
    config: ChampionConfig,
    vs_champion: Mapping[str, PairedComparison] | None = None,
    vs_best: Mapping[str, PairedComparison] | None = None,
    period: str = "",
    no_comparison_reason: str = "",
    fairness_flags: Sequence[str] = (),
) -> PromotionDecision:
    """Pure rule (see the module docstring). ``vs_best`` is None when the champion is the best so far;
    ``fairness_flags`` names the groups the fairness check flags (``slice = value``). The
    comparison's numbers are recorded whatever the decision."""
    numbers = (
        {
            "period": period,
            **comparison_numbers("champion", vs_champion or {}),
            **comparison_numbers("best", vs_best or {}),
        }
        if vs_champion
        else {}
    )
    if not recipe.is_production(config):
        return PromotionDecision(False, _not_production(recipe, config), numbers)
    flagged = "; ".join(fairness_flags)
    if champion_recipe is None:
        return _first_model(flagged)
    if flagged:
        numbers["fairness_flags"] = flagged
    differences = recipe.differences(champion_recipe)
    if differences:
        return PromotionDecision(
            False,
            "a different model, not a retrain (" + "; ".join(differences) + "): never "
            "promoted automatically; review and promote with resilience-promote",
            numbers,
        )
    if vs_champion is None:
        return PromotionDecision(
            False,
            f"kept the champion: {no_comparison_reason or 'no comparable held-out rows'}",
            numbers,
        )
    worse = [c for c in vs_champion.values() if c.significantly_worse]
    if worse:
        return PromotionDecision(False, _worse(worse, period, config), numbers)
    if flagged:
        return PromotionDecision(
            False,
            f"the fairness check flags {flagged} on its test period: registered as challenger, "
            "never promoted automatically; review and promote with resilience-promote",
            numbers,
        )
    return _within_budget(config, vs_champion, vs_best or vs_champion, period, numbers)


def _first_model(flagged: str) -> PromotionDecision:
    """The production recipe's first model is promoted so that scoring can run; a fairness flag
    is stated, not a bar."""
    return PromotionDecision(
        True,
        "first model of the production recipe: no champion yet"
        + (
            f" (promoted so that scoring can run, although the fairness check flags "
            f"{flagged}: see its card)"
            if flagged
            else ""
        ),
        {"fairness_flags": flagged} if flagged else {},
    )


def _within_budget(
    config: ChampionConfig,
    vs_champion: Mapping[str, PairedComparison],
    vs_best: Mapping[str, PairedComparison],
    period: str,
    numbers: dict,
) -> PromotionDecision:
    """The last test of a retrain no worse than the champion: promoted unless it has lost more
    than the cumulative budget against the best champion so far."""
    primary = config.primary_metric
    loss = -vs_best[primary].improvement
    if loss > config.cumulative_budget:
        return PromotionDecision(
            False,
            f"{primary} {loss:.4f} below the best champion so far on {period}, beyond "
            f"the cumulative budget {config.cumulative_budget}",
            numbers,
        )
    c = vs_champion[primary]
    return PromotionDecision(
        True,
        f"not significantly worse than the champion on {period} ({primary} "
        f"{c.improvement:+.4f}) and within the cumulative budget ({primary} "
        f"{-loss:+.4f} against the best champion so far; at most "
        f"{config.cumulative_budget} may be lost)",
        numbers,
    )


def _not_production(recipe: Recipe, config: ChampionConfig) -> str:
    where = (
        f"experiment '{recipe.experiment}'"
        if recipe.experiment
        else f"model family '{recipe.family}'"
    )
    allowed = " or ".join(
        "no experiment" if e is None else f"experiment={e}" for e in config.production_experiments
    )
    return (
        f"not the production recipe ({where}; production is "
        f"{config.production_family} with {allowed}): registered as challenger; "
        "promote explicitly with resilience-promote after review"
    )


def _worse(worse: list[PairedComparison], period: str, config: ChampionConfig) -> str:
    return f"significantly worse than the champion on {period}: " + "; ".join(
        f"{c.metric} {c.challenger:.4f} vs {c.champion:.4f} (improvement at most {c.upper:+.4f} at "
        f"{1 - config.alpha:.0%})"
        for c in worse
    )


def churn(
    challenger_probability,
    champion_probability,
    challenger_top_reason=None,
    champion_top_reason=None,
) -> dict[str, float]:
    """How much the scores a commander sees would move if the challenger replaced the champion."""
    new, old = np.asarray(challenger_probability, float), np.asarray(champion_probability, float)
    move = np.abs(new - old) * 100
    out = {
        "lines": float(len(new)),
        "band_changed_share": float(np.mean([band(a) != band(b) for a, b in zip(new, old)]))
        if len(new)
        else 0.0,
        "median_move_points": float(np.median(move)) if len(move) else 0.0,
        "p90_move_points": float(np.quantile(move, 0.9)) if len(move) else 0.0,
    }
    if challenger_top_reason is not None and champion_top_reason is not None:
        out["top_reason_changed_share"] = float(
            np.mean(
                np.asarray(challenger_top_reason, object) != np.asarray(champion_top_reason, object)
            )
        )
    return out
