"""Reading a policy config (the harm index in ``configs/priority/``, the playbook in
``configs/playbook/``): by default the file named after the model's data config; a name or a path
picks another. Policies are set by people and are never model inputs; each kind checks its own
content against the data config after reading."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from resilience.core.errors import ConfigError
from resilience.core.paths import config_dir as default_config_dir


def read_policy_config(
    kind: str, name: str | None, data_config: str, config_dir: Path | None = None
) -> tuple[dict, Path] | None:
    """The mapping in ``<config_dir>/<kind>/<name or data_config>.yaml`` (or at the path ``name``)
    and its path. With no name and no such file, None; a named file that is missing, unreadable or
    not a mapping is a :class:`ConfigError` naming it."""
    path = (
        Path(name)
        if name and Path(name).suffix in (".yaml", ".yml")
        else (config_dir or default_config_dir()) / kind / f"{name or data_config}.yaml"
    )
    if not path.is_file():
        if name:
            raise ConfigError(f"no {kind} config at {path}")
        return None
    try:
        raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as exc:  # omegaconf/yaml raise several types for a malformed file
        raise ConfigError(f"{path}: not a readable YAML {kind} config: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw, path
