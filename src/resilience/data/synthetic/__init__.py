"""A seeded synthetic world of county-line disruptions with a documented true mechanism.

Every row is one police disruption of one line, with exactly the columns of the data contract
(``configs/data/default.yaml``). Lines are first known over time (imported from hub cities, or
home-grown, with the home-grown share rising), are disrupted, and either persist or fold. Whether
a line is still active 12 weeks after a disruption is drawn from

    persisted_12w ~ Bernoulli(sigmoid(term_intercept + sum of the world's terms))

and each term's contribution is stored per row in ``truth`` so that models, explanations,
intervals and fairness checks can be scored against the truth. The defaults are scenario
parameters grounded in public figures, each listed with its source or marked "assumption" in
``data/synthetic/README.md``; the overall persistence rate is an assumption.

The labelled history holds the disruptions whose outcome is known by ``end_date``. Each weekly
extract (one per ISO week of the whole history by default) holds the disruptions still open that
week (the last ``horizon_weeks``), with the disruption package as recorded by then (recording
delays per field, :class:`RecordingDelays`). Presets in ``configs/world/`` and :class:`ExtraEffect`
change the true mechanism; :func:`true_drivers` says which columns drive it. Lines linked to an
organised crime group carry its id (``ocg_id``). Tactics can be assigned with confounding, and
:func:`tactic_effect_truth` gives each disruption's true probability with and without a tactic.

One job per module: ``columns`` (the contract's columns), ``config`` (the knobs), ``mechanism``
(the truth), ``package`` (the disruption package, replayable under an intervention), ``lines``
(line profiles, their state at a disruption, adaptation), ``simulate`` (rounds, outcomes),
``snapshots`` (weekly extracts), ``tactics`` (the truth of tactics), ``write``.

Example
-------
>>> world = generate_world(WorldConfig(n_lines=400))
>>> list(world.weekly)[-2:]
['2026-W46', '2026-W47']
>>> "persisted_12w" in world.weekly["2026-W47"].columns
False
"""

from __future__ import annotations

from resilience.data.synthetic.columns import COLUMNS, FEATURE_COLUMNS, LABEL
from resilience.data.synthetic.config import ExtraEffect, WorldConfig, load_world_config
from resilience.data.synthetic.mechanism import (
    MONOTONE_DRIVERS,
    NO_EFFECT_FEATURES,
    TRUE_TERMS,
    mechanism_summary,
    no_effect_features,
    true_drivers,
    true_terms,
    world_terms,
)
from resilience.data.synthetic.package import WORLD_TACTICS
from resilience.data.synthetic.recording import Recording, RecordingDelays
from resilience.data.synthetic.simulate import SyntheticWorld, generate_world
from resilience.data.synthetic.snapshots import (
    ACCRUING_COLUMNS,
    RECORDING,
    WeeklyExtracts,
    uncapped_fields,
)
from resilience.data.synthetic.tactics import tactic_effect_truth, tactic_effects, tactics_truth
from resilience.data.synthetic.write import write_world

__all__ = [
    "ACCRUING_COLUMNS",
    "COLUMNS",
    "FEATURE_COLUMNS",
    "LABEL",
    "MONOTONE_DRIVERS",
    "NO_EFFECT_FEATURES",
    "RECORDING",
    "TRUE_TERMS",
    "WORLD_TACTICS",
    "ExtraEffect",
    "Recording",
    "RecordingDelays",
    "SyntheticWorld",
    "WeeklyExtracts",
    "WorldConfig",
    "generate_world",
    "load_world_config",
    "mechanism_summary",
    "no_effect_features",
    "tactic_effect_truth",
    "tactic_effects",
    "tactics_truth",
    "true_drivers",
    "true_terms",
    "uncapped_fields",
    "world_terms",
    "write_world",
]
