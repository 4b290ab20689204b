"""Vetting benchmark: a registered version read in place from a store on this machine, against the
same version read through MLflow's download (how a tracking server's files are read), in one run.

A tiny synthetic world is trained and registered (signed with a throwaway key) in a temporary
SQLite store; then ``--loads`` vetted loads of the champion (``load_vetted_model``, evaluated model
included) and ``--loads`` reads of its files alone (``read_model_files``: what signing and the
artifact digest read) are timed both ways. Every load checks the same signature and digests and
unpickles the same bytes; only how the files reach memory differs. Prints the seconds per call
and the ratio new / baseline (the baseline is the download path, measured in the same run).

    python benchmarks/vetting.py                # 20 loads
    python benchmarks/vetting.py --loads 50

Measured 2026-12-05 on the shared 2-core machine (the version holds 205 files, the toolkit's
code included), median of 20: a vetted load 31.9 ms in place against 178.7 ms through the
download (ratio 0.18); its files alone 11.0 ms against 144.2 ms (0.08).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock


def build_store(folder: Path) -> None:
    """A store with one signed, registered champion of a tiny world."""
    import mlflow
    import pandas as pd

    from resilience.data.contract import load_data_contract
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame
    from resilience.learn.models import PersistenceModel
    from resilience.pipelines.train import TrainingData, TrainSettings, train_and_track
    from resilience.tracking import signing
    from resilience.tracking.store import TrackingConfig

    signing.new_key_pair(folder / "key.pem", folder / "trusted", "benchmark")
    os.environ[signing.KEY_ENV] = str(folder / "key.pem")
    os.environ[signing.TRUSTED_ENV] = str(folder / "trusted")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    config = WorldConfig(n_lines=1500, seed=5)
    contract = load_data_contract("default")
    history = validate_frame(
        generate_world(config).history,
        contract,
        require_label=True,
        today=pd.Timestamp(config.end_date),
    ).frame
    data = TrainingData(history, contract, "history.parquet", "0" * 64)
    settings = TrainSettings(tracking=TrackingConfig(tracking_uri=uri), progress=False)
    train_and_track(data, PersistenceModel(contract, n_jobs=1), settings)


def timed(call, loads: int) -> float:
    """Median seconds of ``loads`` calls (one warm-up call first)."""
    call()
    seconds = []
    for _ in range(loads):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from resilience.tracking import vetting

    with tempfile.TemporaryDirectory() as tmp:
        build_store(Path(tmp))
        uri = "models:/line-resilience@champion"

        def load():
            vetting.load_vetted_model(uri, evaluation_model=True)

        def files():
            with tempfile.TemporaryDirectory() as into:
                return vetting.read_model_files("line-resilience", "1", Path(into))

        count = len(files())
        new = {"load": timed(load, args.loads), "files": timed(files, args.loads)}
        # the baseline: the store read as a remote one is, through MLflow's download
        with mock.patch.object(vetting, "local_artifact_path", lambda artifact_uri: None):
            assert len(files()) == count
            old = {"load": timed(load, args.loads), "files": timed(files, args.loads)}
    print(f"a registered version of {count} files, median of {args.loads} calls each")
    for name, what in (("load", "vetted load"), ("files", "its files read")):
        print(
            f"  {what:16s} in place {new[name] * 1000:7.1f} ms   download {old[name] * 1000:7.1f} ms"
            f"   ratio {new[name] / old[name]:.2f}"
        )


if __name__ == "__main__":
    main()
