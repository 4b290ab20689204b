"""resilience-validate: check an extract against a data config, print a summary.

It runs every check training runs on the same extract: the contract's checks and, whenever the
extract carries labels (``require_label=true`` or labels present), the as-of check of the labels'
ages and the history-count checks (:mod:`resilience.data.asof`), so an extract it passes is not
then refused by ``resilience-train``.
"""

from __future__ import annotations

import json
import sys

from omegaconf import DictConfig

from resilience.cli._app import data_config_file, hydra_app


@hydra_app("validate")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.data.asof import as_of_from_setting, check_training_extract
    from resilience.data.contract import DataContract
    from resilience.data.validate import load_extract, summarise

    contract = DataContract.from_dict(cfg.data, source=data_config_file())
    extract = load_extract(cfg.input, contract, require_label=cfg.require_label)
    summary = summarise(extract, contract)
    if cfg.require_label or extract.has_label:
        as_of = as_of_from_setting(cfg.as_of, cfg.input, contract)
        check_training_extract(extract.frame, contract, as_of, source=str(cfg.input))
        summary["as_of"] = as_of.describe()
        if as_of.warning:
            print(f"warning: {as_of.warning}", file=sys.stderr)
    print(json.dumps(summary, indent=2))
    print(
        f"valid: {summary['rows']} rows of {summary['lines']} lines match data config '{contract.name}'"
    )


if __name__ == "__main__":
    main()
