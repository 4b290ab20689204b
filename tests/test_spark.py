"""The registered pyfunc scores on Spark (local mode) exactly as on pandas, with Spark's Python
workers running an interpreter where the toolkit is not installed (the model carries it).

Spark needs Java. Where it is missing the test is skipped on a developer's machine but FAILS in
CI (``CI`` set): the test setup installs a JRE there, and a silent skip would hide a broken path."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from test_portable import python_without_the_toolkit

RESULT_TYPE = (
    "disruption_id string, persistence_probability double, yardstick_band string, "
    "reason_for_1 string, reason_for_2 string, reason_for_3 string, reason_against_1 string, "
    "reason_against_2 string, reason_against_3 string, summary string"
)


def require_java() -> None:
    if shutil.which("java") is None:
        message = "Spark needs Java (install a JRE, e.g. Debian openjdk-17-jre-headless)"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must install it, the Spark path is otherwise untested")
        pytest.skip(message)


@pytest.mark.slow
def test_spark_udf_equals_the_pandas_path(own_store, mlflow_at, monkeypatch, tmp_path):
    """The champion ``resilience-train`` registered (conftest, trained once per test run), in a copy of
    its store: MLflow's load_model writes ``registered_model_meta`` beside a local store's artifacts."""
    require_java()
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import struct

    mlflow_at(own_store)
    uri = "models:/line-resilience@champion"
    week = pd.read_parquet(own_store.weeks()[-1])
    expected = mlflow.pyfunc.load_model(uri).predict(week)

    # workers run an interpreter that has the libraries but not the toolkit: the model brings it
    python, env = python_without_the_toolkit(tmp_path)
    monkeypatch.setenv("PYSPARK_PYTHON", python)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    monkeypatch.setenv(
        "PYTHONPATH", env["PYTHONPATH"]
    )  # the JVM and its workers inherit it; this process has imported all it needs
    # one core and one Python worker (the other test worker has the other core), with the week
    # spread over three partitions, so each line is scored apart from most of the others; the
    # JVM's quick compiler only and one garbage collector thread (a short job: ~4 s less CPU)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("resilience-test")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    try:
        udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=RESULT_TYPE, env_manager="local")
        frame = spark.createDataFrame(week).repartition(3)
        scored = (
            frame.withColumn("scored", udf(struct(*week.columns))).select("scored.*").toPandas()
        )
    finally:
        spark.stop()
    got = scored.set_index("disruption_id").loc[expected["disruption_id"]].reset_index()
    np.testing.assert_allclose(
        got["persistence_probability"], expected["persistence_probability"], rtol=0, atol=1e-9
    )
    for column in ("yardstick_band", "reason_for_1", "reason_against_1", "summary"):
        assert (got[column].fillna("") == expected[column].fillna("")).all(), column
