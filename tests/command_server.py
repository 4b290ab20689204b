"""The toolkit's console commands run from a pre-imported parent, for the tests.

Each ``resilience-<name>`` command spends about 3 s importing pandas, MLflow, SciPy, LightGBM, the
toolkit and what they load on first use before doing its own work; the end-to-end tests run about
150 of them. Here one server process per test worker imports all of that once
(``multiprocessing``'s fork server, which never runs a command itself: its only thread besides the
main one is pyarrow's jemalloc background thread, which is fork-safe), and every command is a fork
of it: a separate process with its own working directory, environment, argv, exit status and
captured stdout and stderr, like ``subprocess.run`` of the console script.

What differs from a fresh interpreter, and how the tests keep it honest: the libraries are already
imported (a command's own start-up is exercised where it matters: each installed script's
``--help`` in ``test_configs.py``, the start-up cost in ``test_cli_help.py``, both as new
processes) and every fork shares one string-hash seed (the runs that reruns are compared with byte
for byte or metric for metric are new processes: ``fresh=True``)."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pkgutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import entry_points
from multiprocessing import forkserver
from pathlib import Path

from resilience import pipelines

# what every command imports before its own work; the server imports these once
PRELOAD = [
    "resilience.cli._app",
    *(
        ep.value.split(":")[0]
        for ep in entry_points(group="console_scripts")
        if ep.name.startswith("resilience-")
    ),
    # the libraries a command imports once its config is known to be good
    *(f"resilience.pipelines.{module.name}" for module in pkgutil.iter_modules(pipelines.__path__)),
    # what the libraries import only when first used: MLflow's SQL stores (and their migrations),
    # the PDF renderer, the git tags of a run, pandera's checks (which load Hypothesis)
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "alembic.runtime.migration",
    "weasyprint",
    "fontTools.subset",
    "git",
    "hypothesis",
    "pandera.pandas",
    "pandera.backends.pandas.builtin_checks",
    "narwhals._pandas_like.dataframe",
    "alembic.command",
    "sqlalchemy.dialects.sqlite",
    "opentelemetry.sdk.metrics",
    "mlflow.tracing.export.mlflow_v3",
    "mlflow.utils.search_logged_model_utils",
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper",  # Hydra's plugin scan imports it
    # last: work every command repeats that starts no thread (SQLAlchemy's mappers configured)
    "command_server_warmup",
]

HERE = Path(__file__).resolve().parent
_CONTEXT: list[multiprocessing.context.BaseContext] = []


def _context() -> multiprocessing.context.BaseContext:
    if not _CONTEXT:
        context = multiprocessing.get_context("forkserver")
        # a module that does not import (the tactics extra may be missing) is skipped
        context.set_forkserver_preload(["command_server", *PRELOAD])
        # the server is a new interpreter that finds this module on PYTHONPATH (Python 3.11 does
        # not pass it the tests' sys.path)
        previous = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), previous]))
        try:
            forkserver.ensure_running()
        finally:
            if previous is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = previous
        _CONTEXT.append(context)
    return _CONTEXT[0]


def _entry_point(name: str):
    (ep,) = (ep for ep in entry_points(group="console_scripts") if ep.name == name)
    module, _, attribute = ep.value.partition(":")
    return getattr(import_module(module), attribute)


def _run_console(
    name: str, executable: str, args: list[str], cwd: str, env: dict, out: str, err: str
) -> None:
    """In the forked child: what ``<executable> <args>`` does as a console script, then exit."""
    code: int = 1
    try:
        os.chdir(cwd)
        # a console script's imports never look in its working directory
        sys.path[:] = [entry for entry in sys.path if entry not in ("", ".")]
        os.environ.clear()
        os.environ.update(env)
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.argv = [executable, *args]
        main = _entry_point(name)
        try:
            code = _exit_code(main())
        except SystemExit as stop:
            code = _exit_code(stop.code)
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _exit_code(value: object) -> int:
    """What the interpreter exits with for ``sys.exit(value)``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def run_console(
    name: str,
    args: Sequence[str],
    *,
    executable: Path,
    cwd: Path,
    env: dict,
    timeout: float,
) -> subprocess.CompletedProcess:
    """``subprocess.run([executable, *args], capture_output=True, text=True)``, forked from the
    server; raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds like it."""
    with tempfile.TemporaryDirectory(prefix="command-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        process = _context().Process(
            target=_run_console,
            args=(name, str(executable), list(args), str(cwd), dict(env), str(out), str(err)),
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired([str(executable), *args], timeout)
        return subprocess.CompletedProcess(
            [str(executable), *args],
            process.exitcode,
            out.read_text(errors="replace") if out.exists() else "",
            err.read_text(errors="replace") if err.exists() else "",
        )
