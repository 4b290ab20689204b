"""The disruption package: which tactics a disruption gets, drawn once and replayable under an
intervention.

Method. The package is a structural causal model: each element is a function of the line's state
at the disruption, the elements drawn before it and its own noise, in a fixed order (the world's
causal order; :data:`WORLD_TACTICS` lists its tactics in it)::

    sustained operation -> holder arrested -> closure type (type 1: the holder charged;
    type 2: the number deactivated) -> runners arrested -> handsets seized -> DDTRO
    -> premises closure orders -> ancillary orders -> safeguarding referrals -> seizures, grade

The factual draw (:class:`FactualDraws`) makes the same random calls, in the same order, as the
simulator always has, so a world without confounded assignment is unchanged; it keeps each
element's noise: the uniform or normal draw itself, and for a count ``k`` (binomial or Poisson with
cdf ``F``) a uniform ``u`` in ``(F(k - 1), F(k)]`` drawn from a separate stream, so that
``k = F^-1(u)`` (a quantile coupling: ``u`` is uniform, as the noise of a count must be).
:class:`Replay` recomputes the package from that noise with one tactic set "with" or "without"
(do-intervention): every element after it is recomputed with its own noise (an arrest leads to a
charge, a type 1 closure, more handsets seized, more ancillary orders), the elements before it
are unchanged as they do not depend on it. For a count tactic "with" is "any": the count drawn if
it was at least 1, otherwise the value its own noise gives conditional on at least one (at least 1
even where the world would give none, e.g. a runner arrested on a line with no runner known).

Confounded assignment (all 0 by default, which leaves every probability exactly as it was): the
log-odds of giving each tactic (for a count, at least once) rises by ``assignment_strength`` times the line's
recorded strength (:func:`recorded_strength`, about N(0, 1): customer contacts, an OCG link, linked
lines, runners) and by ``assignment_hidden_strength`` times its unrecorded character (the line
effect in standard deviations); ``ancillary_charge_link`` moves that share of the ancillary
orders' mean onto the charge (type 1 closure), so orders travel with the charge.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import bdtr, expit, logit, pdtr
from scipy.stats import binom, poisson

from resilience.data.synthetic.config import WorldConfig

# The world's tactics (package columns it can intervene on), in the order it draws them.
WORLD_TACTICS: tuple[str, ...] = (
    "sustained_operation",
    "holder_arrested",
    "closure_type",
    "runners_arrested",
    "handsets_seized",
    "ddtro",
    "closure_orders",
    "ancillary_orders",
)
# The line's state at the disruption that the package reads (extract columns).
PACKAGE_INPUTS: tuple[str, ...] = (
    "prior_disruptions",
    "runners",
    "cuckooed_addresses",
    "exploited_children",
    "exploited_adults",
    "contacts",
    "ocg_linked",
    "linked_lines",
)
# Counts: (noise name, distribution).
COUNTS: dict[str, str] = {
    "runners_arrested": "binomial",
    "handsets_seized": "poisson",
    "closure_orders": "binomial",
    "ancillary_orders": "poisson",
    "safeguarding_referrals": "binomial",
}
NONE, TYPE1, TYPE2 = 0, 1, 2  # closure_type codes (the order of columns.CLOSURE_TYPES)
ANCILLARY_PER_CHARGE = 1.5  # mean ancillary orders after a charge when ancillary_charge_link = 1
ANCILLARY_BASE = 0.3  # ... and without one (interim and behaviour orders; overlap for a review)


def recorded_strength(cfg: WorldConfig, r: Mapping[str, np.ndarray]) -> np.ndarray:
    """How strong the line looks on record, about N(0, 1) over the default history: its customer
    base (in units of ``contacts_log_sd``), an OCG link, linked lines and runners, each centred on
    the world's typical line."""
    contacts = (np.log1p(r["contacts"]) - np.log1p(cfg.median_contacts)) / max(
        cfg.contacts_log_sd, 0.1
    )
    ocg = r["ocg_linked"].astype(np.float64) - cfg.ocg_share
    linked = np.log1p(r["linked_lines"]) - np.log1p(0.4 + 1.2 * cfg.ocg_share)
    runners = np.log1p(r["runners"]) - np.log1p(cfg.mean_runners)
    return (contacts + ocg + 0.5 * linked + 0.5 * runners) / 1.25


def assignment_push(
    cfg: WorldConfig, r: Mapping[str, np.ndarray], line_effect: np.ndarray
) -> np.ndarray | None:
    """The log-odds by which every tactic's chance rises on this line (None: no confounding)."""
    if cfg.assignment_strength == 0 and cfg.assignment_hidden_strength == 0:
        return None
    push = cfg.assignment_strength * recorded_strength(cfg, r)
    if cfg.line_effect_sd > 0:
        push = push + cfg.assignment_hidden_strength * line_effect / cfg.line_effect_sd
    return push


def _tilt(p, push: np.ndarray | None):
    """A probability moved by ``push`` log-odds (unchanged, the very same object, without push)."""
    if push is None:
        return p
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return expit(logit(q) + push)


def _tilt_count(dist: str, trials, parameter, push: np.ndarray | None):
    """A count's parameter moved so that the log-odds of giving it at least once rises by
    ``push`` (as for a yes/no tactic); unchanged without push. A binomial keeps its trials."""
    if push is None:
        return parameter
    parameter = np.asarray(parameter, dtype=np.float64)
    if dist == "poisson":
        given = _tilt(-np.expm1(-parameter), push)
        return -np.log1p(-np.minimum(given, 1 - 1e-12))
    trials = np.asarray(trials, dtype=np.float64)
    some = trials > 0
    n = np.where(some, trials, 1.0)
    given = _tilt(1.0 - (1.0 - parameter) ** n, push)
    tilted = 1.0 - (1.0 - np.minimum(given, 1 - 1e-12)) ** (1.0 / n)
    return np.where(some, tilted, parameter)


def _cdf(dist: str, k: np.ndarray, trials: np.ndarray | None, parameter: np.ndarray) -> np.ndarray:
    """P(count <= k); 0 below 0."""
    k = np.asarray(k, dtype=np.int64)
    safe = np.maximum(k, 0)
    if dist == "binomial":
        value = bdtr(np.minimum(safe, trials), trials, parameter)
    else:
        value = pdtr(safe, parameter)
    return np.where(k < 0, 0.0, value)


def _ppf(dist: str, u: np.ndarray, trials: np.ndarray | None, parameter: np.ndarray) -> np.ndarray:
    """The count whose cdf first reaches ``u``."""
    u = np.clip(u, 1e-15, 1 - 1e-12)
    if dist == "binomial":
        value = np.where(trials > 0, binom.ppf(u, np.maximum(trials, 1), parameter), 0)
    else:
        value = poisson.ppf(u, parameter)
    return np.nan_to_num(value, nan=0.0).astype(np.int64)


class FactualDraws:
    """The world's draws: the simulator's random calls, in its order, keeping each one's noise.

    ``coupling`` is a separate stream for the quantile coupling of counts, so keeping the noise
    never changes the world.
    """

    def __init__(self, rng: np.random.Generator, coupling: np.random.Generator) -> None:
        self.rng, self.coupling = rng, coupling
        self.noise: dict[str, np.ndarray] = {}

    def uniform(self, name: str, n: int) -> np.ndarray:
        self.noise["u_" + name] = u = self.rng.random(n)
        return u

    def normal(self, name: str, n: int) -> np.ndarray:
        self.noise["z_" + name] = z = self.rng.standard_normal(n)
        return z

    def count(self, name: str, trials, parameter, n: int) -> np.ndarray:
        dist = COUNTS[name]
        k = (
            self.rng.binomial(trials, parameter)
            if dist == "binomial"
            else self.rng.poisson(parameter)
        )
        k = np.asarray(k, dtype=np.int64)
        parameter = np.broadcast_to(np.asarray(parameter, dtype=np.float64), (n,))
        trials = None if trials is None else np.asarray(trials, dtype=np.int64)
        low, high = _cdf(dist, k - 1, trials, parameter), _cdf(dist, k, trials, parameter)
        v = 1.0 - self.coupling.random(n)  # in (0, 1]
        self.noise["u_" + name] = low + v * (high - low)
        self.noise["p_" + name] = parameter.copy()
        self.noise["k_" + name] = k
        return k

    def tactic(self, column: str, value: np.ndarray, propensity) -> np.ndarray:
        return value

    def count_tactic(self, name: str, k: np.ndarray, trials, parameter) -> np.ndarray:
        return k


class Replay:
    """The package again from kept noise, with ``tactic`` set ``"with"`` or ``"without"`` (or
    nothing set: the factual package). ``propensity`` is then the tactic's true chance of being
    given on each row, as the world assigns it (given the elements before it)."""

    def __init__(
        self, noise: Mapping[str, np.ndarray], tactic: str | None = None, setting: str = "with"
    ) -> None:
        if setting not in ("with", "without"):
            raise ValueError(f"setting must be 'with' or 'without', not {setting!r}")
        self.noise, self.target, self.setting = noise, tactic, setting
        self.propensity: np.ndarray | None = None

    def uniform(self, name: str, n: int) -> np.ndarray:
        return self.noise["u_" + name]

    def normal(self, name: str, n: int) -> np.ndarray:
        return self.noise["z_" + name]

    def count(self, name: str, trials, parameter, n: int) -> np.ndarray:
        k = np.array(self.noise["k_" + name], dtype=np.int64)
        parameter = np.broadcast_to(np.asarray(parameter, dtype=np.float64), (n,))
        changed = parameter != self.noise["p_" + name]
        if changed.any():
            trials_changed = None if trials is None else np.asarray(trials)[changed]
            k[changed] = _ppf(
                COUNTS[name],
                self.noise["u_" + name][changed],
                trials_changed,
                parameter[changed],
            )
        return k

    def tactic(self, column: str, value: np.ndarray, propensity) -> np.ndarray:
        """A yes/no tactic, or the closure type (with = a closure: the drawn one, else type 2)."""
        if column != self.target:
            return value
        self.propensity = np.broadcast_to(np.asarray(propensity, dtype=np.float64), value.shape)
        with_it = self.setting == "with"
        if value.dtype == bool:
            return np.full(value.shape, with_it)
        return np.where(value != NONE, value, TYPE2) if with_it else np.full(value.shape, NONE)

    def count_tactic(self, name: str, k: np.ndarray, trials, parameter) -> np.ndarray:
        """A count tactic: "without" is none, "with" is any (at least 1, see the module)."""
        if name != self.target:
            return k
        dist, n = COUNTS[name], k.size
        parameter = np.broadcast_to(np.asarray(parameter, dtype=np.float64), (n,))
        trials = None if trials is None else np.asarray(trials, dtype=np.int64)
        none = _cdf(dist, np.zeros(n, dtype=np.int64), trials, parameter)
        self.propensity = 1.0 - none
        if self.setting == "without":
            return np.zeros(n, dtype=np.int64)
        u = self.noise["u_" + name]
        conditional = none + np.clip(u / np.maximum(none, 1e-300), 0, 1) * (1.0 - none)
        given = np.maximum(_ppf(dist, conditional, trials, parameter), 1)
        return np.where(k >= 1, k, given)


def package(
    cfg: WorldConfig,
    r: Mapping[str, np.ndarray],
    shift: np.ndarray,
    line_effect: np.ndarray,
    draws: FactualDraws | Replay,
) -> dict[str, np.ndarray]:
    """The disruption package (its final values, as the labelled history records them).

    ``r`` holds the line's state at the disruption (:data:`PACKAGE_INPUTS`), ``shift`` the
    covariate shift of each row, ``line_effect`` its unrecorded line effect. The elements are drawn
    in the world's causal order (the module docstring); each helper below draws a few of them, in
    turn, so the random calls happen in the same order whatever ``draws`` is.
    """
    n = r["runners"].size
    push = assignment_push(cfg, r, line_effect)
    sustained, holder = _operation_and_holder(cfg, r, shift, push, draws, n)
    closure = _closure(cfg, holder, push, draws, n)
    runners_arrested, handsets = _arrests_and_handsets(cfg, r, sustained, holder, push, draws, n)
    ddtro, closure_orders, ancillary = _orders(
        cfg, r, holder, closure == TYPE1, runners_arrested, push, draws, n
    )
    safeguarding = draws.count(
        "safeguarding_referrals",
        r["exploited_children"] + r["exploited_adults"],
        cfg.safeguarding_referral_rate,
        n,
    )
    drugs, cash, grade = _seizures_and_grade(sustained, holder, runners_arrested, draws, n)
    return {
        "holder_arrested": holder,
        "closure": closure,
        "runners_arrested": runners_arrested,
        "handsets_seized": handsets,
        "ddtro": ddtro,
        "closure_orders": closure_orders,
        "ancillary_orders": ancillary,
        "safeguarding_referrals": safeguarding,
        "drugs_seized_gbp": np.round(drugs, -1),
        "cash_seized_gbp": np.round(cash, -1),
        "sustained_operation": sustained,
        "grade": grade,
    }


def _operation_and_holder(
    cfg: WorldConfig,
    r: Mapping[str, np.ndarray],
    shift: np.ndarray,
    push: np.ndarray | None,
    draws: FactualDraws | Replay,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A sustained operation (likelier after an earlier disruption), then the holder's arrest
    (likelier in a sustained operation, rarer under the covariate shift)."""
    p_sustained = _tilt(
        np.minimum(cfg.sustained_rate + 0.1 * (r["prior_disruptions"] > 0), 1.0), push
    )
    sustained = draws.uniform("sustained", n) < p_sustained
    sustained = draws.tactic("sustained_operation", sustained, p_sustained)
    p_holder = _tilt(
        np.clip(
            cfg.holder_arrest_rate * np.where(sustained, 1.3, 0.85) * np.exp(-0.7 * shift),
            0.0,
            0.95,
        ),
        push,
    )
    holder = draws.uniform("holder", n) < p_holder
    holder = draws.tactic("holder_arrested", holder, p_holder)
    return sustained, holder


def _closure(
    cfg: WorldConfig,
    holder: np.ndarray,
    push: np.ndarray | None,
    draws: FactualDraws | Replay,
    n: int,
) -> np.ndarray:
    """The closure type: type 1 when the arrested holder is charged, else perhaps type 2 (the
    number deactivated), else none."""
    charge_share = cfg.type1_share_of_holder_arrests
    charged = holder & (draws.uniform("charge", n) < charge_share)
    p_type2 = _tilt(cfg.type2_rate, push)
    deactivated = ~charged & (draws.uniform("deactivation", n) < p_type2)
    closure = np.where(charged, TYPE1, np.where(deactivated, TYPE2, NONE))
    p_charged = holder * charge_share
    return draws.tactic("closure_type", closure, p_charged + (1 - p_charged) * p_type2)


def _arrests_and_handsets(
    cfg: WorldConfig,
    r: Mapping[str, np.ndarray],
    sustained: np.ndarray,
    holder: np.ndarray,
    push: np.ndarray | None,
    draws: FactualDraws | Replay,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Runners arrested (of the line's runners), then handsets seized (more with arrests)."""
    p_runners = _tilt_count(
        "binomial", r["runners"], np.minimum(cfg.runner_arrest_rate + 0.1 * sustained, 1.0), push
    )
    runners_arrested = draws.count("runners_arrested", r["runners"], p_runners, n)
    runners_arrested = draws.count_tactic(
        "runners_arrested", runners_arrested, r["runners"], p_runners
    )
    mean_handsets = _tilt_count("poisson", None, 0.5 + 0.8 * holder + 0.4 * runners_arrested, push)
    handsets = draws.count("handsets_seized", None, mean_handsets, n)
    handsets = draws.count_tactic("handsets_seized", handsets, None, mean_handsets)
    return runners_arrested, handsets


def _orders(
    cfg: WorldConfig,
    r: Mapping[str, np.ndarray],
    holder: np.ndarray,
    charged: np.ndarray,
    runners_arrested: np.ndarray,
    push: np.ndarray | None,
    draws: FactualDraws | Replay,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A DDTRO, premises closure orders (of the cuckooed addresses), then ancillary orders (with
    ``ancillary_charge_link``, that share of their mean follows the charge)."""
    p_ddtro = _tilt(cfg.ddtro_rate, push)
    ddtro = draws.uniform("ddtro", n) < p_ddtro
    ddtro = draws.tactic("ddtro", ddtro, p_ddtro)
    p_orders = _tilt_count("binomial", r["cuckooed_addresses"], 0.35, push)
    closure_orders = draws.count("closure_orders", r["cuckooed_addresses"], p_orders, n)
    closure_orders = draws.count_tactic(
        "closure_orders", closure_orders, r["cuckooed_addresses"], p_orders
    )
    mean_ancillary = 0.15 + 0.5 * holder + 0.15 * runners_arrested
    if cfg.ancillary_charge_link:
        link = cfg.ancillary_charge_link
        mean_ancillary = (1 - link) * mean_ancillary + link * (
            ANCILLARY_BASE + ANCILLARY_PER_CHARGE * charged
        )
    mean_ancillary = _tilt_count("poisson", None, mean_ancillary, push)
    ancillary = draws.count("ancillary_orders", None, mean_ancillary, n)
    ancillary = draws.count_tactic("ancillary_orders", ancillary, None, mean_ancillary)
    return ddtro, closure_orders, ancillary


def _seizures_and_grade(
    sustained: np.ndarray,
    holder: np.ndarray,
    runners_arrested: np.ndarray,
    draws: FactualDraws | Replay,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drugs and cash seized (unrounded), then the disruption's grade (0, 1 or 2)."""
    drugs_on = draws.uniform("drugs_on", n) >= 0.3
    drugs = drugs_on * np.exp(
        np.log(800.0) + 0.8 * holder + 0.2 * runners_arrested + 1.0 * draws.normal("drugs", n)
    )
    cash_on = draws.uniform("cash_on", n) >= 0.5
    cash = cash_on * np.exp(np.log(600.0) + 1.1 * draws.normal("cash", n))
    grade_score = (
        holder
        + 0.6 * sustained
        + 0.3 * np.minimum(runners_arrested, 3)
        + 0.5 * draws.normal("grade", n)
    )
    return drugs, cash, np.digitize(grade_score, [0.6, 1.5])
