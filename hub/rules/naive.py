"""The naive rule set: what a plain 'if this then alarm' system raises on the same events.

Fixed thresholds, no baseline, no episode logic: the reference the smart set is scored
against (docs/adr/0006-event-time-rules.md). These are the common home-automation alarms
of Dutch care domotica: an alarm for every bed exit at night (uitbedmelding), a door
alarm at night, a bathroom-stay alarm, a not-up alarm at the care plan's deadline,
a no-fridge alarm by early afternoon, an alarm for every missed dose the dispenser
reports, every Last Will, any device silent for a fixed two hours whatever its class, and
every low battery report. It reads the care plan's night window and wake-up deadline, as
such a system would be configured, but learns nothing. The list and its reasons are in
docs/adr/0006-event-time-rules.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from hub.rules.careplan import CarePlan
from hub.rules.engine import default_plan
from hub.rules.localtime import at_local, in_window, local, parse_hhmm
from hub.rules.model import AlertDecision, EngineEvent, EngineInput, Rule, Severity, StatusChange
from hub.rules.timers import TimerWheel

WET_STAY = timedelta(minutes=45)  # in the bathroom/toilet with no motion elsewhere
# Out of bed at night: an alarm at once (the common setting), or only when not back in
# bed within a fixed delay (bench/alert_quality.py shows the figures for 15 min too).
BED_EXIT_AFTER = timedelta(0)
FRIDGE_BY = "14:00"
BATTERY_LOW_PCT = 20
# One supervision timeout for every device, as alarm panels have: long enough that a
# battery sensor's hourly heartbeat never trips it.
SILENT_AFTER = timedelta(hours=2)


@dataclass
class _Naive:
    home_id: str
    client_id: str
    plan: CarePlan
    day: date | None = None
    fridge_today: bool = False
    out_of_bed_today: bool = False
    bed: str | None = None
    wet_since: datetime | None = None
    doses_alerted: set[str] = field(default_factory=set)


class NaiveEngine:
    """Fixed-threshold rules, event-time timers, same interface as the smart Engine."""

    def __init__(
        self,
        *,
        plan_for: Callable[[str], CarePlan] = default_plan,
        bed_exit_after: timedelta = BED_EXIT_AFTER,
        dose_alarm: Literal["missed", "reminder"] = "missed",
    ) -> None:
        self._plan_for = plan_for
        self._bed_exit_after = bed_exit_after
        # "missed": the dispenser's missed-dose report; "reminder": its first reminder
        # (dose not taken 15 min after its time), as some installations are set up.
        self._dose_types = ("dose.missed",) if dose_alarm == "missed" else ("dose.reminder",)
        self._clients: dict[str, _Naive] = {}
        self._wheels: dict[str, TimerWheel] = {}
        self._watermark: dict[str, datetime] = {}

    def process(self, item: EngineInput) -> list[AlertDecision]:
        """Feed one event or status change."""
        wheel = self._wheels.setdefault(item.home_id, TimerWheel())
        out: list[AlertDecision] = []
        if item.ts > self._watermark.get(item.home_id, item.ts - timedelta(seconds=1)):
            self._watermark[item.home_id] = item.ts
            out.extend(self._fire(wheel, item.ts, inclusive=False))
        st = self._clients.get(item.client_id)
        if st is None:
            st = self._clients[item.client_id] = _Naive(
                item.home_id, item.client_id, self._plan_for(item.client_id)
            )
            self._new_day(st, wheel, local(item.ts).date(), item.ts)
        if isinstance(item, StatusChange):
            if item.state == "offline":
                out.append(self._a(st, Rule.DEVICE_OFFLINE, item.at, item.device_id))
                wheel.cancel(st.client_id, f"silent:{item.device_id}")
            else:
                self._heard(st, wheel, item.device_id, item)
            return out
        out.extend(self._event(st, wheel, item))
        return out

    def advance(self, now: datetime) -> list[AlertDecision]:
        """Move every home's watermark to `now`."""
        out: list[AlertDecision] = []
        for home_id in sorted(self._wheels):
            out.extend(self._fire(self._wheels[home_id], now, inclusive=True))
        return out

    def _a(self, st: _Naive, rule: Rule, at: datetime, subject: str | None = None) -> AlertDecision:
        return AlertDecision(st.home_id, st.client_id, rule, Severity.HIGH, at, subject)

    def _heard(self, st: _Naive, wheel: TimerWheel, device_id: str, item: EngineInput) -> None:
        wheel.set(st.client_id, f"silent:{device_id}", item.ts + SILENT_AFTER)

    def _new_day(self, st: _Naive, wheel: TimerWheel, day: date, now: datetime) -> None:
        st.day = day
        st.fridge_today = False
        st.out_of_bed_today = False
        wake = parse_hhmm(st.plan.usual_wake)
        deadline_min = min(wake.hour * 60 + wake.minute + st.plan.wake_deadline_min, 1439)
        if len(st.doses_alerted) > 50:
            st.doses_alerted.clear()
        for name, due in (
            ("not_up", at_local(day, time(deadline_min // 60, deadline_min % 60))),
            ("fridge", at_local(day, parse_hhmm(FRIDGE_BY))),
        ):
            if due > now:
                wheel.set(st.client_id, name, due)
        wheel.set(st.client_id, "midnight", at_local(day + timedelta(days=1), time(0, 0)))

    def _fire(self, wheel: TimerWheel, wm: datetime, *, inclusive: bool) -> list[AlertDecision]:
        out: list[AlertDecision] = []
        while (t := wheel.pop_due(wm, inclusive=inclusive)) is not None:
            st = self._clients[t.client_id]
            if t.name == "midnight":
                self._new_day(st, wheel, local(t.due).date(), t.due)
            elif t.name == "not_up" and not st.out_of_bed_today:
                out.append(self._a(st, Rule.NOT_UP, t.due))
            elif t.name == "fridge" and not st.fridge_today:
                out.append(self._a(st, Rule.NOT_EATING, t.due))
            elif t.name == "still":
                st.wet_since = None
                out.append(self._a(st, Rule.FALL, t.due))
            elif t.name == "bed_empty":
                out.append(self._a(st, Rule.FALL, t.due))
            elif t.name.startswith("silent:"):
                out.append(self._a(st, Rule.DEVICE_OFFLINE, t.due, t.name[7:]))
        return out

    def _event(self, st: _Naive, wheel: TimerWheel, e: EngineEvent) -> list[AlertDecision]:
        self._heard(st, wheel, e.device_id, e)
        data = e.envelope.data
        typ = e.envelope.type
        night = in_window(e.ts, parse_hhmm(st.plan.night_start), parse_hhmm(st.plan.night_end))
        if typ in self._dose_types:
            key = f"{data['dose_id']}@{data['scheduled_for']}"
            if key in st.doses_alerted:
                return []
            st.doses_alerted.add(key)
            return [self._a(st, Rule.MISSED_DOSE, e.ts, str(data["dose_id"]))]
        if typ == "battery" and int(data["level_pct"]) < BATTERY_LOW_PCT:
            return [self._a(st, Rule.BATTERY_LOW, e.ts, e.device_id)]
        if typ == "motion":
            if data["room"] in ("bathroom", "toilet"):
                if st.wet_since is None:
                    st.wet_since = e.ts
                    wheel.set(st.client_id, "still", e.ts + WET_STAY)
            else:
                st.wet_since = None
                wheel.cancel(st.client_id, "still")
        elif typ == "contact":
            if data["door"] == "fridge" and data["state"] == "open":
                st.fridge_today = True
            if data["door"] in ("front_door", "back_door") and data["state"] == "open" and night:
                return [self._a(st, Rule.NIGHT_EXIT, e.ts)]
        elif typ == "occupancy" and data["place"] == "bed":
            st.bed = str(data["state"])
            if st.bed == "vacant":
                lt = local(e.ts).time().replace(tzinfo=None)
                if parse_hhmm(st.plan.morning_from) <= lt:
                    st.out_of_bed_today = True
                if night and not self._bed_exit_after:
                    return [self._a(st, Rule.FALL, e.ts)]
                if night:
                    wheel.set(st.client_id, "bed_empty", e.ts + self._bed_exit_after)
            else:
                wheel.cancel(st.client_id, "bed_empty")
        return []
