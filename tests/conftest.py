"""Shared fixtures: small seeded synthetic worlds, an isolated MLflow store per test, and one trained
champion per test run (shared read-only; a test that writes into a store gets its own copy)."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import os
import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Two test workers share two cores: LightGBM gets one thread each (two threads per worker stall
# badly here). Console commands read RESILIENCE_N_JOBS through configs/model/lightgbm.yaml
# (model.n_jobs); models fitted in the test process without n_jobs use LightGBM's default, which
# counts cores through joblib, capped by LOKY_MAX_CPU_COUNT.
os.environ.setdefault("RESILIENCE_N_JOBS", "1")
os.environ.setdefault("LOKY_MAX_CPU_COUNT", "1")
# NumPy's and SciPy's OpenBLAS and the OpenMP runtime start a thread per core too, whose idle threads
# spin between calls: with two workers on two cores, they only take turns with the other worker
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path

import pandas as pd
import pytest
from command_server import run_console

from resilience.cli._app import GC_THRESHOLDS
from resilience.data.contract import load_data_contract
from resilience.data.synthetic import WorldConfig, generate_world, write_world
from resilience.data.validate import validate_frame

BIN = Path(sys.executable).parent


# -- the order files reach the xdist workers --------------------------------------------------------
def pytest_configure(config):
    # `--dist loadfile` would hand out the files with the most tests first, leaving the few long end-to-end
    # files (the scoring, training and CLI ones) for last, where one worker runs them while the other idles
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_finish(session):
    """What the worker has loaded by now (the libraries, every test module) stays for the whole run:
    frozen, no garbage collection walks it again (a full collection during a test walked it all).
    The tests run under the collector thresholds every console command sets for itself."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def pytest_collection_modifyitems(config, items):
    """Files with the most end-to-end (``slow``) tests first, then by number of tests; within a file the
    order is kept. The long files start early and the many short ones fill both workers at the end."""
    slow, count = Counter(), Counter()
    for item in items:
        count[item.path] += 1
        slow[item.path] += item.get_closest_marker("slow") is not None
    items.sort(key=lambda item: (-slow[item.path], -count[item.path]))


SMALL_WORLD = WorldConfig(n_lines=6000, seed=3)
# the shared champion's world (smaller than SMALL_WORLD: tests of what a store, a week or a
# briefing does, not of how well it ranks): a test run trains on it once and scores its weeks
STORE_WORLD = WorldConfig(n_lines=4000, seed=3)
# weekly extracts of its last 40 weeks only (2026-W08..W47): older disruptions are in no snapshot, as
# a force's would be before it kept extracts
TINY_WORLD = WorldConfig(n_lines=1500, seed=5, weekly_extract_weeks=40)


@pytest.fixture(scope="session")
def contract():
    return load_data_contract("default")


@pytest.fixture(scope="session")
def small_world():
    """About 5,000 labelled disruptions over three years, plus four unlabelled weeks."""
    return generate_world(SMALL_WORLD)


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory, small_world):
    folder = tmp_path_factory.mktemp("world")
    write_world(small_world, folder)
    return folder


def _write_tiny_world(folder: Path) -> None:
    write_world(generate_world(TINY_WORLD), folder)


@pytest.fixture(scope="session")
def tiny_world_dir(tmp_path_factory) -> Path:
    """The tiny world written once per test run (read only), for tests of what a run does rather
    than how well it ranks."""
    return built_once(tmp_path_factory, "tiny-world", _write_tiny_world)


@pytest.fixture(scope="session")
def small_history(small_world, contract):
    return validate_frame(
        small_world.history, contract, require_label=True, today=pd.Timestamp(SMALL_WORLD.end_date)
    ).frame


@pytest.fixture(scope="session")
def tiny_history(contract):
    """The tiny world's labelled history (about 1,300 disruptions), for tests of what training runs
    decide and record rather than how well they rank."""
    world = generate_world(TINY_WORLD)
    return validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp(TINY_WORLD.end_date)
    ).frame


# -- new MLflow stores: copies of one blank store made per test run ---------------------------------
def _blank_store(folder: Path) -> None:
    """An empty MLflow store, its schema migrated (what MLflow does, in seconds, to a new database)."""
    import subprocess

    script = "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    subprocess.run([sys.executable, "-c", script, uri], cwd=folder, check=True, capture_output=True)


@pytest.fixture(scope="session")
def blank_store(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "blank-store", _blank_store)


def copy_blank_store(blank: Path, folder: Path, name: str = "mlflow.db") -> str:
    """The URI of a new, empty store ``folder/name``: a copy of ``blank`` (MLflow's schema already
    migrated, as a new store's would be), the paths it keeps moved to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(blank / "mlflow.db", folder / name)
    move_store(folder / name, str(blank), str(folder))
    return f"sqlite:///{folder / name}"


@pytest.fixture()
def new_store_uri(blank_store, tmp_path) -> str:
    """The URI of a new, empty SQLite MLflow store in this test's tmp_path (``mlflow.db``)."""
    return copy_blank_store(blank_store, tmp_path)


@pytest.fixture()
def mlflow_uri(new_store_uri, monkeypatch):
    """A fresh SQLite MLflow store for one test; nothing touches the project's mlflow.db."""
    import mlflow

    uri = new_store_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # the next test does not inherit this store


@pytest.fixture()
def mlflow_at(monkeypatch):
    """``mlflow_at(store)`` points this test's in-process MLflow at ``store``; after the test, at none."""
    import mlflow

    def point(store: Store) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
        mlflow.set_tracking_uri(store.uri)

    yield point
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def toolkit_commands() -> list[str]:
    """The toolkit's console commands, without the ``resilience-`` prefix: the ones pyproject.toml
    declares (as installed), so a new command is covered by every test that loops over them."""
    from importlib.metadata import entry_points

    return sorted(
        ep.name.removeprefix("resilience-")
        for ep in entry_points(group="console_scripts")
        if ep.name.startswith("resilience-")
    )


def run_command(
    name: str,
    *args: str,
    cwd: Path,
    env: dict | None = None,
    timeout: int = 600,
    fresh: bool = False,
):
    """Run one of the toolkit's console commands; returns the CompletedProcess.

    The command is a fork of a server that has imported the toolkit once (``command_server``), which
    saves each command ~3 s of imports; ``fresh=True`` starts the console script itself, in a new
    interpreter (for what depends on one: start-up imports, string-hash order, signals sent to it).
    """
    full_env = {**os.environ, **(env or {})}
    if not fresh:
        return run_console(
            name, args, executable=BIN / name, cwd=cwd, env=full_env, timeout=timeout
        )
    import subprocess

    return subprocess.run(
        [str(BIN / name), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _makefile_setting(name: str) -> str:
    """A ``NAME ?= value`` default of the project's Makefile."""
    import re

    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    return re.search(rf"^{name} \?= (\S+)$", makefile, flags=re.MULTILINE).group(1)


# the servers run as `make mlflow-ui` runs MLflow's UI: without MLflow's job runner
MLFLOW_JOBS = _makefile_setting("MLFLOW_JOBS")


@contextlib.contextmanager
def serving_mlflow(command: str, *options: str, cwd: Path) -> Iterator[str]:
    """``mlflow <command>`` (``server`` or ``ui``) on a free local port with ``options``; yields its
    URL once /health answers (within 120 s), and stops it afterwards."""
    import subprocess
    import time

    import requests

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "mlflow"), command, "--host", "127.0.0.1", "--port", str(port), *options],
        cwd=cwd,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": MLFLOW_JOBS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail(f"mlflow {command} did not start within 120 s")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# -- one trained champion per test run --------------------------------------------------------------
def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder ``build(folder)`` fills once per test run. Under pytest-xdist the workers share it: the
    first to get the lock builds it in the run's common temporary folder, the others wait and reuse it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    common = tmp_path_factory.getbasetemp().parent  # this run's folder, above each worker's own
    folder, done = common / name, common / f"{name}.complete"
    with open(common / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker that failed to build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


class Planted:
    """Unpickling this runs ``touch <marker>``: what a hostile model file or store would hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))

    @classmethod
    def pickled(cls, marker: Path) -> bytes:
        import cloudpickle

        return cloudpickle.dumps(cls(marker))


# -- one registration key pair per test run -----------------------------------------------------------
def _make_keys(folder: Path) -> None:
    from resilience.tracking import signing

    signing.new_key_pair(folder / "registration_key.pem", folder / "trusted_keys", "test run")


@pytest.fixture(scope="session", autouse=True)
def signing_keys(tmp_path_factory) -> Path:
    """A registration key and its trusted list, made once per test run and shared by the workers (so a
    version one worker registers, another can vet); every command the tests run finds them through
    ``$RESILIENCE_SIGNING_KEY`` and ``$RESILIENCE_TRUSTED_KEYS``."""
    from resilience.tracking import signing

    folder = built_once(tmp_path_factory, "signing-keys", _make_keys)
    os.environ[signing.KEY_ENV] = str(folder / "registration_key.pem")
    os.environ[signing.TRUSTED_ENV] = str(folder / "trusted_keys")
    return folder


@dataclass(frozen=True)
class Store:
    """A folder holding an MLflow store (``mlflow.db`` + ``mlartifacts/``) with the champion of
    ``STORE_WORLD`` registered as ``line-resilience`` version 1, and the world it was trained on."""

    root: Path
    world: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.uri}

    def weeks(self) -> list[Path]:
        return sorted((self.world / "weekly").glob("*.parquet"))


def _train(folder: Path, blank: Path) -> None:
    store = Store(folder, folder / "world")
    copy_blank_store(blank, folder)
    write_world(generate_world(STORE_WORLD), store.world)
    result = run_command(
        "resilience-train",
        f"input={store.world / 'disruptions.parquet'}",
        f"hydra.run.dir={folder / 'run'}",
        "evaluation.n_bootstrap=20",
        # a smaller reason screen than the shipped one (what it decides: tests/test_explain.py)
        "explain.screen.permutations=4",
        "explain.screen.resamples=2",
        cwd=folder,
        env=store.env,
        fresh=True,  # a new interpreter: the reruns of this run (forks) compare their metrics with it
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory, signing_keys, blank_store) -> Store:
    """The champion trained once per test run on the store world (``STORE_WORLD``); tests only read it (see ``trained``)."""
    folder = built_once(tmp_path_factory, "trained-store", lambda f: _train(f, blank_store))
    return Store(folder, folder / "world")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> SHA-256)."""
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def run_score(
    store: Store,
    week_file: Path,
    output_root: Path,
    *extra: str,
    cwd: Path,
    env: dict | None = None,
    fresh: bool = False,
):
    """``resilience-score`` of one week with ``store``'s champion, without the briefing."""
    return run_command(
        "resilience-score",
        f"input={week_file}",
        f"output_root={output_root}",
        "report=false",
        *extra,
        cwd=cwd,
        env={**store.env, **(env or {})},
        fresh=fresh,
    )


@pytest.fixture()
def trained(shared_store) -> Iterator[Store]:
    """The shared champion, read-only: the test fails if it wrote into the store (use ``own_store``)."""
    before = tree(shared_store.root)
    yield shared_store
    assert tree(shared_store.root) == before, "this test wrote into the shared store: use own_store"


def copy_store(source: Store, target: Path) -> Store:
    """A copy of ``source`` at ``target`` that is its own store: the absolute paths MLflow keeps in the
    database (artifact locations) are moved to the copy; the artifacts' bytes (and digests) are unchanged."""
    shutil.copytree(source.root, target, ignore=shutil.ignore_patterns("run", "world"))
    move_store(target / "mlflow.db", str(source.root), str(target))
    # the runs' recorded inputs moved with the store: the world they name is the source's
    if source.world.is_relative_to(source.root):
        (target / source.world.relative_to(source.root)).symlink_to(source.world)
    return Store(target, source.world)


def move_store(database: Path, old: str, new: str) -> None:
    """Rewrite the absolute paths an MLflow SQLite store keeps (artifact locations) from ``old`` to ``new``."""
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            for column in [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]:
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )


@pytest.fixture()
def own_store(shared_store, tmp_path) -> Store:
    """A private copy of the trained champion's store, for a test that logs, registers or tags."""
    return copy_store(shared_store, tmp_path / "store")


def _score_last_two_weeks(store: Store) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        for week_file in store.weeks()[-2:]:
            # forks, as the tests that rescore are: that a new interpreter (its own string-hash
            # order) writes the same bytes as a fork is tests/test_score.py's own check
            result = run_score(store, week_file, folder, "log_to_mlflow=false", cwd=folder)
            assert result.returncode == 0, result.stderr[-3000:]

    return build


@pytest.fixture(scope="session")
def shared_scored_weeks(tmp_path_factory, shared_store) -> Path:
    """The world's last two weeks scored once per test run by the shared champion (no report, no MLflow
    run): the starting state of tests about re-scoring; copy it (``scored_weeks``) before writing."""
    return built_once(tmp_path_factory, "scored-weeks", _score_last_two_weeks(shared_store))


@pytest.fixture()
def scored_weeks(shared_scored_weeks, tmp_path) -> Path:
    """A private copy of the two scored weeks (an ``output_root``)."""
    target = tmp_path / "scored-weeks"
    shutil.copytree(shared_scored_weeks, target)
    return target
