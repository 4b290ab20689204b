"""What every Hydra entry point shares: the absolute configs folder and friendly errors.

Hydra's relative ``config_path`` fails from console scripts, so apps are built with the
checkout's ``configs/`` resolved by :func:`resilience.paths.config_dir`. A
:class:`~resilience.errors.ResilienceError` is printed as one clear message (no traceback) and the
command exits with status 2.
"""
from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from resilience.errors import ResilienceError
from resilience.paths import config_dir, project_root

EXIT_USER_ERROR = 2
# libraries that narrate their work at INFO level; an operator needs only their warnings
QUIET_LOGGERS = ("weasyprint", "fontTools", "matplotlib", "mlflow", "alembic", "py4j", "urllib3", "numexpr")


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], object]], Callable[[], object]]:
    """Decorate a ``task(cfg)`` function into a console-script ``main()``."""

    # ${project_root:} in configs: the checkout, whatever the working directory
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(project_root()))

    def decorate(task: Callable[[DictConfig], object]) -> Callable[[], object]:
        @functools.wraps(task)
        def guarded(cfg: DictConfig) -> object:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
            try:
                missing = [key for key in cfg if OmegaConf.is_missing(cfg, key)]
                if missing:
                    raise ResilienceError(f"missing required setting(s): {', '.join(missing)} "
                                          f"(e.g. {missing[0]}=<value>); see --help")
                return task(cfg)
            except ResilienceError as exc:
                logging.getLogger("resilience").debug("user error", exc_info=True)
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(EXIT_USER_ERROR)

        return hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)(guarded)

    return decorate
