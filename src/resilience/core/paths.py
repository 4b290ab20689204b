"""Where the checkout's folders are, whatever the working directory.

Hydra's relative ``config_path`` breaks when an app runs as a console script, so every entry point
asks here for the absolute ``configs/`` folder. ``RESILIENCE_HOME`` overrides the project root
(for an install that is not an editable checkout).
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout's root: ``$RESILIENCE_HOME`` or the folder above ``src/``."""
    env = os.environ.get("RESILIENCE_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3]


def config_dir() -> Path:
    """The top-level ``configs/`` folder."""
    return project_root() / "configs"


def experiments_dir() -> Path:
    """The top-level ``experiments/`` folder (on Hydra's search path for training)."""
    return project_root() / "experiments"


def synthetic_dir() -> Path:
    """Where ``resilience-generate`` writes the synthetic world by default."""
    return project_root() / "data" / "synthetic"


# the decision log's signing key (governance/decisions.py); named here so a failure message can
# redact it without loading the log's libraries (cli/_app.py)
DECISION_KEY_ENV = "RESILIENCE_DECISION_KEY"
