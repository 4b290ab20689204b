"""The registered model as an MLflow pyfunc: extract in, probability and reasons out.

``mlflow.pyfunc.load_model(uri).predict(extract)`` validates the extract against the data
contract stored with the model (with or without the label column) and returns one row per
disruption, in input order: its id, the calibrated ``persistence_probability``, the yardstick
band, the line's range (``probability_low``, ``probability_high``, ``band_uncertain``; a model
trained without intervals has none) and the top reasons for and against in words. This is also what
``mlflow.pyfunc.spark_udf`` runs on each Spark partition, so Spark and pandas scoring agree.

Loading a pickled model runs code, so load it with :func:`load_vetted` rather than
``mlflow.pyfunc.load_model``: the version's signature by a trusted key and the digests of its
files, card and evidence are checked, each read once, before anything is unpickled, and it is
unpickled from the bytes that were checked (see :mod:`resilience.tracking.vetting`). Every
version carries the toolkit's code (MLflow ``code_paths``) and pins its requirements
(:func:`log_persistence_model`).
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema

from resilience.data.record_age import complete_record_age, require_record_age
from resilience.data.validate import validate_frame
from resilience.explain import REASON_COLUMNS, explain
from resilience.learn.ranges import interval_table
from resilience.tracking.vetting import load_vetted_pyfunc

OUTPUT_COLUMNS = ("persistence_probability", "yardstick_band", *REASON_COLUMNS, "summary")


class ResiliencePyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a fitted :class:`~resilience.learn.models.PersistenceModel`."""

    def __init__(self, model):
        self.model = model

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        contract = self.model.contract
        frame = validate_frame(pd.DataFrame(model_input), contract, source="model input").frame
        frame = require_record_age(frame, contract, self.model.feature_names_, "model input")
        explanation = explain(self.model, frame)
        out = pd.DataFrame(
            {
                "disruption_id": frame[contract.id_column].astype(str).to_numpy(),
                "persistence_probability": explanation.probability,
                "yardstick_band": explanation.bands,
            }
        )
        ranges = interval_table(self.model, frame, explanation.probability)
        for column in ranges.columns:
            out[column] = ranges[column].to_numpy()
        reasons = explanation.reasons
        for column in REASON_COLUMNS:
            out[column] = reasons[column].to_numpy()
        out["summary"] = explanation.summary
        return out


def load_vetted(
    model_uri: str, allow_unregistered: bool = False, trusted_keys: str | None = None
) -> mlflow.pyfunc.PyFuncModel:
    """``mlflow.pyfunc.load_model`` for this toolkit's models, vetted first.

    Only a registered version (``models:/name@alias``, ``models:/name/N``, ``models:/m-<id>``) of
    the current registry, signed by a key in the trusted list (``trusted_keys``, else
    ``$RESILIENCE_TRUSTED_KEYS``) and whose files, model card and evidence match what was signed,
    loads; anything else is refused with a :class:`~resilience.core.errors.ResilienceError` before
    any code in it can run, unless ``allow_unregistered=True``.
    """
    return load_vetted_pyfunc(model_uri, allow_unregistered, trusted_keys)[0]


def log_persistence_model(model, input_example: pd.DataFrame, registered_model_name: str | None):
    """Log the fitted model as a pyfunc with signature and input example; register it if named."""

    python_model = ResiliencePyfunc(model)
    contract = model.contract
    example = (
        input_example.drop(columns=[contract.label], errors="ignore").head(5).reset_index(drop=True)
    )
    if contract.record_age_column and contract.record_age_column not in example.columns:
        # a model trained on final records: its example rows are complete records
        example[contract.record_age_column] = complete_record_age(contract)
    # the signature speaks MLflow types: categories travel as plain strings
    example = example.apply(
        lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c
    )
    with _quiet_logging():
        signature = optional_derived(
            infer_signature(example, python_model.predict(None, example)),
            contract.derived_columns,
            _nullable_whole_numbers(contract),
        )
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=signature,
            input_example=example,
            registered_model_name=registered_model_name,
            pip_requirements=model_requirements(),
            code_paths=[toolkit_source()],
        )


@contextmanager
def _quiet_logging():
    """MLflow's notices that do not apply to this model, kept off the data scientist's terminal:
    the hint that an integer column cannot hold a missing value (the contract refuses an empty
    cell in a whole-number column unless it may be empty, and those are typed ``Any``:
    :func:`_nullable_whole_numbers`), and the caution that a pickled model runs code when loaded
    (it is loaded only through :func:`load_vetted`, which checks its signature first)."""
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    pyfunc_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Hint: Inferred schema contains integer column"
            )
            yield
    finally:
        pyfunc_log.setLevel(level)


def optional_derived(
    signature: ModelSignature, derived, any_type: frozenset[str] = frozenset()
) -> ModelSignature:
    """The signature with the contract's derived columns (the record's age) optional: the pyfunc
    takes them when given and derives them from the extraction date otherwise. The columns in
    ``any_type`` are typed ``Any``: the pyfunc checks them against the data contract itself."""
    inputs = Schema(
        [
            ColSpec(
                AnyType() if spec.name in any_type else spec.type,
                spec.name,
                required=spec.name not in set(derived),
            )
            for spec in signature.inputs.inputs
        ]
    )
    return ModelSignature(inputs, signature.outputs, signature.params)


def _nullable_whole_numbers(contract) -> frozenset[str]:
    """Whole-number columns that may be empty: read with and without an empty cell, such a column
    is a float or an integer column, and MLflow's signature accepts only one of the two (an
    extract with an empty cell was refused before the contract saw it)."""
    return frozenset(
        spec.name for spec in contract.columns if spec.dtype == "int" and spec.nullable
    )


def toolkit_source() -> str:
    """The ``resilience`` package folder: logged with every model (``code_paths``) so the model
    loads wherever MLflow and the pinned requirements are installed, without this checkout."""
    return str(Path(__file__).resolve().parents[1])


def model_requirements() -> list[str]:
    """The packages the pyfunc needs, pinned to what is installed (stated, not inferred: MLflow's
    inference loads the model in a subprocess and costs seconds per run)."""
    pins = []
    for package in (
        "mlflow",
        "lightgbm",
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "pandera",
        "scipy",
        "omegaconf",
    ):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins
