"""What every Hydra entry point shares: the absolute configs folder and friendly errors.

Hydra's relative ``config_path`` fails from console scripts, so apps are built with the
checkout's ``configs/`` resolved by :func:`resilience.core.paths.config_dir`.

``--help`` (or ``-h``) prints the command's own page (:mod:`resilience.cli._help`) without
composing anything. A config that cannot be composed or resolved (an unknown key or option, an
override that cannot be read, a value of the wrong type) is one line naming the nearest valid key,
option or value, exit status 2, before any data are read (:mod:`resilience.cli._config`), and
before anything is written: the commands that keep a run folder (train and the commands built on
its config) check their settings in a Hydra callback, :class:`CheckSettings`, before Hydra makes it.

No Python traceback ever reaches the user. A :class:`~resilience.core.errors.ResilienceError` is printed
as one clear message and the command exits with status 2; so are the failures the toolkit knows
but a library raises (a damaged MLflow store, a refused file operation, an MLflow error). SIGTERM
ends with status 143, Ctrl-C with 130. Anything unexpected is one line naming the file where the
full trace was written, status 1.
"""

from __future__ import annotations

import functools
import gc
import itertools
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
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from resilience.cli._config import (
    check_command_settings,
    check_model_params,
    error_message,
    register_schemas,
    snapshot,
)
from resilience.cli._help import help_text
from resilience.core.errors import ResilienceError, Terminated, escaped, os_error_message
from resilience.core.paths import DECISION_KEY_ENV, config_dir, project_root

# The cyclic garbage collector, as a command runs it: a command's own data are frames and arrays
# that reference counting frees, while each full pass of the collector walks every object of the
# libraries it imported (millions). At Python's defaults (700, 10, 10) a training on a small world
# ran about 1,450 young passes and 9 full ones, 1.5-1.7 s of its 9.5-10 s of CPU; at these, 94
# young ones and 1 full one, 0.5-0.65 s, with the same peak memory (benchmarks/gc_thresholds.py)
GC_THRESHOLDS = (10_000, 10, 10)
FULL_ERROR = "HYDRA_FULL_ERROR"
_ASKED_TO_RAISE: list[bool] = []  # non-empty while this process asked Hydra to raise, not print
EXIT_USER_ERROR = 2
EXIT_UNEXPECTED = 1
EXIT_TERMINATED = 143
EXIT_INTERRUPTED = 130
# libraries that narrate their work at INFO level; an operator needs only their warnings
# loggers that print a failure (with its trace) that the toolkit then reports as one line itself
SILENT_LOGGERS = ("mlflow.store.db.utils",)
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
            for name in SILENT_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)
            # a batch command's output is for people and logs: no MLflow download bars (set here, at the edge)
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            signal.signal(signal.SIGTERM, _terminate)  # cleanups (temporary folders) run on SIGTERM
            check_settings(cfg)  # before any work (and, with a run folder, before it was made)
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
        checked = _one_line_config_errors(config_name, composed)
        return functools.wraps(task)(_with_help(config_name, checked))

    return decorate


def _with_help(config_name: str, main: Callable[[], object]) -> Callable[[], object]:
    """``--help`` / ``-h``: the command's own page, printed before anything is composed."""

    def with_help() -> object:
        gc.set_threshold(*GC_THRESHOLDS)  # the command's process, not a library that imports this
        if {"--help", "-h"} & set(sys.argv[1:]):
            defaults = {name: f["defaults"] for name, f in snapshot()["families"].items()}
            print(help_text(config_name, defaults), end="")
            return None
        return main()

    return with_help


def check_settings(cfg: DictConfig) -> None:
    """Every setting resolves (``seed=abc`` reaches typed settings), the model's own parameters
    (a free mapping in the schema) are ones its library takes and the data config is a contract
    (Hydra's own node is Hydra's); else one line and exit status 2."""
    # the callback's config holds Hydra's node too, some of it unset until the run starts
    settings = (
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    )
    try:
        check_command_settings(settings, _config_name(cfg))  # before ${seed} is resolved elsewhere
        OmegaConf.to_container(settings, resolve=True)
        if "model" in settings:
            check_model_params(settings.model)
        if "data" in settings:  # the contract checks its columns itself (keys, types, vocabularies)
            from resilience.data.contract import DataContract  # lazy: only commands that read data

            DataContract.from_dict(settings.data, source=data_config_file(cfg))
    except OmegaConfBaseException as exc:
        _fail(error_message(exc), EXIT_USER_ERROR)
    except ResilienceError as exc:
        _fail(str(exc), EXIT_USER_ERROR)


def _config_name(cfg: DictConfig) -> str:
    """The command's main config (``train``), from ``cfg``'s own Hydra node (a callback's config),
    else the running job's; "" outside a Hydra run."""
    if "hydra" in cfg:
        return str(cfg.hydra.job.config_name)
    return str(HydraConfig.get().job.config_name) if HydraConfig.initialized() else ""


def data_config_file(cfg: DictConfig | None = None) -> str | None:
    """The file Hydra composed ``data`` from (``configs/data/<choice>.yaml`` or a file on
    ``hydra.searchpath``), for messages: from ``cfg``'s own Hydra node (a callback's config), else
    the running job's; None outside a Hydra run."""
    if cfg is not None and "hydra" in cfg:
        runtime = cfg.hydra.runtime
    elif HydraConfig.initialized():
        runtime = HydraConfig.get().runtime
    else:
        return None
    choice = runtime.choices.get("data")
    folders = [Path(s.path) for s in runtime.config_sources if s.schema == "file"]
    for folder in [*folders, config_dir()]:
        path = folder / "data" / f"{choice}.yaml"
        if choice and path.is_file():
            relative = os.path.relpath(path)
            return relative if not relative.startswith("..") else str(path)
    return None


class CheckSettings(Callback):
    """A Hydra callback (``hydra.callbacks`` in configs/train.yaml): a run's settings are checked
    once Hydra has composed them and before it makes the run's folder, so a bad setting writes
    nothing (the commands that run in place make no folder: they check in the task). It exits
    itself: Hydra turns a callback's exceptions into warnings."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_settings(config)
        except Exception as exc:  # noqa: BLE001 - Hydra would only warn, and go on to make the folder
            _fail(*known_failure(exc))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        """A grid's or a study's settings, before its sweep folder is made, with every data config
        the grid sweeps over (each job's own values are checked again in its task)."""
        self.on_run_start(config)
        try:
            for variant in _data_variants(config):
                check_settings(variant)
        except Exception as exc:  # noqa: BLE001 - as above
            _fail(*known_failure(exc))


def _data_variants(config: DictConfig) -> list[DictConfig]:
    """The config composed with each combination of the values a grid sweeps the data config over
    (``data=a,b``, ``data.columns.x.min=0,1``), the grid's other sweeps left at their defaults: the
    columns are checked by the contract, not while Hydra composes, so a job's data config would
    otherwise be refused only inside its own job folder."""
    from hydra import compose  # lazy: only a --multirun grid needs it
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = list(config.hydra.overrides.task)
    parsed = OverridesParser.create().parse_overrides(given)
    swept = [
        o
        for o in parsed
        if o.is_sweep_override()
        and (o.key_or_group == "data" or o.key_or_group.startswith("data."))
    ]
    if not swept:
        return []
    fixed = [text for text, o in zip(given, parsed, strict=True) if not o.is_sweep_override()]
    fixed += list(config.hydra.overrides.hydra)  # where the configs are found (hydra.searchpath)
    keys = [o.get_key_element() for o in swept]
    values = [list(o.sweep_string_iterator()) for o in swept]
    return [
        compose(
            config.hydra.job.config_name,
            overrides=[*fixed, *(f"{k}={v}" for k, v in zip(keys, combo, strict=True))],
            return_hydra_config=True,
        )
        for combo in itertools.product(*values)
    ]


def _one_line_config_errors(
    config_name: str, composed: Callable[[], object]
) -> Callable[[], object]:
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
        except ResilienceError as exc:  # the model's parameters
            _fail(str(exc), EXIT_USER_ERROR)
        except (HydraException, OmegaConfBaseException, ValueError) as exc:
            # ValueError: an override Hydra's grammar reads but cannot apply (``=3``)
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
    # a setting or a file name echoed in it cannot drive the terminal; one problem a line
    shown = escaped(redact(message), keep_line_breaks=True)
    print(f"error: {shown}", file=sys.stderr)
    _record_in_run_log(shown)
    sys.exit(code)


def _record_in_run_log(message: str) -> None:
    """A run folder's log (``outputs/train/<time>/train.log``) ends with the error the command
    printed: a run that stopped on its data left its folder with the config and an empty log,
    no word of why. Only the log file takes it (the terminal has the one line already); commands
    that run in place, and a config refused before the folder was made, have no log file."""
    record = logging.LogRecord("resilience", logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


SECRET_SETTINGS = ("key_file",)  # settings whose value may be a key pasted in place of a path


def redact(text: str) -> str:
    """``text`` with any key the command was given (a ``key_file=`` value, the decision log's key
    from the environment) replaced: no message or trace file ever repeats a key."""
    secrets = [os.environ.get(DECISION_KEY_ENV, "")]
    for arg in sys.argv[1:]:
        name, _, value = arg.lstrip("+~").partition("=")
        if name.rsplit(".", 1)[-1] in SECRET_SETTINGS:
            secrets.append(value.strip("'\""))
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "<not shown>")
    return text


def known_failure(exc: Exception) -> tuple[str, int]:
    """One message (and exit status) for an exception a library raised; unexpected ones are logged."""
    # lazy, for start-up time: MLflow loads only when a failure needs its store named
    from resilience.tracking.store import mlflow_failure_message

    message = mlflow_failure_message(exc)
    if message is not None:
        return message, EXIT_USER_ERROR
    if isinstance(exc, OSError):
        return os_error_message(exc, "a file could not be read or written"), EXIT_USER_ERROR
    notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
    return (
        f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{notes} "
        f"(the full trace is in {_log_trace(exc)}; please report it)",
        EXIT_UNEXPECTED,
    )


def _log_trace(exc: BaseException) -> Path:
    """Write the full trace of an unexpected error to a file; returns where."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = Path(tempfile.gettempdir()) / f"resilience-error-{stamp}-{id(exc):x}.log"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        descriptor = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
        )  # readable by us only
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(redact(f"{' '.join(sys.argv)}\n{text}"))
    except OSError:
        logging.getLogger("resilience").debug("could not write %s", path)
    return path
