"""What every Hydra entry point shares: the absolute configs folder and friendly errors.

Hydra's relative ``config_path`` fails from console scripts, so apps are built with the
checkout's ``configs/`` resolved by :func:`resilience.core.paths.config_dir`.

No Python traceback ever reaches the user. A :class:`~resilience.core.errors.ResilienceError` is printed
as one clear message and the command exits with status 2; so are the failures the toolkit knows
but a library raises (a damaged MLflow store, a refused file operation, an MLflow error). SIGTERM
ends with status 143, Ctrl-C with 130. Anything unexpected is one line naming the file where the
full trace was written, status 1.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from resilience.cli._config import error_message, register_schemas
from resilience.core.errors import ResilienceError, Terminated, os_error_message
from resilience.core.paths import config_dir, project_root

FULL_ERROR = "HYDRA_FULL_ERROR"
_ASKED_TO_RAISE: list[bool] = []  # non-empty while this process asked Hydra to raise, not print
EXIT_USER_ERROR = 2
EXIT_UNEXPECTED = 1
EXIT_TERMINATED = 143
EXIT_INTERRUPTED = 130
# libraries that narrate their work at INFO level; an operator needs only their warnings
QUIET_LOGGERS = (
    "weasyprint",
    "fontTools",
    "matplotlib",
    "mlflow",
    "alembic",
    "py4j",
    "urllib3",
    "numexpr",
    "optuna",
)


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], object]], Callable[[], object]]:
    """Decorate a ``task(cfg)`` function into a console-script ``main()``."""

    # ${project_root:} in configs: the checkout, whatever the working directory
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(project_root()))
    register_schemas()

    def decorate(task: Callable[[DictConfig], object]) -> Callable[[], object]:
        @functools.wraps(task)
        def guarded(cfg: DictConfig) -> object:
            if _ASKED_TO_RAISE:  # composed: the task's own errors are handled below
                os.environ.pop(FULL_ERROR, None)
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
            # a batch command's output is for people and logs: no MLflow download bars (set here, at the edge)
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            signal.signal(signal.SIGTERM, _terminate)  # cleanups (temporary folders) run on SIGTERM
            try:
                missing = [key for key in cfg if OmegaConf.is_missing(cfg, key)]
                if missing:
                    raise ResilienceError(
                        f"missing required setting(s): {', '.join(missing)} "
                        f"(e.g. {missing[0]}=<value>); see --help"
                    )
                return task(cfg)
            except ResilienceError as exc:
                logging.getLogger("resilience").debug("user error", exc_info=True)
                _fail(str(exc), EXIT_USER_ERROR)
            except Terminated as exc:
                _fail(str(exc), EXIT_TERMINATED)
            except KeyboardInterrupt:
                _fail(
                    "interrupted; nothing was half-written (temporary files are removed)",
                    EXIT_INTERRUPTED,
                )
            except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
                message, code = known_failure(exc)
                _fail(message, code)

        composed = hydra.main(
            version_base="1.3", config_path=str(config_dir()), config_name=config_name
        )(guarded)
        return functools.wraps(task)(_one_line_config_errors(composed))

    return decorate


def _one_line_config_errors(composed: Callable[[], object]) -> Callable[[], object]:
    """Hydra prints a config it cannot compose over several lines and exits 1; raised to here
    instead, it becomes one line naming the nearest key, status 2 (unless the caller asked for
    Hydra's own full traces with ``HYDRA_FULL_ERROR=1``)."""

    def main() -> object:
        if os.environ.get(FULL_ERROR):
            return composed()
        os.environ[FULL_ERROR] = "1"
        _ASKED_TO_RAISE.append(True)
        try:
            return composed()
        except (HydraException, OmegaConfBaseException) as exc:
            _fail(error_message(exc), EXIT_USER_ERROR)
        finally:
            os.environ.pop(FULL_ERROR, None)
            _ASKED_TO_RAISE.clear()

    return main


def _terminate(signum, frame) -> None:
    raise Terminated(
        "terminated (SIGTERM); nothing was half-written and temporary files were removed"
    )


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def known_failure(exc: Exception) -> tuple[str, int]:
    """One message (and exit status) for an exception a library raised; unexpected ones are logged."""
    # lazy, for start-up time: MLflow loads only when a failure needs its store named
    from resilience.tracking.store import registry_label, store_damaged_message

    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - MLflow depends on it
        SQLAlchemyError = ()  # type: ignore[assignment]  # noqa: N806
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:  # pragma: no cover
        MlflowException = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, SQLAlchemyError):
        return store_damaged_message(
            registry_label(), getattr(exc, "orig", None) or type(exc).__name__
        ), EXIT_USER_ERROR
    if isinstance(exc, MlflowException):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, SQLAlchemyError) or "database" in exc.message.lower():
            return store_damaged_message(
                registry_label(), exc.message.splitlines()[0]
            ), EXIT_USER_ERROR
        return f"MLflow ({registry_label()}): {exc.message.splitlines()[0]}", EXIT_USER_ERROR
    if isinstance(exc, OSError):
        return os_error_message(exc, "a file could not be read or written"), EXIT_USER_ERROR
    return (
        f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
        f"(the full trace is in {_log_trace(exc)}; please report it)",
        EXIT_UNEXPECTED,
    )


def _log_trace(exc: BaseException) -> Path:
    """Write the full trace of an unexpected error to a file; returns where."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = Path(tempfile.gettempdir()) / f"resilience-error-{stamp}-{id(exc):x}.log"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        path.write_text(f"{' '.join(sys.argv)}\n{text}", encoding="utf-8")
    except OSError:
        logging.getLogger("resilience").debug("could not write %s", path)
    return path
