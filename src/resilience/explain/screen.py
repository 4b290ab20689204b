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

Cheap refits: the null and the real fit share one recipe, the main fit's own with its number of
trees fixed (no inner early-stopping folds), no calibrator, on at most ``max_rows`` rows drawn
at random (the same rows for every fit, so like is compared with like), one thread per fit and
fits run side by side on ``n_jobs`` threads (the config's default is ``$RESILIENCE_N_JOBS``, else the cores).

What the result does (:class:`ReasonScreen`, carried by the registered model as
``reason_screen_``): a feature is shown in a reason only when it *and* its concept are earned,
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
from joblib import Parallel, delayed
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from sklearn.base import clone

from resilience.core.errors import ConfigError
from resilience.core.yardstick import placements
from resilience.data.contract import DataContract
from resilience.explain.concepts import ConceptMap
from resilience.explain.reasons import MIN_REASON_POINTS
from resilience.explain.shap_values import log_odds_contributions
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
    permutations: int = 10  # K label-permuted refits
    quantile: float = 0.95  # a feature must beat this quantile of its null importance
    min_ratio: float = 3.5  # ... by this factor at least (an effect size, not only significance)
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
        if not 0.0 < self.quantile <= 1.0:
            problems.append(f"quantile must be in (0, 1], not {self.quantile}")
        if self.min_ratio < 1.0:
            problems.append(f"min_ratio must be >= 1, not {self.min_ratio}")
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
def _importance(
    recipe, frame: pd.DataFrame, y: np.ndarray, concept_map: ConceptMap, rows: np.ndarray
) -> np.ndarray:
    """Mean |SHAP| over ``rows`` per feature, then per concept, of the recipe fitted on ``frame``
    with labels ``y``."""
    fitted = clone(recipe).fit(frame, y)
    sample = frame.iloc[rows]
    raw, _, _ = log_odds_contributions(fitted, fitted.prepare(sample), np.arange(len(sample)))
    return np.concatenate([np.abs(raw).mean(axis=0), np.abs(raw @ concept_map.matrix).mean(axis=0)])


def permuted(y: np.ndarray, disruptions: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Labels permuted across disruptions: the rows of one disruption (its snapshots, records as
    they stood) keep one shared label, so the null sees as many outcomes as the real fit."""
    codes = pd.factorize(pd.Series(disruptions).astype(str))[0]
    if len(codes) == len(np.unique(codes)):  # one row per disruption
        return rng.permutation(y)
    first = np.unique(codes, return_index=True)[1]
    return rng.permutation(np.asarray(y)[first])[codes]


def null_importance(model, frame: pd.DataFrame, config: ScreenConfig) -> pd.DataFrame:
    """Real vs label-permuted importance of every feature and concept of ``model``'s recipe.

    Returns one row per feature (``kind == "feature"``) and per concept (``"concept"``):
    ``name``, ``concept``, ``importance`` (real labels), ``null_mean``, ``null_quantile`` (the
    configured quantile of the K permuted fits), ``null_max``, ``ratio`` (importance /
    null_quantile), ``p_value`` (the share of the K + 1 fits, the real one included, at least as
    important), ``beats_null`` (ratio > 1) and ``earned`` (ratio > 1 and >= ``min_ratio``).
    """
    contract = model.contract
    rng = np.random.default_rng(config.seed)
    frame = frame.reset_index(drop=True)
    if config.max_rows and len(frame) > config.max_rows:
        frame = frame.iloc[
            np.sort(rng.choice(len(frame), config.max_rows, replace=False))
        ].reset_index(drop=True)
    y = frame[contract.label].astype(int).to_numpy()
    features = list(model.feature_names_)
    concept_map = ConceptMap.build(contract, features)
    recipe = model.fixed_recipe()  # its capacity fixed, no calibrator
    disruptions = frame[contract.id_column]
    labels = [y] + [permuted(y, disruptions, rng) for _ in range(config.permutations)]
    rows = np.arange(len(frame))
    if config.shap_rows and len(frame) > config.shap_rows:
        rows = np.sort(rng.choice(len(frame), config.shap_rows, replace=False))
    results = Parallel(n_jobs=min(config.workers(), len(labels)), prefer="threads")(
        delayed(_importance)(recipe, frame, labels_k, concept_map, rows) for labels_k in labels
    )
    real, null = results[0], np.vstack(results[1:])
    threshold = np.quantile(null, config.quantile, axis=0)
    names = features + concept_map.names
    table = pd.DataFrame(
        {
            "kind": ["feature"] * len(features) + ["concept"] * len(concept_map.names),
            "name": names,
            "concept": [contract.concept_of(f).name for f in features] + concept_map.names,
            "importance": real,
            "null_mean": null.mean(axis=0),
            "null_quantile": threshold,
            "null_max": null.max(axis=0),
            "ratio": real / np.maximum(threshold, np.finfo(float).tiny),
            "p_value": (1 + (null >= real).sum(axis=0)) / (1 + len(null)),
        }
    )
    table["beats_null"] = (
        real > threshold
    )  # distinguishable from noise (the columns drop mode keeps)
    table["earned"] = table["beats_null"] & (table["ratio"] >= config.min_ratio)
    table.attrs.update(
        rows=len(frame),
        permutations=config.permutations,
        quantile=config.quantile,
        min_ratio=config.min_ratio,
    )
    return table


def screen_from_table(
    table: pd.DataFrame, config: ScreenConfig, dropped: tuple[str, ...] = ()
) -> ReasonScreen:
    """The :class:`ReasonScreen` a table of :func:`null_importance` results gives."""
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
    model, evaluation, split: Split, history: pd.DataFrame, config: ScreenConfig | None, eval_config
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
    The table travels on the screen. Nothing given is changed: the result says what to use.
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
    features = table[table["kind"] == "feature"]
    unearned = tuple(features[~features["earned"]]["name"])
    noise = tuple(features[~features["beats_null"]]["name"])  # what drop mode removes
    timings = {"screen": time.perf_counter() - start}
    metrics = {
        "screen_features_earned": float(len(features) - len(unearned)),
        "screen_features_unearned": float(len(unearned)),
        "screen_features_noise": float(len(noise)),
        "screen_auc_cost": 0.0,
    }
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


# ----------------------------------------------------------------------------------------------
# The evidence
# ----------------------------------------------------------------------------------------------
def plot_null_importance(
    table: pd.DataFrame, contract: DataContract, kind: str = "feature"
) -> Figure:
    """Real importance (dot) against the null's mean and configured quantile (bar), per feature."""
    shown = table[table["kind"] == kind].sort_values("importance").reset_index(drop=True)
    concept_labels = {c.name: c.label_text for c in contract.concepts}
    labels = [
        contract.describe(n) if kind == "feature" else concept_labels[n] for n in shown["name"]
    ]
    fig = Figure(figsize=(9, 0.3 * len(shown) + 2.4), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(shown))
    quantile, ratio = table.attrs.get("quantile", ""), table.attrs.get("min_ratio", 1.0)
    ax.barh(y, shown["null_quantile"], color="#BBBBBB", label=f"null, {quantile} quantile")
    ax.scatter(shown["null_mean"], y, marker="|", s=80, color="#555555", label="null, mean")
    ax.scatter(
        shown["null_quantile"] * ratio,
        y,
        marker="|",
        s=120,
        color="#0072B2",
        label=f"to be earned ({ratio:g}x the quantile)",
    )
    earned = shown["earned"].to_numpy(bool)
    ax.scatter(
        shown["importance"][earned],
        y[earned],
        s=24,
        marker="o",
        color="#0072B2",
        zorder=3,
        label="real labels: earned",
    )
    ax.scatter(
        shown["importance"][~earned],
        y[~earned],
        s=30,
        marker="x",
        color="#D55E00",
        zorder=3,
        label="real labels: not earned (other factors)",
    )
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel="mean |contribution| (log-odds)",
        title=f"Earned reasons: real vs {table.attrs.get('permutations', 'K')} label-permuted refits",
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
