"""Model families: each supplies the hooks the toolkit calls, so nothing outside a family branches
on its name.

A family fits :class:`~resilience.learn.models.PersistenceModel`'s estimator and answers, for it:

* ``margin`` — the raw output (log-odds) on the model's prepared input matrix, and
  ``member_margin`` the same for an estimator refitted by the recipe (the ranges' members);
* ``contributions`` — the exact SHAP values of every row in log-odds with their base, so that
  ``base + contributions.sum(axis=1) == margin`` (checked row by row by :mod:`resilience.explain`):

  - ``lightgbm``: exact TreeSHAP with the *tree-path-dependent* value function, computed by
    LightGBM itself (``Booster.predict(X, pred_contrib=True)``) on the model's own input matrix,
    categorical features explained natively; the base is the model's expected margin over the
    training rows (weighted by each tree's cover). ``shap.TreeExplainer`` gives bit-identical
    values because it calls the same C++ code (``benchmarks/explain.py`` times both).
  - ``logistic``: exact *interventional* linear SHAP against the training rows. The design matrix
    is standardised on the rows the regression was fitted on, so every design column has mean 0
    there and feature ``j``'s value is ``sum_{k in block(j)} coef_k * z_k`` (a categorical
    feature's block is its one-hot columns); the base is the intercept.
* ``refit`` — the recipe refitted on other labels with the main fit's capacity (the ranges'
  members), and ``fixed_params`` — the recipe's settings with its number of trees fixed (the
  reason screen's null refits);
* ``paired_params`` — the recipe without random subsampling (two fits differing in one column);
* ``known_params`` — every parameter the library accepts (a typo is refused before fitting),
  ``param_types`` their types where the library declares them (a wrong type is refused too) and
  ``resolved_params`` the settings in force for a config's ``params`` (its nulls filled with the
  toolkit's defaults: what a run records);
* ``capacity`` — trees and leaves, or coefficients: what an explanation's cost scales with.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from resilience.core.errors import ConfigError, ExplanationError
from resilience.learn.preparation import design_blocks, linear_design
from resilience.learn.split import time_ordered_group_folds

FALLBACK_TREES = 200  # when no validation fold can be formed (a very short history)
ADDITIVITY_TOLERANCE = 1e-6  # |base + sum(contributions) - margin|, log-odds, every row

# The toolkit's LightGBM settings: the one place for them. ``params`` (configs/model/lightgbm.yaml,
# where ``null`` means "this default") overrides them key by key.
DEFAULT_LGBM_PARAMS = {
    "n_estimators": 2000,  # an upper bound: early stopping picks the real number
    "learning_rate": 0.04,  # smaller = more trees, smoother fit
    "num_leaves": 5,  # leaves per tree: capacity, and the cost of every explanation
    "max_depth": -1,
    "min_child_samples": 80,  # rows a leaf needs: guards against fitting noise
    "subsample": 0.8,  # row subsampling per tree ...
    "subsample_freq": 1,  # ... redrawn every tree
    "colsample_bytree": 0.8,  # feature subsampling per tree
    "reg_lambda": 1.0,  # L2 penalty on leaf values
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 8,
}
DEFAULT_LOGISTIC_PARAMS = {"C": 1.0}  # inverse L2 regularisation strength
TYPE_NAMES = {int: "int", float: "float", bool: "bool", str: "str"}


class LightGBMFamily:
    """Gradient-boosted trees, the number of trees chosen by early stopping on time-ordered,
    line-grouped folds (so the model gets only the capacity the data needs)."""

    name = "lightgbm"
    params_hint = "parameters and aliases (see the LightGBM parameter docs)"
    # settings that count rows: scaled by the rows per disruption, so they count disruptions
    ROW_COUNTS = ("min_child_samples", "min_data_per_group")

    @staticmethod
    @lru_cache(maxsize=1)
    def known_params() -> frozenset[str]:
        """Every parameter name (and alias) the installed LightGBM accepts, with its sklearn
        arguments (``lightgbm.basic._ConfigAliases``: the table LightGBM's C API publishes)."""
        import lightgbm  # lazy: LightGBM loads its native library; the CLI starts without it
        from lightgbm.basic import _ConfigAliases

        names = set(lightgbm.LGBMClassifier().get_params())
        for name, aliases in _ConfigAliases._get_all_param_aliases().items():
            names.add(name)
            names.update(aliases)
        return frozenset(names)

    @staticmethod
    @lru_cache(maxsize=1)
    def param_types() -> dict[str, str]:
        """``{parameter or alias: "int" | "float" | "str" | "bool"}`` where LightGBM's scikit-learn
        wrapper annotates it (or, for the toolkit's other defaults, the default's type); an alias
        has its parameter's type."""
        import inspect
        import typing

        import lightgbm  # lazy: LightGBM loads its native library; the CLI starts without it
        from lightgbm.basic import _ConfigAliases

        types = {name: TYPE_NAMES[type(v)] for name, v in DEFAULT_LGBM_PARAMS.items()}
        for name, parameter in inspect.signature(
            lightgbm.LGBMClassifier.__init__
        ).parameters.items():
            hint = parameter.annotation
            inner = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(inner) == 1:  # Optional[int] -> int
                hint = inner[0]
            if hint in TYPE_NAMES:
                types[name] = TYPE_NAMES[hint]
        for name, aliases in _ConfigAliases._get_all_param_aliases().items():
            group = {name, *aliases}
            kinds = {types[n] for n in group if n in types}
            if len(kinds) == 1:
                types.update(dict.fromkeys(group, kinds.pop()))
        return types

    @staticmethod
    def resolved_params(params: dict | None) -> dict:
        """The settings in force: the toolkit's defaults overridden by ``params`` (null keeps one)."""
        return {**DEFAULT_LGBM_PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}

    @classmethod
    def _params(cls, model) -> dict:
        """LightGBM keyword arguments: the defaults, overridden by ``params`` (``None`` keeps a default)."""
        params = cls.resolved_params(model.params)
        for name in LightGBMFamily.ROW_COUNTS:
            params[name] = max(1, int(round(params[name] * model.rows_per_disruption_)))
        params.setdefault("random_state", model.random_state)
        params.setdefault("verbose", -1)
        if model.n_jobs is not None:
            params.setdefault("n_jobs", int(model.n_jobs))
        if model.monotone:
            params["monotone_constraints"] = [
                int(model.monotone.get(f, 0)) for f in model.feature_names_
            ]
            params.setdefault("monotone_constraints_method", "intermediate")
        return params

    def fit(self, model, X: pd.DataFrame, y: np.ndarray, dates: pd.Series, lines: pd.Series):
        import lightgbm as lgb  # lazy: LightGBM loads its native library; the CLI starts without it

        params = self._params(model)
        best, fold_auc, fold_logloss = [], [], []
        folds = []
        if model.early_stopping_rounds and model.n_folds > 0:
            folds = list(
                time_ordered_group_folds(dates, lines, model.n_folds, model.fold_gap_weeks)
            )
            if (
                not folds
            ):  # a short history cannot afford the gap: validate on later rows without it
                folds = list(time_ordered_group_folds(dates, lines, model.n_folds, 0))
        for train_pos, val_pos in folds:
            if len(np.unique(y[train_pos])) < 2 or len(np.unique(y[val_pos])) < 2:
                continue
            probe = lgb.LGBMClassifier(**params)
            with warnings.catch_warnings():  # eval_set is renamed in newer LightGBM; both work
                warnings.simplefilter("ignore", category=FutureWarning)
                warnings.simplefilter("ignore", category=DeprecationWarning)
                probe.fit(
                    X.iloc[train_pos],
                    y[train_pos],
                    eval_set=[(X.iloc[val_pos], y[val_pos])],
                    eval_metric="binary_logloss",
                    callbacks=[lgb.early_stopping(model.early_stopping_rounds, verbose=False)],
                )
            # more rows support more trees: scale the stopping point to the full fit's size
            best.append(max(1, probe.best_iteration_) * len(X) / len(train_pos))
            val_margin = probe.predict(X.iloc[val_pos], raw_score=True)
            fold_auc.append(roc_auc_score(y[val_pos], val_margin))
            fold_logloss.append(float(probe.best_score_["valid_0"]["binary_logloss"]))
        model.best_iterations_ = [round(b) for b in best]
        # Scores on later, line-disjoint folds inside the training span: what sweeps optimise.
        model.cv_scores_ = (
            {"cv_roc_auc": float(np.mean(fold_auc)), "cv_log_loss": float(np.mean(fold_logloss))}
            if fold_auc
            else {}
        )
        if best:
            n_estimators = int(round(np.median(best)))
        elif model.early_stopping_rounds:
            n_estimators = FALLBACK_TREES  # early stopping wanted but no fold could be formed
        else:
            n_estimators = int(params["n_estimators"])  # early stopping off: exactly what was asked
        final = {**params, "n_estimators": max(10, min(n_estimators, int(params["n_estimators"])))}
        model.lgbm_params_ = final  # what was fitted, defaults included (for the run's record)
        model.estimator_ = lgb.LGBMClassifier(**final).fit(X, y)

    @staticmethod
    def margin(model, X: pd.DataFrame) -> np.ndarray:
        return model.estimator_.predict(X, raw_score=True)

    @staticmethod
    def member_margin(model, estimator, design, X: pd.DataFrame) -> np.ndarray:
        return estimator.predict(X, raw_score=True)

    def contributions(self, model, X: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
        booster = model.estimator_.booster_
        if not len(X):  # LightGBM refuses an empty matrix
            return np.zeros((0, X.shape[1])), _tree_base(booster), np.zeros(0)
        raw = booster.predict(X, pred_contrib=True)
        if raw.shape[1] != X.shape[1] + 1:
            raise ExplanationError(
                f"LightGBM returned {raw.shape[1]} contribution columns for {X.shape[1]} features; "
                "only binary models are explained"
            )
        bases = raw[:, -1]
        if np.ptp(bases) > ADDITIVITY_TOLERANCE:
            raise ExplanationError(
                "LightGBM's expected value differs between rows; the model cannot be explained"
            )
        margin = booster.predict(X, raw_score=True)
        return raw[:, :-1], float(bases[0]), np.asarray(margin, float)

    @staticmethod
    def refit(model, X: pd.DataFrame, y: np.ndarray, seed: int):
        """The same recipe and number of trees, with its own row and feature subsampling."""
        return clone(model.estimator_).set_params(random_state=seed).fit(X, y)

    @staticmethod
    def fixed_params(model) -> dict:
        trees = int(model.estimator_.get_params()["n_estimators"])
        return {"params": {**(model.params or {}), "n_estimators": trees, "n_jobs": 1}}

    @staticmethod
    def paired_params(params: dict | None) -> dict:
        """The recipe without its random row and feature subsampling: two fits that differ in one
        column then differ only by it (the summary-column test compares such pairs)."""
        return {"params": {**(params or {}), "subsample": 1.0, "colsample_bytree": 1.0}}

    @staticmethod
    def capacity(model) -> dict:
        booster = model.estimator_.booster_
        dump = booster.dump_model(num_iteration=-1)
        leaves = sum(t["num_leaves"] for t in dump["tree_info"])
        return {"trees": booster.num_trees(), "leaves": int(leaves)}


def _tree_base(booster) -> float:
    """The expected margin, for an empty frame (pred_contrib needs a row)."""
    return sum(_expected_leaf(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"])


def _expected_leaf(node: dict) -> float:
    if "leaf_value" in node:
        return float(node["leaf_value"])
    left, right = node["left_child"], node["right_child"]
    nl, nr = _count(left), _count(right)
    return (nl * _expected_leaf(left) + nr * _expected_leaf(right)) / max(nl + nr, 1)


def _count(node: dict) -> float:
    return float(node.get("leaf_count", node.get("internal_count", 0)))


class LogisticFamily:
    """The transparent baseline: a regularised logistic regression on log-scaled, standardised
    numbers and one-hot categories (:func:`~resilience.learn.preparation.linear_design`)."""

    name = "logistic"

    @staticmethod
    def known_params() -> frozenset[str]:
        return frozenset(DEFAULT_LOGISTIC_PARAMS)  # what the baseline reads

    @staticmethod
    def param_types() -> dict[str, str]:
        return {name: TYPE_NAMES[type(v)] for name, v in DEFAULT_LOGISTIC_PARAMS.items()}

    @staticmethod
    def resolved_params(params: dict | None) -> dict:
        """The settings in force: the defaults overridden by ``params`` (null keeps one)."""
        return {
            **DEFAULT_LOGISTIC_PARAMS,
            **{k: v for k, v in (params or {}).items() if v is not None},
        }

    @property
    def params_hint(self) -> str:
        return f"parameters: {', '.join(sorted(self.known_params()))}"

    @staticmethod
    def fit(model, X: pd.DataFrame, y: np.ndarray, dates: pd.Series, lines: pd.Series):
        model.cv_scores_ = {}
        model.design_ = linear_design(X)
        Z = model.design_.fit_transform(X).to_numpy(float)
        model.design_blocks_ = design_blocks(model.design_)
        # the penalty weighs against the sum of the rows' losses: per disruption, not per row
        C = float(LogisticFamily.resolved_params(model.params)["C"]) / model.rows_per_disruption_
        model.estimator_ = LogisticRegression(C=C, max_iter=2000).fit(Z, y)

    @staticmethod
    def margin(model, X: pd.DataFrame) -> np.ndarray:
        return model.estimator_.decision_function(model.design_.transform(X).to_numpy(float))

    @staticmethod
    def member_margin(model, estimator, design, X: pd.DataFrame) -> np.ndarray:
        # None: the main model's design (members pickled before they carried one too)
        design = design if design is not None else model.design_
        # as arrays, as the main fit saw them (a frame warns that the names were not fitted)
        return estimator.decision_function(design.transform(X).to_numpy(float))

    @staticmethod
    def contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
        base = float(np.asarray(model.estimator_.intercept_).reshape(-1)[0])
        if not len(X):
            return np.zeros((0, X.shape[1])), base, np.zeros(0)
        Z = model.design_.transform(X).to_numpy(float)
        weighted = Z * np.asarray(model.estimator_.coef_, float).reshape(-1)
        contributions = np.empty((len(X), len(model.feature_names_)))
        for j, name in enumerate(model.feature_names_):
            contributions[:, j] = weighted[:, model.design_blocks_[name]].sum(axis=1)
        margin = np.asarray(model.estimator_.decision_function(Z), float)
        return contributions, base, margin

    @staticmethod
    def refit(model, X: pd.DataFrame, y: np.ndarray, seed: int):
        """The same regression on the main model's design (deterministic: ``seed`` is not needed)."""
        return clone(model.estimator_).fit(model.design_.transform(X).to_numpy(float), y)

    @staticmethod
    def fixed_params(model) -> dict:
        return {}

    @staticmethod
    def paired_params(params: dict | None) -> dict:
        return {}  # a regularised regression is deterministic already

    @staticmethod
    def capacity(model) -> dict:
        return {"coefficients": int(model.estimator_.coef_.size)}


FAMILIES = {family.name: family for family in (LightGBMFamily(), LogisticFamily())}


def family(name: str):
    """The family called ``name``; a :class:`ConfigError` naming the families otherwise."""
    if name not in FAMILIES:
        raise ConfigError(f"model family must be one of {tuple(FAMILIES)}, not {name!r}")
    return FAMILIES[name]
