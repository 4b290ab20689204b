"""How raw extract columns become a model's inputs (both families) and the logistic baseline's design.

* :func:`input_preparation` (``PersistenceModel.preparation_``): numbers and booleans as floats,
  categories as a pandas ``Categorical`` with the training categories (what LightGBM splits on
  natively), in the order of ``feature_names_``;
* :func:`linear_design` (``design_``, logistic only): a ``ColumnTransformer`` making the design
  matrix from that; :func:`design_blocks` gives the positions of each feature's design columns:
  the blocks exact linear SHAP sums.

Fitted pipelines hold these functions (pickled by name), so their names are part of every
registered model (see the import shim ``resilience/models.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler


# -- input preparation (both families) ----------------------------------------------------------
def as_float(X: pd.DataFrame) -> pd.DataFrame:
    """Numbers and booleans as floats; missing (None, NA, NaN) and non-numbers as NaN."""
    return pd.DataFrame({name: _floats(X[name]) for name in X.columns}, index=X.index)


def _floats(values: pd.Series) -> np.ndarray:
    """One column as floats: a numeric or boolean column directly (missing as NaN), any other
    value by value (text that reads as a number becomes it, the rest NaN)."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    numbers = pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce")
    return numbers.to_numpy(dtype="float64", na_value=np.nan)


def as_category(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Values as text in a pandas ``Categorical`` with the training categories (others become missing)."""
    out = {}
    for name in X.columns:
        values = X[name].astype(object).where(X[name].notna(), None)
        out[name] = pd.Categorical(
            values.map(lambda v: v if v is None else str(v)), categories=categories[name]
        )
    return pd.DataFrame(out, index=X.index)


def in_order(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns of ``X`` in the given order."""
    return X[columns]


def _ordered_names(transformer: FunctionTransformer, input_features) -> np.ndarray:
    return np.asarray(transformer.kw_args["columns"], dtype=object)


def input_preparation(features: tuple[str, ...], categories: dict[str, list[str]]) -> Pipeline:
    """How raw extract columns become model inputs, returned in ``features`` order.

    ``categories`` names the categorical features and their categories (learned at fit: the data
    config's allowed values, or else those seen in training); every other feature is a number.
    """
    numbers = [f for f in features if f not in categories]
    categorical = [f for f in features if f in categories]
    convert = ColumnTransformer(
        [
            ("numbers", FunctionTransformer(as_float, feature_names_out="one-to-one"), numbers),
            (
                "categories",
                FunctionTransformer(
                    as_category,
                    kw_args={"categories": {f: list(categories[f]) for f in categorical}},
                    feature_names_out="one-to-one",
                ),
                categorical,
            ),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    order = FunctionTransformer(
        in_order, kw_args={"columns": list(features)}, feature_names_out=_ordered_names
    )
    return Pipeline([("convert", convert), ("order", order)]).set_output(transform="pandas")


# -- the logistic baseline's design matrix --------------------------------------------------------
def log1p_nonnegative(X):
    """``log1p`` of values clipped at zero (counts and amounts span orders of magnitude)."""
    return np.log1p(np.clip(X, 0, None))


def _spans_magnitudes(values: pd.Series) -> bool:
    return bool(values.min(skipna=True) >= 0 and values.max(skipna=True) > 1)


def linear_design(X: pd.DataFrame) -> ColumnTransformer:
    """The (unfitted) design matrix of the logistic baseline on prepared input ``X``.

    Categoricals are one-hot on their training categories (unseen and missing: all zero); missing
    numbers take the training median (0 if never seen) and are ``log1p``-scaled when the training
    values are non-negative and exceed 1; every design column is standardised. Once fitted,
    :func:`design_blocks` says which design columns belong to each feature.
    """
    categorical = [f for f in X.columns if isinstance(X[f].dtype, pd.CategoricalDtype)]
    numbers = [f for f in X.columns if f not in categorical]
    logged = [f for f in numbers if _spans_magnitudes(X[f])]
    impute = lambda: SimpleImputer(strategy="median", keep_empty_features=True)  # noqa: E731
    onehot = OneHotEncoder(
        categories=[list(X[f].cat.categories) for f in categorical],
        handle_unknown="ignore",
        sparse_output=False,
    )
    return ColumnTransformer(
        [
            (
                "log_numbers",
                Pipeline(
                    [
                        ("impute", impute()),
                        (
                            "log1p",
                            FunctionTransformer(log1p_nonnegative, feature_names_out="one-to-one"),
                        ),
                        ("scale", StandardScaler()),
                    ]
                ),
                logged,
            ),
            (
                "numbers",
                Pipeline([("impute", impute()), ("scale", StandardScaler())]),
                [f for f in numbers if f not in logged],
            ),
            (
                "categories",
                Pipeline([("onehot", onehot), ("scale", StandardScaler())]),
                categorical,
            ),
        ],
        remainder="drop",
    ).set_output(transform="pandas")


def design_blocks(design: ColumnTransformer) -> dict[str, np.ndarray]:
    """Positions of each input feature's columns in a fitted design's output (what exact linear SHAP sums)."""
    blocks = {}
    for name, _, columns in design.transformers_:
        if name == "remainder" or not len(columns):
            continue
        position = design.output_indices_[name].start
        widths = (
            [len(c) for c in design.named_transformers_[name]["onehot"].categories_]
            if name == "categories"
            else [1] * len(columns)
        )
        for feature, width in zip(columns, widths):
            blocks[feature] = np.arange(position, position + width)
            position += width
    return blocks
