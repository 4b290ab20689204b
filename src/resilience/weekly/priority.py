"""Priority = likelihood x harm: a transparent harm index from a policy in config, never learned.

The model estimates how likely a disrupted line is to persist. How much harm the line does while it
persists is a separate question that people answer, in ``configs/priority/<data config>.yaml``
(MoRiLE-style threat/risk/harm practice; Cambridge Crime Harm Index thinking: weigh by harm, do
not count). The harm index is never a model input and never sees the label.

* ``harm_index`` (0-100) = sum of ``weight x score`` over the named components; the weights add up
  to 100; ``score`` is ``min(value, cap) / cap`` for a count and 0/1 for a flag; a value that is not
  recorded scores 0.
* priority score = probability x max(harm_index, harm_floor); ``priority_rank`` 1 = act first.
  Ties go to the higher probability, then the higher harm, then the earlier input row.

Each component names a column of the data config; :meth:`HarmPolicy.check` refuses, with the
policy file, component and column named, a policy that does not fit the model's data contract.

>>> policy = load_priority_policy(None, load_data_contract("default"))  # doctest: +SKIP
>>> columns = policy.columns(frame)          # harm_<component>, protect_referrals, harm_index  # doctest: +SKIP
>>> ranks = priority_ranks(probability, columns["harm_index"].to_numpy(), policy.harm_floor)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.core.week_files import HARM_COMPONENT_PREFIX
from resilience.data.contract import DataContract
from resilience.weekly.policy_config import read_policy_config

KINDS = ("count", "flag")
REFERRALS_COLUMN = "protect_referrals"  # safeguarding referrals recorded for the line (sum of the policy's columns)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class HarmComponent:
    """One named kind of harm, read from one column of the extract."""

    name: str
    column: str
    kind: str
    weight: float
    label_text: str
    why: str
    cap: float = 1.0

    @property
    def output_column(self) -> str:
        return HARM_COMPONENT_PREFIX + self.name

    def score(self, values: pd.Series) -> np.ndarray:
        """0-1 per row: the share of the cap reached (count) or 1 when true (flag)."""
        if self.kind == "flag":
            as_bool = values.map(lambda v: bool(v) if not pd.isna(v) else False)
            return as_bool.to_numpy(dtype=float)
        numbers = (
            pd.to_numeric(values, errors="coerce").fillna(0.0).clip(lower=0).to_numpy(dtype=float)
        )
        return np.minimum(numbers, self.cap) / self.cap


@dataclass(frozen=True)
class HarmPolicy:
    """The harm components in force, their weights, and the protect list's definition."""

    name: str
    data_config: str
    components: tuple[HarmComponent, ...]
    harm_floor: float = 5.0
    capacity: int = 10
    exploited: tuple[str, ...] = ()  # component names that count exploited people
    children: str | None = None  # the component that counts exploited children
    referrals: tuple[str, ...] = ()  # data columns: safeguarding referrals recorded

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], name: str) -> HarmPolicy:
        where = f"priority config '{name}'"
        raw = config.get("components") or {}
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError(
                f"{where}: 'components' must map component names to their column, kind and weight"
            )
        components = tuple(_component(where, key, spec) for key, spec in raw.items())
        total = sum(c.weight for c in components)
        if abs(total - 100) > 1e-6:
            raise ConfigError(
                f"{where}: the component weights must add up to 100 (they add up to {total:g})"
            )
        protect = config.get("protect") or {}
        if not isinstance(protect, Mapping):
            raise ConfigError(
                f"{where}: 'protect' must be a mapping (exploited, children, referrals)"
            )
        names = {c.name for c in components}
        exploited = tuple(str(x) for x in (protect.get("exploited") or ()))
        children = protect.get("children")
        for ref in (*exploited, *([children] if children else [])):
            if ref not in names:
                raise ConfigError(
                    f"{where}: protect refers to component '{ref}', which is not one of {sorted(names)}"
                )
        floor, capacity = float(config.get("harm_floor", 5)), int(config.get("capacity", 10))
        if not 0 <= floor <= 100 or capacity < 1:
            raise ConfigError(f"{where}: harm_floor must be from 0 to 100 and capacity at least 1")
        return cls(
            name=name,
            data_config=str(config.get("data_config", name)),
            components=components,
            harm_floor=floor,
            capacity=capacity,
            exploited=exploited,
            children=children,
            referrals=tuple(str(x) for x in (protect.get("referrals") or ())),
        )

    def check(self, contract: DataContract) -> None:
        """Refuse a policy whose columns the model's data contract does not declare as numbers/flags."""
        where = f"priority config '{self.name}'"
        if self.data_config != contract.name:
            raise ConfigError(
                f"{where} is written for data config '{self.data_config}', but the model was "
                f"trained on '{contract.name}'; write configs/priority/{contract.name}.yaml"
            )
        numeric = {c.name for c in contract.columns if c.dtype in ("int", "float", "bool")}
        for component in self.components:
            if component.column not in numeric:
                raise ConfigError(
                    f"{where}, component '{component.name}': column '{component.column}' is not a number or "
                    f"flag column of data config '{contract.name}'; its number/flag columns are {sorted(numeric)}"
                )
        for column in self.referrals:
            if column not in numeric:
                raise ConfigError(
                    f"{where}, protect.referrals: column '{column}' is not a number column of "
                    f"data config '{contract.name}' (columns: {sorted(numeric)})"
                )

    def columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row: each component's recorded value (``harm_<name>``), referrals and ``harm_index``."""
        out = pd.DataFrame(index=frame.index)
        index = np.zeros(len(frame))
        for component in self.components:
            values = frame[component.column]
            if component.kind == "flag":
                out[component.output_column] = component.score(values)
            else:
                out[component.output_column] = (
                    pd.to_numeric(values, errors="coerce").fillna(0.0).astype(float)
                )
            index += component.weight * component.score(values)
        referrals = np.zeros(len(frame))
        for column in self.referrals:
            referrals += (
                pd.to_numeric(frame[column], errors="coerce").fillna(0.0).to_numpy(dtype=float)
            )
        out[REFERRALS_COLUMN] = referrals
        out["harm_index"] = np.round(index, 3)
        return out.reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The policy as recorded in the week's manifest (and printed in the report)."""
        data = asdict(self)
        data["components"] = [asdict(c) for c in self.components]
        data["protect"] = {
            "exploited": list(self.exploited),
            "children": self.children,
            "referrals": list(self.referrals),
        }
        for key in ("exploited", "children", "referrals"):
            del data[key]
        data["formula"] = (
            "harm_index = sum of weight x score (count: min(value, cap)/cap; flag: 0 or 1); "
            "priority = probability x max(harm_index, harm_floor); ties: higher probability, "
            "then higher harm, then input order"
        )
        return data


def _component(where: str, key: str, spec: Any) -> HarmComponent:
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}, component '{key}': expected a mapping with column, kind, weight, why"
        )
    if not _NAME.match(str(key)):
        raise ConfigError(f"{where}, component '{key}': names are lower-case letters, digits and _")
    missing = [k for k in ("column", "weight", "why") if not spec.get(k)]
    if missing and not (missing == ["weight"] and spec.get("weight") == 0):
        raise ConfigError(
            f"{where}, component '{key}': missing {missing} (every weight needs its reasoning in 'why')"
        )
    kind = str(spec.get("kind", "count"))
    if kind not in KINDS:
        raise ConfigError(f"{where}, component '{key}': kind '{kind}' is not one of {KINDS}")
    weight, cap = float(spec["weight"]), float(spec.get("cap", 1))
    if weight < 0 or cap <= 0:
        raise ConfigError(f"{where}, component '{key}': weight must be >= 0 and cap > 0")
    return HarmComponent(
        name=str(key),
        column=str(spec["column"]),
        kind=kind,
        weight=weight,
        cap=cap,
        label_text=str(spec.get("label_text") or key.replace("_", " ")),
        why=str(spec["why"]),
    )


def priority_ranks(
    probability: np.ndarray, harm_index: np.ndarray, harm_floor: float
) -> np.ndarray:
    """1 = act first: probability x max(harm, floor), ties by probability, harm, then input order."""
    probability = np.asarray(probability, dtype=float)
    harm = np.nan_to_num(np.asarray(harm_index, dtype=float), nan=0.0)
    score = probability * np.maximum(harm, harm_floor)
    order = np.lexsort((np.arange(len(score)), -harm, -probability, -np.round(score, 9)))
    ranks = np.empty(len(score), dtype=np.int64)
    ranks[order] = np.arange(1, len(score) + 1)
    return ranks


def load_priority_policy(
    name: str | None, contract: DataContract, config_dir: Path | None = None
) -> HarmPolicy | None:
    """The harm policy for ``contract``: ``configs/priority/<name>.yaml``, by default named after the
    model's data config. With no name and no such file, None (priority is then likelihood alone, and
    the report says so); a named policy that is missing or does not fit is a :class:`ConfigError`."""
    found = read_policy_config("priority", name, contract.name, config_dir)
    if found is None:
        return None
    raw, path = found
    policy = HarmPolicy.from_dict(raw, path.stem)
    policy.check(contract)
    return policy
