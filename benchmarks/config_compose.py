"""Config benchmark: how long Hydra takes to compose each command's config, with the data config's
columns composed untyped (as shipped: the contract checks them, ``DataContract.from_dict``) against
the same columns typed by a schema of every column field (the baseline: how they were composed
before), in one run.

Every command composes its config twice before it starts (Hydra's own ``get_mode``, then the run),
and the settings check then builds the data contract (train: in its callback, again in the task
and once more for the run); the refusal of a bad setting, and every test of one, pays the same. Prints the median milliseconds per composition and the ratio shipped /
baseline, and the contract check's own time beside them.

    python benchmarks/config_compose.py               # 20 compositions of each
    python benchmarks/config_compose.py --repeats 50

Measured 2026-12-05 on the shared 2-core machine, three runs of 20 pairs (median ms, shipped
against baseline): train 156-159 against 207-218 (ratio 0.73-0.75), validate 89-97 against
140-158 (0.62-0.63); the contract check that replaces the typed columns takes 7-9 ms each time.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any


def _paired_ms(first, second, repeats: int) -> tuple[float, float]:
    """Median milliseconds of ``first()`` and ``second()``, run in turn (a shared machine's speed
    drifts: each pair sees the same moment); one of each runs first, untimed."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for action, kept in ((first, times[0]), (second, times[1])):
            gc.collect()  # each timed call starts from the same heap: a collection is not its cost
            start = time.perf_counter()
            action()
            kept.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[0]), 1000 * statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore

    import resilience.cli._app  # noqa: F401 - the resolvers every config uses
    from resilience.cli._config import SCHEMA, register_schemas, schema_of
    from resilience.core.paths import config_dir
    from resilience.data.contract import ColumnSpec, ConceptSpec, DataContract, RuleSpec

    register_schemas()
    # the baseline: every column typed by ColumnSpec's fields (min and max any type, as they were)
    column = schema_of(ColumnSpec, drop=("name",), min=(Any, None), max=(Any, None))
    typed = schema_of(
        DataContract,
        columns=(dict[str, column], {}),
        concepts=(dict[str, schema_of(ConceptSpec, drop=("name",))], {}),
        rules=(list[schema_of(RuleSpec)], []),
    )
    store = ConfigStore.instance()
    shipped: Any = store.load(f"data/{SCHEMA}.yaml").node

    def composed(command: str, schema: Any):
        def action() -> None:
            store.store(group="data", name=SCHEMA, node=schema)
            compose(command)

        return action

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        for command in ("train", "validate"):
            now, baseline = _paired_ms(
                composed(command, shipped), composed(command, typed), args.repeats
            )
            print(
                f"{command:9s} shipped {now:6.1f} ms  baseline {baseline:6.1f} ms  "
                f"ratio {now / baseline:.2f}"
            )
        store.store(group="data", name=SCHEMA, node=shipped)
        data = compose("validate").data
        check, _ = _paired_ms(lambda: DataContract.from_dict(data), lambda: None, args.repeats)
        print(f"contract check (DataContract.from_dict) {check:.1f} ms")


if __name__ == "__main__":
    main()
