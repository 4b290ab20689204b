"""resilience-validate: check an extract against a data config, print a summary."""

from __future__ import annotations

import json

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.data.contract import DataContract
from resilience.data.validate import load_extract, summarise


@hydra_app("validate")
def main(cfg: DictConfig) -> None:
    contract = DataContract.from_dict(cfg.data)
    extract = load_extract(cfg.input, contract, require_label=cfg.require_label)
    summary = summarise(extract, contract)
    print(json.dumps(summary, indent=2))
    print(
        f"valid: {summary['rows']} rows of {summary['lines']} lines match data config '{contract.name}'"
    )


if __name__ == "__main__":
    main()
