"""resilience-generate: write the seeded synthetic world to data/synthetic/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.core.paths import synthetic_dir

if TYPE_CHECKING:
    from resilience.data.contract import DataContract


def _restricted(contract: DataContract, names: tuple[str, ...]) -> DataContract:
    """The contract on ``names``, the columns they are bounded by and ruled with, and the row's
    id, line and date: the checks a row's package columns must pass."""
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.data.contract import DataContract

    mapping = contract.to_dict()
    keep = {contract.id_column, contract.line_column, contract.date_column, contract.label}
    keep |= set(names)
    keep |= {contract.column(n).max_column for n in names if contract.column(n).max_column}
    mapping["columns"] = {k: v for k, v in mapping["columns"].items() if k in keep}
    mapping["rules"] = [r for r in mapping["rules"] if r["column"] in keep and r["other"] in keep]
    mapping["slices"] = [c for c in mapping["slices"] if c in keep]
    mapping["history_counts"] = [c for c in mapping["history_counts"] if c in keep]
    for key in ("cohort_column", "as_of_column"):
        if mapping[key] not in keep:
            mapping[key] = None
    return DataContract.from_dict(mapping)


def _refuse_foreign_columns(contract: DataContract) -> None:
    """The simulator writes the default data config's columns; a data config naming others (a
    force's own, ``data=example_force``) cannot check its world: refused before anything is made."""
    from resilience.core.errors import ConfigError, first_few
    from resilience.data.synthetic.columns import COLUMNS

    foreign = [
        c for c in contract.column_names if c not in COLUMNS and c not in contract.derived_columns
    ]
    if foreign:
        raise ConfigError(
            f"the synthetic world is written in the columns of configs/data/default.yaml; this data "
            f"config names columns the simulator does not write ({first_few(foreign)}). Generate with "
            "data=default, and check your own extracts with resilience-validate data=<yours>"
        )


@hydra_app("generate")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    import pandas as pd

    from resilience.data.contract import DataContract
    from resilience.data.synthetic import ACCRUING_COLUMNS, WorldConfig, generate_world, write_world
    from resilience.data.validate import validate_frame

    world_config = WorldConfig.from_mapping(OmegaConf.to_container(cfg.world, resolve=True))
    out_dir = Path(cfg.out_dir) if cfg.out_dir else synthetic_dir()
    contract = DataContract.from_dict(cfg.data)
    _refuse_foreign_columns(contract)
    world = generate_world(world_config)
    # The world must pass the contract it claims to follow before anything is written.
    today = pd.Timestamp(world_config.end_date)
    validate_frame(
        world.history, contract, source="synthetic history", require_label=True, today=today
    )
    # The weekly extracts: every column of each disruption that is not yet labelled (the others
    # are the history's rows), then every distinct row of every extract, once, on the columns that
    # change as a record fills in (and those their rules read). An extract is distinct rows of
    # distinct disruptions, so this checks every row of every file, in a second or two.
    unlabelled = world.records.iloc[len(world.history) :].drop(columns=[contract.label])
    if len(unlabelled):
        validate_frame(unlabelled, contract, source="synthetic weekly extracts", today=today)
    package_contract = _restricted(contract, ACCRUING_COLUMNS)
    columns = [c for c in package_contract.column_names if c != contract.label]
    for k, layer in enumerate(world.weekly.distinct_records(columns)):
        source = f"synthetic weekly extracts (version {k + 1} of each open disruption's record)"
        validate_frame(layer, package_contract, source=source, today=today)
    # world.json carries the scenario parameters (for model cards) and which columns truly drive
    # persistence and which have no effect (for benchmarks of reasons), written with the rest.
    paths = write_world(world, out_dir)
    label_rate = world.history[contract.label].mean()
    weeks = list(world.weekly)
    print(
        f"synthetic world (seed {world_config.seed}): {len(world.history)} labelled disruptions, "
        f"{len(weeks)} weekly extracts of open disruptions ({weeks[0]} to {weeks[-1]}; "
        f"{len(world.weekly.open_rows(weeks[-1])[0])} this week), label rate {label_rate:.2f}"
    )
    weekly = [path for path in paths if path.parent.name == "weekly"]
    for path in paths:
        if path.parent.name != "weekly":
            print(f"  wrote {path}")
        elif path in (weekly[0], weekly[-1]):
            print(f"  wrote {path}" + (" ..." if path == weekly[0] and len(weekly) > 1 else ""))


if __name__ == "__main__":
    main()
