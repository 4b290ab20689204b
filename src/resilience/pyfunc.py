"""The registered model as an MLflow pyfunc: extract in, probability (and reasons) out.

``mlflow.pyfunc.load_model(uri).predict(extract)`` validates the extract against the data
contract stored with the model (with or without the label column) and returns one row per
disruption: its id, the calibrated ``persistence_probability`` and the yardstick band. This is
also what ``mlflow.pyfunc.spark_udf`` runs on each Spark partition.
"""
from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from resilience.data.validate import validate_frame
from resilience.yardstick import band


class ResiliencePyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a fitted :class:`~resilience.models.PersistenceModel`."""

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        contract = self.model.contract
        frame = validate_frame(pd.DataFrame(model_input), contract, source="model input").frame
        probability = self.model.persistence_probability(frame)
        return pd.DataFrame({
            contract.id_column: frame[contract.id_column].astype(str).to_numpy(),
            "persistence_probability": probability,
            "yardstick_band": [band(p) for p in probability],
        })
