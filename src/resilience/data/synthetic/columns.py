"""The columns the simulator writes, taken from the default data contract (one place for them).

``configs/data/default.yaml`` is the only list of the extract's columns, their types and allowed
values; the simulator reads it here. It keeps only its own category levels (in code order, with
their shares), and :func:`check_levels` refuses a contract whose allowed values would not take them.
"""

from __future__ import annotations

from resilience.core.errors import ConfigError
from resilience.data.contract import DataContract, load_data_contract

CONTRACT: DataContract = load_data_contract("default")
# what an extract carries: every column but those the toolkit derives (the record's age)
COLUMNS: tuple[str, ...] = tuple(
    c for c in CONTRACT.column_names if c not in CONTRACT.derived_columns
)
LABEL: str = CONTRACT.label
FEATURE_COLUMNS: tuple[str, ...] = tuple(f for f in CONTRACT.features if f in COLUMNS)
ID_COLUMN: str = CONTRACT.id_column

HUBS: tuple[str, ...] = ("london", "liverpool", "birmingham", "manchester", "other_hub")
COMMODITIES: tuple[str, ...] = ("heroin_crack", "crack", "heroin", "cocaine", "cannabis")
# Mainly heroin and crack (the public figures in data/synthetic/README.md); the split of the rest
# is an assumption.
COMMODITY_SHARES: tuple[float, ...] = (0.66, 0.12, 0.07, 0.10, 0.05)
CLOSURE_TYPES: tuple[str, ...] = ("none", "type1", "type2")
GRADES: tuple[str, ...] = ("minor", "moderate", "major")
LINE_TYPES: tuple[str, ...] = ("imported", "home_grown")


def check_levels(levels: dict[str, tuple[str, ...]], contract: DataContract = CONTRACT) -> None:
    """Refuse a contract the simulator cannot follow: a missing column or a level it does not allow."""
    problems = []
    for column, values in levels.items():
        if column not in contract.column_names:
            problems.append(f"the simulator writes {column}, which the data contract does not have")
            continue
        allowed = contract.column(column).allowed
        if allowed is not None and set(values) - set(allowed):
            problems.append(
                f"{column}: the simulator writes {sorted(set(values) - set(allowed))}, "
                f"which the data contract does not allow"
            )
    if problems:
        raise ConfigError(f"data contract {contract.name}: " + "; ".join(problems))
