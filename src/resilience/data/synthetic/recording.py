"""When each package field of a disruption is recorded: :class:`Recording` (one field) and
:class:`RecordingDelays` (every field that accrues; ``recording_delays`` in the world config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from resilience.core.errors import ConfigError


@dataclass(frozen=True)
class Recording:
    """When the units of one disruption-package field are recorded (an **assumption**: no public
    source gives recording delays).

    Each unit (an arrested runner, a referral, an order; the one event of a yes/no field) is on
    record on the day of the disruption with chance ``on_day``, otherwise ``first`` to ``last``
    days later (uniformly, before ``recording_delay_scale``). ``closure_type`` counts from the day
    the holder's arrest is recorded (the charge follows it). For a seizure value the whole value
    is on record on the day with chance ``on_day``, otherwise a follow-up part comes that many days
    later.
    """

    on_day: float
    first: int
    last: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RecordingDelays:
    """The recording delay of every package field that accrues (``recording_delays`` in the world
    config, one key per field). A mapping that names only some fields, or only some keys of a
    field, keeps the defaults for the rest (so a preset lists only what it changes).

    >>> RecordingDelays.of({"ddtro": {"last": 120}}).ddtro
    Recording(on_day=0.0, first=7, last=120)
    """

    holder_arrested: Recording = Recording(on_day=0.6, first=1, last=56)
    closure_type: Recording = Recording(on_day=0.0, first=0, last=28)
    closure_type_type2: Recording = Recording(on_day=0.0, first=3, last=42)
    runners_arrested: Recording = Recording(on_day=0.65, first=1, last=56)
    handsets_seized: Recording = Recording(on_day=0.8, first=1, last=56)
    safeguarding_referrals: Recording = Recording(on_day=0.4, first=1, last=42)
    closure_orders: Recording = Recording(on_day=0.0, first=2, last=28)
    ddtro: Recording = Recording(on_day=0.0, first=7, last=56)
    ancillary_orders: Recording = Recording(on_day=0.2, first=7, last=70)
    drugs_seized_gbp: Recording = Recording(on_day=0.6, first=1, last=56)
    cash_seized_gbp: Recording = Recording(on_day=0.6, first=1, last=56)

    @classmethod
    def of(cls, raw: object) -> RecordingDelays:
        """From a mapping (YAML shape) or a RecordingDelays; missing fields and keys keep defaults."""
        if isinstance(raw, RecordingDelays):
            return raw
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError(
                "world config: recording_delays must map package fields to "
                f"{{on_day, first, last}}, not {raw!r:.80}"
            )
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(
                f"world config: recording_delays: unknown field(s) {', '.join(map(str, unknown))}; "
                f"the fields are {', '.join(known)}"
            )
        base = cls()
        changes = {}
        for name, value in raw.items():
            default = getattr(base, name)
            if isinstance(value, Recording):
                changes[name] = value
                continue
            if not isinstance(value, Mapping) or set(value) - {"on_day", "first", "last"}:
                raise ConfigError(
                    f"world config: recording_delays.{name} must be a mapping with keys "
                    f"on_day, first, last (each optional), not {value!r:.80}"
                )
            changes[name] = replace(default, **dict(value))
        return replace(base, **changes)

    def problems(self) -> list[str]:
        out = []
        for f in fields(self):
            rec = getattr(self, f.name)
            if not isinstance(rec.on_day, (int, float)) or not 0.0 <= rec.on_day <= 1.0:
                out.append(f"recording_delays.{f.name}.on_day must be between 0 and 1")
            whole = all(
                isinstance(v, int) and not isinstance(v, bool) for v in (rec.first, rec.last)
            )
            if not whole or not 0 <= rec.first <= rec.last:
                out.append(
                    f"recording_delays.{f.name}: first and last must be whole days, "
                    "0 <= first <= last"
                )
        return out

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name).to_dict() for f in fields(self)}
