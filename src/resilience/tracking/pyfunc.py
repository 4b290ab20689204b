"""The registered model as an MLflow pyfunc: extract in, probability and reasons out.

``mlflow.pyfunc.load_model(uri).predict(extract)`` validates the extract against the data
contract stored with the model (with or without the label column) and returns one row per
disruption, in input order: its id, the calibrated ``persistence_probability``, the yardstick
band, the line's range (``probability_low``, ``probability_high``, ``band_uncertain``; a model
trained without intervals has none) and the top reasons for and against in words. This is also what
``mlflow.pyfunc.spark_udf`` runs on each Spark partition, so Spark and pandas scoring agree.

Loading a pickled model runs code, so load it with :func:`load_vetted` rather than
``mlflow.pyfunc.load_model``: the registry record, the model card and the artifact digest are
checked before anything is unpickled (see :func:`resilience.tracking.vet_model`).
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from resilience.data.validate import validate_frame
from resilience.explain import REASON_COLUMNS

OUTPUT_COLUMNS = ("persistence_probability", "yardstick_band", *REASON_COLUMNS, "summary")


class ResiliencePyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a fitted :class:`~resilience.learn.models.PersistenceModel`."""

    def __init__(self, model):
        self.model = model

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from resilience.explain import explain
        from resilience.learn.ranges import interval_table

        contract = self.model.contract
        frame = validate_frame(pd.DataFrame(model_input), contract, source="model input").frame
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


def load_vetted(model_uri: str, allow_unregistered: bool = False) -> mlflow.pyfunc.PyFuncModel:
    """``mlflow.pyfunc.load_model`` for this toolkit's models, vetted first.

    Only a registered version (``models:/name@alias``, ``models:/name/N``, ``models:/m-<id>``) of
    the current registry with a model card and an unchanged artifact digest loads; anything else is
    refused with a :class:`~resilience.core.errors.ResilienceError` before any code in it can run, unless
    ``allow_unregistered=True``.
    """
    from resilience.tracking import load_vetted_pyfunc

    return load_vetted_pyfunc(model_uri, allow_unregistered)[0]
