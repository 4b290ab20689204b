"""The world's tables: simulated rows turned into the data contract's columns (in its order and
types), the truth frame and the package's noise, with the ``SYN-`` ids of disruptions, lines and
groups, and the organised crime group each line belongs to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.data.synthetic.columns import CONTRACT, HUBS
from resilience.data.synthetic.config import WorldConfig, category_levels
from resilience.data.synthetic.mechanism import TRUE_TERMS


def ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + each number zero-padded to ``width`` (``SYN-L000001``)."""
    if numbers.size == 0:
        return np.empty(0, dtype=object)
    text = np.char.zfill(numbers.astype(np.int64).astype(str), width)
    return np.char.add(prefix, text).astype(object)


def _groupids(group: np.ndarray) -> np.ndarray:
    """``SYN-G00001``... for group numbers, None (an empty id) where a line has no group."""
    out = np.full(group.size, None, dtype=object)
    linked = group >= 0
    out[linked] = ids("SYN-G", group[linked] + 1, 5)
    return out


def world_frames(
    cfg: WorldConfig,
    lines: dict[str, np.ndarray],
    rows: dict[str, np.ndarray],
    order: np.ndarray,
    start: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Turn simulated rows (ordered by ``order``) into a frame with the contract's columns, in its
    order and types, the matching truth frame and the package's noise (``noise_*`` keys)."""
    # Pop as we go so that a million-row world is never held twice.
    r = {key: rows.pop(key)[order] for key in list(rows)}
    noise = {key[len("noise_") :]: r.pop(key) for key in list(r) if key.startswith("noise_")}
    line = r.pop("line")
    home_grown = r.pop("home_grown")
    n = line.size
    codes = _category_codes(lines, r, line, home_grown)
    disruption_ids = pd.array(ids("SYN-D", np.arange(1, n + 1), 7), dtype="str")
    by_role = {
        "id": disruption_ids,
        "line_id": pd.array(ids("SYN-L", line + 1, 6), dtype="str"),
        "date": (start + pd.to_timedelta(r.pop("day"), unit="D")).astype("datetime64[ns]"),
        "label": r.pop("persisted").astype(bool),
        "group": _groupids(lines["group"][line]),
    }
    frame = pd.DataFrame(_contract_columns(cfg, r, codes, by_role), copy=False)
    truth = _truth_frame(cfg, r, disruption_ids)
    noise_frame = pd.DataFrame({CONTRACT.id_column: disruption_ids, **noise}, copy=False)
    return frame, truth, noise_frame


def _category_codes(
    lines: dict[str, np.ndarray],
    r: dict[str, np.ndarray],
    line: np.ndarray,
    home_grown: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each category column's codes per row (popping the package's ``closure`` and ``grade``)."""
    return {
        "policing_area": lines["area"][line],
        "line_type": home_grown.astype(np.int64),
        "origin_hub": np.where(home_grown, len(HUBS), lines["hub"][line]),
        "commodity": lines["commodity"][line],
        "closure_type": r.pop("closure"),
        "disruption_grade": r.pop("grade"),
    }


def _contract_columns(
    cfg: WorldConfig,
    r: dict[str, np.ndarray],
    codes: dict[str, np.ndarray],
    by_role: dict[str, object],
) -> dict[str, object]:
    """The contract's columns in its order and types: by role (ids, date, label, group), category
    levels from ``codes``, numbers popped from ``r``. A column the simulator cannot make is an
    error."""
    levels = category_levels(cfg)
    numpy_type = {"int": np.int64, "float": np.float64, "bool": bool}
    data: dict[str, object] = {}
    for spec in CONTRACT.columns:
        if spec.derived:  # the toolkit derives it (the record's age); no extract carries it
            continue
        if spec.role in by_role:
            data[spec.name] = by_role[spec.role]
        elif spec.name in codes:
            data[spec.name] = pd.array(
                np.asarray(levels[spec.name], dtype=object)[codes[spec.name]], dtype="str"
            )
        elif spec.name in r and spec.dtype in numpy_type:
            data[spec.name] = r.pop(spec.name).astype(numpy_type[spec.dtype], copy=False)
        else:
            raise ConfigError(
                f"data contract {CONTRACT.name}: the simulator cannot produce column "
                f"{spec.name} ({spec.dtype}, role {spec.role})"
            )
    return data


def _truth_frame(
    cfg: WorldConfig, r: dict[str, np.ndarray], disruption_ids: object
) -> pd.DataFrame:
    """The truth of each row: its id, true probability, ``term_intercept`` and every term."""
    n = len(disruption_ids)
    truth = {
        CONTRACT.id_column: disruption_ids,
        "true_probability": r.pop("true_probability"),
        "term_intercept": np.full(n, float(cfg.persistence_intercept)),
    }
    for name in (*TRUE_TERMS, *(extra.name for extra in cfg.extra_effects)):
        truth["term_" + name] = r.pop("term_" + name)
    return pd.DataFrame(truth, copy=False)


def ocg_groups(
    cfg: WorldConfig, lines: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """The organised crime group of each line (-1: not linked to one), numbered by first line.

    **Assumption** (no public source gives group sizes): the lines linked to a group are grouped
    within their territory (the hub an imported line is run from; the area of a home-grown one),
    in random order, into groups whose sizes are drawn with P(k) proportional to
    k^-``ocg_group_size_power`` for 1 <= k <= ``ocg_group_max_size`` (skewed: most groups run one
    or two known lines, a few run tens).
    """
    group = np.full(lines["ocg"].size, -1, dtype=np.int64)
    linked = np.flatnonzero(lines["ocg"])
    if linked.size == 0:
        return group
    territory = np.where(lines["home_grown"], len(HUBS) + lines["area"], lines["hub"])[linked]
    sizes = np.arange(1, cfg.ocg_group_max_size + 1)
    weights = sizes.astype(np.float64) ** -cfg.ocg_group_size_power
    weights /= weights.sum()
    count = 0
    for place in np.unique(territory):
        members = linked[territory == place]
        members = members[rng.permutation(members.size)]
        drawn = rng.choice(sizes, size=members.size, p=weights)
        n_groups = int(np.searchsorted(np.cumsum(drawn), members.size)) + 1
        group[members] = count + np.repeat(np.arange(n_groups), drawn[:n_groups])[: members.size]
        count += n_groups
    # Number the groups in the order their first line appears.
    _, first = np.unique(group[linked], return_index=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    group[linked] = rank[group[linked]]
    return group
