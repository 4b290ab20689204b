"""A reason must be earned: the null-importance screen run at training time.

Method (Altmann et al. 2010, "Permutation importance: a corrected feature importance measure",
*Bioinformatics* 26(10)). The model's recipe is refitted ``permutations`` (K) times on the
training rows with the **labels permuted**, which breaks every link between features and outcome
while keeping the features' own distributions and correlations. A feature's importance is its
mean |SHAP| (log-odds) over the rows; a concept's is the mean |sum of its features' SHAP values|.
The K refits give each feature and each concept its *null* distribution: the importance that
fitting pure noise gives it. A feature (or concept) is **earned** when its importance with the
real labels exceeds the configured ``quantile`` of its null by at least ``min_ratio`` times.

Why the factor: significance alone does not separate a driver from a *proxy*, a column with no
effect of its own that carries a little of a driver's signal through correlation (in the
synthetic worlds: the weeks since the last disruption, the disruption's grade, seizure amounts).
A proxy beats pure noise, but not by much: on 12 worlds whose mechanism differs from the
default (``benchmarks/reasons.py``, at most 10,000 screen rows), no-effect columns reached up to
about 3.4x their null's 95% quantile (the weeks since the last disruption, empty exactly when
there was none; the force's grading of the disruption, a summary of the package) and true drivers
mostly 2-40x. Demanding 3.5x kept every no-effect column out of the reasons in all 12 (3x: 11 of
12), at the price of hiding weak true drivers in "other factors" (which costs nothing in ``hide``
mode: the model still uses them; ``drop`` mode removes only what does not beat the null at all,
and its AUC cost is measured by the benchmark). The
factor was chosen on those worlds, and it is tied to the screen's row count (``max_rows``): with
more rows a proxy's margin over noise grows.

**The same verdict on every rerun** (:mod:`resilience.explain.resamples`). The fits are spread
over ``resamples`` (5) resamples of ``resample_share`` (90%) of the training span's lines, each
with every random stream changed (which lines, which rows, the permutations, the model's own
subsampling); a feature's importance is the mean of its real fits, its null the pooled permuted
fits, and its **pass rate** (the share of resamples in which it passed on its own) is reported
beside the verdict. Averaging five real fits narrows the spread of a ratio near the bar, so a
rerun on slightly different data gives the same verdict more often; it does not remove the
randomness that any one fit has.

**Verdicts that hold across retrains** (``keep_ratio``). Reruns on slightly different data
disagree most about the columns near the bar: at 8,000 lines a rerun changed the top reason for
4-17% of lines, mostly where its screen passed other columns (with the same columns passed, 3-8%).
A bar to enter and a lower bar to stay (hysteresis) keeps a column shown while its evidence
stays clear: a column or concept the registered champion shows stays shown while it beats its
null by at least ``keep_ratio`` (2.5 by default, against ``min_ratio`` 3.5 to enter), and a
summary column still only with an effect of its own. A kept row says so in the table
(``kept``, and its verdict). Nothing else is carried over: a column the champion did not show
must clear ``min_ratio`` on this run's own evidence, and a column that falls below
``keep_ratio`` is dropped. Measured on 8 worlds, 5 chained reruns of 8,000 lines
(``benchmarks/cohorts.py``, ``docs/cohorts.md``): the worst world's top-reason change fell from
17% to 9%, "other factors" outweighing the largest reason from 28% to 22% of lines, and no
column without an effect of its own was shown, before or after.

**A column that summarises others** (``summarises`` in the data config; the force's grading of
a disruption summarises its package) stands in for what it summarises, so it can beat its null
without an effect of its own. It is earned only when it also shows an effect of its own: in every
resample the recipe is refitted without it (same rows, same seed), both fits predict the lines
the resample left out, and the mean per-disruption log-loss gain of keeping it must be positive
at ``summary_alpha`` (one-sided, standard error clustered by line). Where it carries an effect of
its own (the ``pursue_driven`` world grades by what was seized) it may be named; where the
columns it summarises carry the effect it is not, and its contribution is in "other factors".

**The cohort column's offset** (the line type, by default). Its points hold, beside the trees'
share, the calibrator's offset for its cohort (:mod:`resilience.learn.calibration`), which the
refits here never see: they have no calibrator. Where the calibration's own tests find that the
cohorts differ (Cochran's test of their intercepts and the drift test, the smaller p-value doubled)
below ``cohort_alpha``, the column and its concept are earned on that evidence (a retrain keeps
them, when its champion showed them, while the p-value stays below ``cohort_keep_alpha``);
elsewhere the null test alone decides, and a model without cohort calibration is judged as before.

Cheap refits: the null and the real fit share one recipe, the main fit's own with its number of
trees fixed (no inner early-stopping folds), no calibrator, on at most ``max_rows`` rows of the
resample's lines drawn at random (the same rows for every fit of a resample, so like is compared
with like), one thread per fit and fits run side by side in ``n_jobs`` processes (the config's
default is ``$RESILIENCE_N_JOBS``, else the cores).

What the result does (:class:`ReasonScreen`, carried by the registered model as
``reason_screen_``): a feature is shown in a reason only when it *and* its concept are earned
(a concept is also earned through an earned column when the concept as a whole beats its null:
its null is the sum of its columns', which columns without an effect beside a strong one inflate),
and a reason only when it moves the estimate by at least ``materiality_points``. Contributions
of unearned features are reported together as "other factors", so every row still adds up
exactly. ``mode: hide`` (default) keeps every feature in the model; ``mode: drop`` refits the
model without the features that do not beat their null at all (indistinguishable from noise) and
reports that model's held-out metrics; columns that beat noise by less than ``min_ratio`` (proxies
and weak drivers) carry signal, so they stay in the model and are hidden as in ``hide``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.core.yardstick import placements
from resilience.data.contract import DataContract
from resilience.explain.concepts import ConceptMap
from resilience.explain.reasons import MIN_REASON_POINTS
from resilience.explain.resamples import (  # noqa: F401 - permuted: the screen's null labels
    permuted,
    resample_draws,
)
from resilience.explain.verdicts import (
    concepts_of_earned_columns,
    judge_cohort,
    judge_summaries,
    keep_champion_verdicts,
)
from resilience.learn.evaluation import PROBABILITY, score_test_period
from resilience.learn.split import Split

MODES = ("hide", "drop")


@dataclass(frozen=True)
class ScreenConfig:
    """How a reason is earned (``configs/explain/default.yaml``, ``screen:``)."""

    enabled: bool = True
    mode: str = (
        "hide"  # hide: unearned features stay in the model, never shown | drop: refit without them
    )
    permutations: int = 10  # K label-permuted refits (spread over the resamples)
    resamples: int = 5  # resamples of the lines, each with every random stream changed
    resample_share: float = 0.9  # share of the training span's lines in each resample
    summary_alpha: float = 0.05  # level of the test of a summary column's own effect (0: no test)
    cohort_alpha: float = (
        0.01  # the cohort column is named for its calibration offset below this p (0: never)
    )
    cohort_keep_alpha: float = 0.05  # ... and stays named, when the champion showed it, below this
    quantile: float = 0.95  # a feature must beat this quantile of its null importance
    min_ratio: float = 3.5  # ... by this factor at least (an effect size, not only significance)
    keep_ratio: float = 2.5  # what the champion shows stays shown from this factor (0: off)
    max_rows: int = 10_000  # rows the screen refits on (a random subset; 0 = all)
    shap_rows: int = 1_000  # of those, rows whose mean |SHAP| is the importance (0 = all)
    materiality_points: float = (
        1.0  # a reason is shown only if it moves the estimate by this many points
    )
    similar_min_lines: int = (
        30  # "similar lines persisted" only from at least this many held-out lines
    )
    seed: int = 0
    n_jobs: int | None = None  # fits side by side; None: the cores

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.permutations < 1:
            problems.append(f"permutations must be >= 1, not {self.permutations}")
        if self.resamples < 1:
            problems.append(f"resamples must be >= 1, not {self.resamples}")
        if not 0.0 < self.resample_share <= 1.0:
            problems.append(f"resample_share must be in (0, 1], not {self.resample_share}")
        for name in ("summary_alpha", "cohort_alpha", "cohort_keep_alpha"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if (
            self.cohort_alpha
            and self.cohort_keep_alpha
            and self.cohort_keep_alpha < self.cohort_alpha
        ):
            problems.append(
                f"cohort_keep_alpha must be 0 (off) or at least cohort_alpha ({self.cohort_alpha:g}), "
                f"not {self.cohort_keep_alpha:g}"
            )
        if not 0.0 < self.quantile <= 1.0:
            problems.append(f"quantile must be in (0, 1], not {self.quantile}")
        if self.min_ratio < 1.0:
            problems.append(f"min_ratio must be >= 1, not {self.min_ratio}")
        if self.keep_ratio and not 1.0 <= self.keep_ratio <= self.min_ratio:
            problems.append(
                f"keep_ratio must be 0 (off) or between 1 and min_ratio ({self.min_ratio:g}), "
                f"not {self.keep_ratio:g}"
            )
        if self.max_rows < 0 or self.shap_rows < 0:
            problems.append(
                f"max_rows and shap_rows must be >= 0, not {self.max_rows} and {self.shap_rows}"
            )
        if self.materiality_points < MIN_REASON_POINTS:
            problems.append(
                f"materiality_points must be >= {MIN_REASON_POINTS} (a reason prints whole points), "
                f"not {self.materiality_points}"
            )
        if self.n_jobs is not None and self.n_jobs < 1:
            problems.append(f"n_jobs must be >= 1 or null, not {self.n_jobs}")
        if problems:
            raise ConfigError("explain.screen: " + "; ".join(problems))

    def workers(self) -> int:
        """Fits run side by side: ``n_jobs``, else the machine's cores (the config reads
        ``$RESILIENCE_N_JOBS`` into ``n_jobs`` at the edge, as the model config does)."""
        return int(self.n_jobs or os.cpu_count() or 1)


@dataclass(frozen=True)
class ReasonScreen:
    """Which features and concepts may be shown as reasons, and from how many points.

    Carried by the registered model (``model.reason_screen_``): scoring and the pyfunc need it.
    ``table`` is the test's evidence (one row per feature and per concept), logged to MLflow.
    """

    earned_features: tuple[str, ...]
    earned_concepts: tuple[str, ...]
    materiality_points: float = MIN_REASON_POINTS
    mode: str = "hide"
    dropped_features: tuple[str, ...] = ()
    table: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    # cohort -> yardstick band -> (share persisted, lines): held-out lines placed in that band
    similar_lines: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def everything(
        cls, contract: DataContract, features, materiality_points: float = MIN_REASON_POINTS
    ) -> ReasonScreen:
        """No screen: every feature and concept may be shown (models trained without one)."""
        features = tuple(features)
        concepts = tuple(dict.fromkeys(contract.concept_of(f).name for f in features))
        return cls(features, concepts, materiality_points, mode="none")

    def shown(self, contract: DataContract, features) -> np.ndarray:
        """Per feature: may it be shown (it and its concept are earned)?"""
        earned, concepts = set(self.earned_features), set(self.earned_concepts)
        return np.asarray(
            [f in earned and contract.concept_of(f).name in concepts for f in features], dtype=bool
        )


# ----------------------------------------------------------------------------------------------
# The test
# ----------------------------------------------------------------------------------------------
def null_importance(model, frame: pd.DataFrame, config: ScreenConfig) -> pd.DataFrame:
    """Real vs label-permuted importance of every feature and concept of ``model``'s recipe, over
    ``config.resamples`` resamples of the lines (:mod:`resilience.explain.resamples`).

    Returns one row per feature (``kind == "feature"``) and per concept (``"concept"``):
    ``name``, ``concept``, ``importance`` (real labels, mean over the resamples), ``null_mean``,
    ``null_quantile`` (the configured quantile of the pooled permuted fits), ``null_max``,
    ``ratio`` (importance / null_quantile), ``p_value`` (the share of the permuted fits, plus
    one, at least as important), ``pass_rate`` (the share of resamples in which the feature passed
    on its own), ``beats_null`` (ratio > 1), ``earned`` (ratio > 1 and >= ``min_ratio``, and, for
    a column declared to summarise others, an effect of its own: ``own_effect_gain`` and
    ``own_effect_p_value``) and ``verdict`` in words.
    """
    contract = model.contract
    features = list(model.feature_names_)
    summaries = (
        tuple(c for c in contract.summaries if c in features) if config.summary_alpha > 0 else ()
    )
    draws = resample_draws(model, frame, config, summaries)
    real, null = draws.real.mean(axis=0), draws.null
    threshold = np.quantile(null, config.quantile, axis=0)
    floor = np.maximum(threshold, np.finfo(float).tiny)
    concept_names = ConceptMap.build(contract, features).names
    table = pd.DataFrame(
        {
            "kind": ["feature"] * len(features) + ["concept"] * len(concept_names),
            "name": features + concept_names,
            "concept": [contract.concept_of(f).name for f in features] + concept_names,
            "importance": real,
            "null_mean": null.mean(axis=0),
            "null_quantile": threshold,
            "null_max": null.max(axis=0),
            "ratio": real / floor,
            "p_value": (1 + (null >= real).sum(axis=0)) / (1 + len(null)),
            "pass_rate": ((draws.real > threshold) & (draws.real / floor >= config.min_ratio)).mean(
                axis=0
            ),
        }
    )
    table["beats_null"] = real > threshold  # distinguishable from noise (what drop mode keeps)
    table["earned"] = table["beats_null"] & (table["ratio"] >= config.min_ratio)
    table["verdict"] = np.select(
        [table["earned"], table["beats_null"]],
        [f"earned (at least {config.min_ratio:g}x its null)", "beats noise, below the bar"],
        "indistinguishable from noise",
    )
    judge_summaries(table, draws, contract, config)
    judge_cohort(table, model, config)
    table.attrs.update(
        rows=draws.rows,
        permutations=len(null),
        quantile=config.quantile,
        min_ratio=config.min_ratio,
    )
    return table


def screen_from_table(
    table: pd.DataFrame, config: ScreenConfig, dropped: tuple[str, ...] = ()
) -> ReasonScreen:
    """The :class:`ReasonScreen` a table of :func:`null_importance` results gives (its concepts
    earned through their columns as well: :func:`concepts_of_earned_columns`)."""
    table = concepts_of_earned_columns(table)
    features = table[(table["kind"] == "feature") & table["earned"]]["name"]
    concepts = table[(table["kind"] == "concept") & table["earned"]]["name"]
    return ReasonScreen(
        tuple(features), tuple(concepts), config.materiality_points, config.mode, dropped, table
    )


# ----------------------------------------------------------------------------------------------
# The training step
# ----------------------------------------------------------------------------------------------
@dataclass
class ScreenResult:
    """What the screen gives the training pipeline to assemble: the screen (for the registered and
    the evaluated model to carry), the model to register and the evaluation (both refitted without
    the noise features in ``drop`` mode; else the ones given), and the ``screen_*`` metrics and
    seconds."""

    screen: ReasonScreen
    model: object
    evaluation: object
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def screen_features(
    model,
    evaluation,
    split: Split,
    history: pd.DataFrame,
    config: ScreenConfig | None,
    eval_config,
    champion: ReasonScreen | None = None,
) -> ScreenResult:
    """Run the screen for a training run (``model``: the one to register; ``evaluation``: the
    evaluated model on ``split``; ``history``: every labelled row, which ``drop`` refits the
    registered model on when it was refitted on all of them).

    The test runs on the split's training span (so dropping never sees the test period's
    labels). ``hide``: the model is unchanged (AUC cost 0 by construction). ``drop``: the
    evaluated and the registered model are refitted without the features that do not beat their
    null at all (indistinguishable from noise; proxies that beat it by less than ``min_ratio``
    stay in the model, never shown, as in ``hide``), the evaluation is re-scored (its metrics are
    the dropped model's) and the unscreened test ROC AUC is kept as ``screen_unscreened_roc_auc``.
    ``champion``: the registered champion's screen, whose verdicts this run keeps while its own
    evidence stays clear (:func:`keep_champion_verdicts`). The table travels on the screen.
    Nothing given is changed: the result says what to use.
    """
    contract = model.contract
    if config is None or not config.enabled:
        config = config or ScreenConfig()
        screen = ReasonScreen.everything(contract, model.feature_names_, config.materiality_points)
        similar = similar_lines(evaluation.test_predictions, contract, config)
        return ScreenResult(replace(screen, similar_lines=similar), model, evaluation)
    if config.mode == "drop":  # a model that cannot leave features out refuses before the test runs
        evaluation.model.without_features(())
    start = time.perf_counter()
    # a segment model's recipe refits on every training row: one screen for the recipe
    table = null_importance(evaluation.model, split.train, config)
    table = keep_champion_verdicts(table, config, champion)
    features = table[table["kind"] == "feature"]
    noise = tuple(features[~features["beats_null"]]["name"])  # what drop mode removes
    timings = {"screen": time.perf_counter() - start}
    metrics = _screen_metrics(features, noise)
    if config.mode == "drop" and noise:
        start = time.perf_counter()
        model, evaluation, dropped = _refit_without(
            model, evaluation, split, history, noise, eval_config
        )
        metrics.update(dropped)
        timings["screen_drop_refit"] = time.perf_counter() - start
    screen = screen_from_table(table, config, noise if config.mode == "drop" else ())
    if config.mode == "drop":  # the refitted model has no unearned features left to hide
        screen = replace(
            screen,
            earned_features=tuple(f for f in screen.earned_features if f in model.feature_names_),
        )
    similar = similar_lines(evaluation.test_predictions, contract, config)
    return ScreenResult(replace(screen, similar_lines=similar), model, evaluation, metrics, timings)


def _screen_metrics(features: pd.DataFrame, noise: tuple[str, ...]) -> dict[str, float]:
    """What a run records of its screen's feature rows (``noise``: those not beating their null)."""
    unearned = int((~features["earned"]).sum())
    return {
        "screen_features_earned": float(len(features) - unearned),
        "screen_features_unearned": float(unearned),
        "screen_features_noise": float(len(noise)),
        "screen_features_kept": float(features["kept"].sum()),
        "screen_auc_cost": 0.0,
        "screen_min_pass_agreement": float(
            np.maximum(features["pass_rate"], 1 - features["pass_rate"]).min()
        ),
        **{
            f"screen_own_effect_p.{row['name']}": float(row["own_effect_p_value"])
            for _, row in features.iterrows()
            if np.isfinite(row["own_effect_p_value"])
        },
    }


def similar_lines(predictions: pd.DataFrame, contract: DataContract, config: ScreenConfig) -> dict:
    """cohort -> band -> (share persisted, lines) over the held-out test period's ``predictions``,
    for each (cohort, band) with at least ``similar_min_lines`` lines: "similar" means like with
    like."""
    cohort = contract.cohort_column
    if not cohort or cohort not in predictions.columns or not len(predictions):
        return {}
    grouped = pd.DataFrame(
        {
            "cohort": predictions[cohort].astype(str).to_numpy(),
            "band": [p.band for p in placements(predictions[PROBABILITY].to_numpy(float))],
            "label": predictions[contract.label].astype(float).to_numpy(),
        }
    )
    out: dict = {}
    for (c, band), group in grouped.groupby(["cohort", "band"]):
        if len(group) >= config.similar_min_lines:
            out.setdefault(str(c), {})[str(band)] = (float(group["label"].mean()), int(len(group)))
    return out


def _refit_without(model, evaluation, split: Split, history, noise, eval_config):
    """``drop`` mode: the registered and the evaluated model refitted without ``noise``, the
    evaluation re-scored, and what dropping cost."""
    refitted_on_all = model is not evaluation.model  # the recipe was refitted on every labelled row
    contract = model.contract
    evaluated = evaluation.model.without_features(noise).fit(split.train)
    before = dict(evaluation.metrics)
    scored, predictions, slices = score_test_period(
        evaluated, evaluation.test_frame, contract, eval_config
    )
    metrics = {**before, **scored, **evaluated.cv_scores_}
    for name in ("roc_auc", "brier"):  # the oracle gaps, now of the dropped model
        if f"oracle_{name}" in before:
            metrics[f"gap_{name}"] = (
                before[f"oracle_{name}"] - scored[name]
                if name == "roc_auc"
                else scored[name] - before[f"oracle_{name}"]
            )
    auc = float(before["roc_auc"])
    cost = {"screen_unscreened_roc_auc": auc, "screen_auc_cost": auc - float(scored["roc_auc"])}
    dropped = replace(
        evaluation, model=evaluated, test_predictions=predictions, slices=slices, metrics=metrics
    )
    # the evaluated model travels in the run's evidence, not on the estimator
    registered = model.without_features(noise).fit(history) if refitted_on_all else evaluated
    return registered, dropped, cost
