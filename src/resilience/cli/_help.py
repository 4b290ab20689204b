"""``resilience-<command> --help``: usage, the overrides that matter for that command, and examples,
read from the command's own main config (``configs/<command>.yaml``) so each fact stays in one place.

A main config documents itself for this page: its header comment says what the command does, may
name the group settings most often changed (``# Often changed: split.test_weeks model.params.num_leaves``)
and ends with at least three examples (``# Examples:`` then one ``#   resilience-...`` per line);
each top-level key and each config group in its defaults list carries a trailing comment. The
page lists the command's own settings and groups only (``resilience-score --help`` does not offer
the model group). Hydra's own help stays available as ``--hydra-help``; ``--cfg job`` prints every
setting composed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from resilience.core.paths import config_dir, experiments_dir

HIDDEN_GROUPS = {"runtime"}  # plumbing (where files go), not a choice a user makes
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w]*):(?P<rest>.*)$")
INCLUDE_LINE = re.compile(r"^ *- (?P<config>[A-Za-z_]\w*) *(#.*)?$")
GROUP_LINE = re.compile(r"^ *- (?P<group>[\w/]+): *(?P<option>[^#\s]+)")


@dataclass
class Setting:
    key: str
    value: str
    comment: str


@dataclass
class MainConfig:
    """What ``--help`` shows of one main config."""

    command: str
    description: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    often_changed: list[str] = field(default_factory=list)
    groups: list[Setting] = field(default_factory=list)  # value: the default option
    settings: list[Setting] = field(default_factory=list)


def split_comment(text: str) -> tuple[str, str]:
    """``value  # comment`` -> (value, comment); a ``#`` inside quotes is part of the value."""
    quote = None
    for i, char in enumerate(text):
        if char in "\"'" and quote in (None, char):
            quote = None if quote == char else char
        elif char == "#" and quote is None and (i == 0 or text[i - 1] in " \t"):
            return text[:i].strip(), text[i + 1 :].strip()
    return text.strip(), ""


def yaml_settings(path: Path) -> dict[str, Setting]:
    """Every key of a YAML file by its dotted path, with its value as written and its comment."""
    found, parents = {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = KEY_LINE.match(line)
        if not match:
            continue
        depth = len(match["indent"])
        parents = [(d, k) for d, k in parents if d < depth]
        dotted = ".".join([k for _, k in parents] + [match["key"]])
        value, comment = split_comment(match["rest"])
        found[dotted] = Setting(dotted, value.strip('"'), comment)
        parents.append((depth, match["key"]))
    return found


def _header(lines: list[str], config: MainConfig) -> None:
    in_examples = False
    for raw in lines:
        text = raw[1:].strip() if raw.startswith("#") else None
        if text is None:
            break
        if text.lower().startswith("examples:") or text.lower().startswith("example:"):
            in_examples = True
            rest = text.split(":", 1)[1].strip()
            config.examples += [rest] if rest else []
        elif text.lower().startswith("often changed:"):
            config.often_changed = text.split(":", 1)[1].split()
        elif in_examples and text.startswith("resilience-"):
            config.examples.append(text)
        elif not in_examples and text:
            title = f"resilience-{config.command}: "
            config.description.append(text.removeprefix(title))


def read_main_config(command: str) -> MainConfig:
    """A main config's help: header, groups in its defaults list, top-level settings."""
    path = config_dir() / f"{command}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    config = MainConfig(command)
    _header(lines, config)
    in_defaults = False
    for line in lines:
        if line.startswith("defaults:"):
            in_defaults = True
            continue
        if in_defaults and line.startswith(" "):
            included = INCLUDE_LINE.match(line)
            if included and (config_dir() / f"{included['config']}.yaml").is_file():
                base = read_main_config(included["config"])  # another main config, included whole
                config.groups += base.groups
                config.settings += base.settings
                continue
            match = GROUP_LINE.match(line)
            if match and "/" not in match["group"] and match["group"] not in HIDDEN_GROUPS:
                comment = split_comment(line.split(":", 1)[1])[1]
                config.groups.append(Setting(match["group"], match["option"], comment))
            continue
        in_defaults = False
    top = {
        k: s for k, s in yaml_settings(path).items() if k.split(".")[0] not in ("defaults", "hydra")
    }
    # a top-level mapping shows its own keys (``review.tactics=[]``), a plain setting itself
    own = [
        s
        for k, s in top.items()
        if not any(o.startswith(f"{k}.") for o in top) and k.count(".") <= 1
    ]
    # a setting this config overrides replaces the included config's, in place; its own follow
    own_by_key = {s.key: s for s in own}
    included = {s.key for s in config.settings}
    config.settings = [own_by_key.get(s.key, s) for s in config.settings] + [
        s for s in own if s.key not in included
    ]
    return config


def group_options(group: str) -> list[str]:
    folder = experiments_dir() if group == "experiment" else config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def group_setting(group_key: str, groups: list[Setting], family_defaults: dict) -> Setting | None:
    """``model.params.num_leaves`` as the group's default option writes it (a null model
    parameter shows the toolkit's default in force)."""
    group, _, key = group_key.partition(".")
    option = next((g.value for g in groups if g.key == group), None)
    if option is None or option == "null":
        return None
    setting = yaml_settings(config_dir() / group / f"{option}.yaml").get(key)
    if setting is None:
        return None
    if group == "model" and key.startswith("params.") and setting.value == "null":
        default = family_defaults.get(option, {}).get(key.split(".", 1)[1])
        if default is not None:
            return Setting(group_key, f"{default}", setting.comment + " (null: the default)")
    return Setting(group_key, setting.value, setting.comment)


def _rows(settings: list[tuple[str, str]], width: int = 30) -> list[str]:
    out = []
    for left, comment in settings:
        pad = " " * max(2, width - len(left))
        out.append(f"  {left}{pad}{comment}" if comment else f"  {left}")
    return out


def help_text(command: str, family_defaults: dict | None = None) -> str:
    """The ``--help`` page of ``resilience-<command>``."""
    config = read_main_config(command)
    name = f"resilience-{command}"
    multirun = " [--multirun]" if command == "train" else ""
    lines = [
        f"usage: {name} [key=value ...] [group=option ...]{multirun} [--cfg job] [--help]",
        "",
        *config.description,
        "",
    ]
    lines.append("Settings (key=value; `???` = required):")
    lines += _rows([(f"{s.key}={s.value}", s.comment) for s in config.settings])
    if config.groups:
        lines += ["", "Config groups (group=option; the default is shown):"]
        rows = []
        for g in config.groups:
            options = [o for o in group_options(g.key) if o != "schema"]
            choices = f" [{' | '.join(options)}]" if options else ""
            rows.append((f"{g.key}={g.value}", f"{g.comment}{choices}"))
        lines += _rows(rows)
    often = [group_setting(k, config.groups, family_defaults or {}) for k in config.often_changed]
    if any(often):
        lines += ["", "Often changed inside the groups (group.key=value):"]
        lines += _rows([(f"{s.key}={s.value}", s.comment) for s in often if s])
    lines += ["", "Examples:"] + [f"  {e}" for e in config.examples]
    lines += [
        "",
        f"Every setting as composed: {name} [overrides] --cfg job   Hydra's own help: --hydra-help",
    ]
    return "\n".join(lines) + "\n"
