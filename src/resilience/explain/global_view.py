"""The global view of a model's explanations: importance by concept, feature and cohort, and plots.

Every figure is a plain ``matplotlib.figure.Figure`` (no pyplot state); :func:`global_view`
returns artifact path -> frame or figure for MLflow (through :mod:`resilience.tracking`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global state, no backend to set
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from resilience.data.contract import DataContract
from resilience.explain.explanation import Explanation, check_scale

# Colour-blind-safe (Okabe-Ito) colours.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FOUR_PS_COLOURS = {
    "pursue": "#0072B2",
    "prepare": "#E69F00",
    "protect": "#009E73",
    "prevent": "#CC79A7",
    "context": "#999999",
}

SCREEN_TABLE = "explain/null_importance.csv"  # the screen's verdicts, logged with every run


def concept_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| by concept (log-odds and points), largest first, with label and four-Ps strand."""
    cmap = explanation.concept_map
    log_odds = (
        np.abs(explanation.concept_matrix("log_odds")).mean(axis=0) if len(explanation) else 0.0
    )
    points = np.abs(explanation.concept_matrix("points")).mean(axis=0) if len(explanation) else 0.0
    frame = pd.DataFrame(
        {
            "concept": cmap.names,
            "label": [c.label_text for c in cmap.concepts],
            "four_ps": [c.four_ps for c in cmap.concepts],
            "features": [", ".join(explanation.features[j] for j in idx) for idx in cmap.members],
            "mean_abs_log_odds": log_odds,
            "mean_abs_points": points,
        }
    )
    total = frame["mean_abs_log_odds"].sum()
    frame["share"] = frame["mean_abs_log_odds"] / total if total > 0 else 0.0
    return frame.sort_values("mean_abs_log_odds", ascending=False, kind="stable").reset_index(
        drop=True
    )


def feature_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| by model feature (log-odds and points), largest first."""
    frame = pd.DataFrame(
        {
            "feature": explanation.features,
            "label": [explanation.contract.describe(f) for f in explanation.features],
            "concept": [explanation.contract.concept_of(f).name for f in explanation.features],
            "mean_abs_log_odds": explanation.contributions.abs().mean(axis=0).to_numpy(),
            "mean_abs_points": explanation.points.abs().mean(axis=0).to_numpy(),
        }
    )
    return frame.sort_values("mean_abs_log_odds", ascending=False, kind="stable").reset_index(
        drop=True
    )


def concept_importance_by_cohort(explanation: Explanation, scale: str = "log_odds") -> pd.DataFrame:
    """Mean |SHAP| by concept for each cohort value (e.g. imported vs home-grown): concepts x cohorts."""
    check_scale(scale)
    cmap = explanation.concept_map
    matrix = np.abs(explanation.concept_matrix(scale))
    cohorts = (
        explanation.cohort
        if explanation.cohort is not None
        else np.full(len(explanation), "all lines")
    )
    frame = pd.DataFrame(matrix, columns=cmap.names).groupby(np.asarray(cohorts)).mean().T
    frame.index.name = "concept"
    frame.insert(0, "label", [c.label_text for c in cmap.concepts])
    order = (
        frame.drop(columns="label").max(axis=1).sort_values(ascending=False, kind="stable").index
    )
    return frame.loc[order].reset_index()


def _sentence_case(label: str) -> str:
    return label[:1].upper() + label[1:]


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=100)


def plot_concept_importance(
    importance: pd.DataFrame, top: int = 15, title: str = "What the model weighs most"
) -> Figure:
    """Horizontal bars of mean |SHAP| (log-odds) by concept, coloured by four-Ps strand."""
    shown = importance.head(top).iloc[::-1]
    fig = _new_figure(9, 0.35 * len(shown) + 1.5)
    ax = fig.subplots()
    colours = [FOUR_PS_COLOURS.get(p, "#999999") for p in shown["four_ps"]]
    ax.barh(shown["label"], shown["mean_abs_log_odds"], color=colours)
    ax.set(xlabel="mean |contribution| (log-odds)", title=title)
    present = [p for p in FOUR_PS_COLOURS if p in set(shown["four_ps"])]
    ax.legend(
        handles=[Patch(color=FOUR_PS_COLOURS[p], label=p) for p in present],
        loc="lower right",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def plot_concept_importance_by_cohort(
    by_cohort: pd.DataFrame, top: int = 12, title: str = "What the model weighs, by cohort"
) -> Figure:
    """Side-by-side bars of mean |SHAP| by concept for each cohort value."""
    cohorts = [c for c in by_cohort.columns if c not in ("concept", "label")]
    shown = by_cohort.head(top).iloc[::-1]
    fig = _new_figure(9, 0.4 * len(shown) + 1.5)
    ax = fig.subplots()
    y = np.arange(len(shown))
    height = 0.8 / max(len(cohorts), 1)
    hatches = ("", "//", "..", "xx")
    for i, cohort in enumerate(cohorts):
        ax.barh(
            y + (i - (len(cohorts) - 1) / 2) * height,
            shown[cohort],
            height=height,
            color=PALETTE[i % len(PALETTE)],
            hatch=hatches[i % len(hatches)],
            label=str(cohort).replace("_", " "),
        )
    ax.set_yticks(y, shown["label"])
    ax.set(xlabel="mean |contribution| (log-odds)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def _rank_colour(values: pd.Series) -> np.ndarray:
    """Feature value as a 0-1 colour position (rank within the feature); NaN where not numeric."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        codes = pd.Series(pd.factorize(values)[0], dtype=float).replace(-1, np.nan)
        numeric = codes
    else:
        numeric = pd.to_numeric(values.astype(float), errors="coerce")
    ranks = numeric.rank(pct=True)
    return ranks.to_numpy(float)


def plot_beeswarm(
    explanation: Explanation, top: int = 12, max_rows: int = 4000, seed: int = 0
) -> Figure:
    """Beeswarm: one dot per row per feature at its contribution, coloured by the feature's value."""
    importance = feature_importance(explanation).head(top).iloc[::-1]
    n = len(explanation)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, max_rows), replace=False)) if n else np.zeros(0, int)
    fig = _new_figure(9, 0.4 * len(importance) + 1.6)
    ax = fig.subplots()
    scatter = None
    for y, feature in enumerate(importance["feature"]):
        x = explanation.contributions[feature].to_numpy()[pick]
        colour = _rank_colour(explanation.values[feature].iloc[pick].reset_index(drop=True))
        # Jitter grows with local density so the swarm shows where values pile up.
        bins = np.digitize(x, np.linspace(x.min(), x.max(), 60)) if len(x) else x
        counts = np.bincount(bins) if len(x) else np.zeros(1)
        density = counts[bins] / max(counts.max(), 1) if len(x) else x
        jitter = (rng.random(len(x)) - 0.5) * 0.8 * density
        missing = np.isnan(colour)
        ax.scatter(x[missing], y + jitter[missing], s=4, color="#999999", alpha=0.5, linewidths=0)
        scatter = ax.scatter(
            x[~missing],
            y + jitter[~missing],
            s=4,
            c=colour[~missing],
            cmap="viridis",
            vmin=0,
            vmax=1,
            alpha=0.7,
            linewidths=0,
        )
    ax.axvline(0, color="#666666", linewidth=0.8)
    ax.set_yticks(
        np.arange(len(importance)), [_sentence_case(label) for label in importance["label"]]
    )
    ax.set(xlabel="contribution to the estimate (log-odds)", title="Contributions per line")
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value (rank)")
    fig.tight_layout()
    return fig


def plot_dependence(
    explanation: Explanation, top: int = 4, max_rows: int = 4000, seed: int = 0
) -> Figure:
    """Contribution against value for the main feature of each of the ``top`` concepts."""
    features = _main_features(explanation, top)
    n = len(explanation)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, max_rows), replace=False)) if n else np.zeros(0, int)
    columns = min(len(features), 2) or 1
    rows_ = math.ceil(len(features) / columns) or 1
    fig = _new_figure(5 * columns, 3.6 * rows_)
    axes = np.atleast_1d(fig.subplots(rows_, columns)).reshape(-1)
    for ax, feature in zip(axes, features):
        y = explanation.contributions[feature].to_numpy()[pick]
        values = explanation.values[feature].iloc[pick]
        label = _sentence_case(explanation.contract.describe(feature))
        if values.dtype == bool:
            values = values.map({True: "yes", False: "no"})
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            cats = [c for c in pd.unique(values.dropna().astype(str))]
            cats.sort()
            groups = [y[(values.astype(str) == c).to_numpy()] for c in cats]
            ax.boxplot(groups, vert=True, showfliers=False)
            ax.set_xticks(
                np.arange(1, len(cats) + 1),
                [c.replace("_", " ") for c in cats],
                rotation=30,
                ha="right",
            )
        else:
            x = pd.to_numeric(values.astype(float), errors="coerce").to_numpy()
            ax.scatter(x, y, s=5, color=PALETTE[0], alpha=0.4, linewidths=0)
            if np.nanmin(x) >= 0 and np.nanmax(x) > 50 * max(np.nanpercentile(x, 50), 1):
                ax.set_xscale("symlog")
        ax.axhline(0, color="#666666", linewidth=0.8)
        ax.set(xlabel=label, ylabel="contribution (log-odds)")
    for ax in axes[len(features) :]:
        ax.set_visible(False)
    fig.suptitle("How the estimate moves with each main feature")
    fig.tight_layout()
    return fig


def _main_features(explanation: Explanation, top: int) -> list[str]:
    """For the ``top`` concepts by mean |SHAP|, the feature with the largest mean |SHAP| in each."""
    by_feature = explanation.contributions.abs().mean(axis=0)
    out = []
    for concept in concept_importance(explanation)["concept"].head(top):
        members = [
            f for f in explanation.features if explanation.contract.concept_of(f).name == concept
        ]
        out.append(max(members, key=lambda f: by_feature[f]))
    return out


def global_view(explanation: Explanation, top: int = 4) -> dict[str, pd.DataFrame | Figure]:
    """Frames and figures for the model card / MLflow: artifact path -> DataFrame or Figure.

    Explain a representative sample (e.g. the test period) first. Every figure is a plain
    ``matplotlib.figure.Figure`` (no pyplot state), ready for ``mlflow.log_figure(fig, name)``;
    frames for ``mlflow.log_text(frame.to_csv(index=False), name)``.

    Examples
    --------
    >>> for name, item in global_view(explain(model, test_frame)).items():
    ...     log_figure(item, name) if name.endswith(".png") else log_text(item.to_csv(index=False), name)
    """
    importance = concept_importance(explanation)
    by_cohort = concept_importance_by_cohort(explanation)
    return {
        **_screen_evidence(explanation),
        "explain/concept_importance.csv": importance,
        "explain/concept_importance_by_cohort.csv": by_cohort,
        "explain/feature_importance.csv": feature_importance(explanation),
        "explain/concept_importance.png": plot_concept_importance(importance),
        "explain/concept_importance_by_cohort.png": plot_concept_importance_by_cohort(by_cohort),
        "explain/beeswarm.png": plot_beeswarm(explanation),
        "explain/dependence.png": plot_dependence(explanation, top=top),
    }


def _screen_evidence(explanation: Explanation) -> dict[str, pd.DataFrame | Figure]:
    """The null-importance test behind the reasons (when the model was screened): table and plots."""
    table = explanation.screen.table if explanation.screen is not None else None
    if table is None:
        return {}
    return {
        SCREEN_TABLE: table,
        "explain/null_importance_features.png": plot_null_importance(
            table, explanation.contract, "feature"
        ),
        "explain/null_importance_concepts.png": plot_null_importance(
            table, explanation.contract, "concept"
        ),
    }


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
