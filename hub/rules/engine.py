"""The smart rule set: personal thresholds from the baseline rhythm, fired on event time.

Every rule is a handler of `(input, client state) -> decisions` plus event-time timers
for absence rules. Timers fire when the home's watermark (the latest event time seen,
minus the allowed lateness) passes them, or when a live caller advances the clock;
`raised_at` is always the timer's due time, so a replay and a live run agree.
See docs/adr/0006-event-time-rules.md and docs/adr/0005-baseline-rhythm.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from devices.kinds import KINDS, Kind
from hub.rules.baseline import Baseline
from hub.rules.careplan import CarePlan
from hub.rules.localtime import at_local, in_window, local, minutes_of_day, window_day
from hub.rules.model import AlertDecision, EngineEvent, EngineInput, Rule, Severity, StatusChange
from hub.rules.timers import Timer, TimerWheel

EXIT_DOORS = frozenset({"front_door", "back_door"})
UP_ROOMS = frozenset({"kitchen", "living_room"})
# Inside activity that arrives after an outside door moved shows someone is home. Arrival
# order is what counts (device clock skew cannot scramble it); stragglers stamped more
# than this before the door do not count.
STRAGGLER = timedelta(minutes=3)
UP_CONFIRM = timedelta(minutes=20)  # out of bed this long in the morning = up
MAX_STILL_SAMPLE = timedelta(hours=3)  # longer gaps are absences or outages, not stillness
STILL_FLOOR = timedelta(minutes=12)  # the baseline never shortens a still limit below this
# A Last Will comes 1.5 x keepalive after a connection drops; network blips reconnect
# within minutes (queued events follow). Only a device still gone after this pages
# anyone; a silent device alerts after its kind's offline_after_s plus the grace.
OFFLINE_CONFIRM = timedelta(minutes=25)
OFFLINE_GRACE = timedelta(minutes=15)
HOME_OUTAGE = timedelta(minutes=15)  # devices lost this close together: one alert
# With the outside door's contact offline, silence this long after the last sign in the
# hallway at night may be the client gone out (a hallway PIR fires every 1-2.5 min while
# someone is there): a night exit without the door's evidence.
BLIND_EXIT = timedelta(minutes=5)
HEARTBEAT_SLACK = timedelta(minutes=10)  # beyond two missed heartbeats: silent
BED_PLACES = frozenset({"bed", "bedroom"})
NOT_INSIDE_SIGNS = frozenset({"dispenser", "robot"})  # reported late: see _activity
CHAIR_PLACES = frozenset({"chair", "living_room", "robot"})
# Rooms whose motion tells where a person is (for "someone else is here", see _company).
ROOMS = frozenset({"bedroom", "bathroom", "toilet", "kitchen", "living_room", "hallway"})
# A sign in another room counts as someone else only when stamped this long after the
# sitter sat down and before they got up: more than two device clocks disagree (minutes)
# plus the seconds between a PIR seeing the sitter rise and the seat's 'vacant'.
COMPANY_MARGIN = timedelta(minutes=5)
# A companion seen this long ago and no door since is assumed still to be there; a wrong
# guess (a door event lost) must not outlive an afternoon.
COMPANY_MAX = timedelta(hours=4)
HABIT_DAYS = 3  # a night exit at a time of night seen on this many recent days is a habit
HABIT_BAND_MIN = 40.0
FRIDGE_LOW_DEFAULT = 1  # while learning: at most one fridge opening by the meal check
NOT_UP_ANSWERS = 2  # unanswered morning questions (care plan answer_settings) = not up


@dataclass
class DeviceState:
    """What the engine remembers about one device."""

    kind: Kind
    role: str | None = None  # room, door or place, once the device has told us
    last_seen: datetime | None = None
    offline: bool = False  # Last Will received or silent too long, until heard again
    offline_alerted: bool = False
    offline_at: datetime | None = None
    battery_low: bool = False
    door_open: bool = False  # a door contact's last reported state
    unreadable: bool = False  # its last message was unreadable: its state is unknown


@dataclass
class ClientState:
    """Rule state of one client; rebuilt by replaying the client's events."""

    home_id: str
    client_id: str
    plan: CarePlan
    baseline: Baseline
    devices: dict[str, DeviceState] = field(default_factory=dict)
    bed: str | None = None
    chair: str | None = None
    bed_since: datetime | None = None  # when the bed last became occupied
    chair_since: datetime | None = None
    last_place_ts: datetime | None = None  # timestamp of the latest arrived sign of life
    last_activity: datetime | None = None
    last_place: str | None = None
    out_since: datetime | None = None  # outside door moved, no inside activity since
    inside_signs: int = 0  # inside activity that arrived after the last door event
    rest_strays: int = 0  # signs from elsewhere that arrived after sitting/lying down
    # Per resting place (bed, chair): the earliest sign from another room that arrived
    # while it was occupied and was stamped well after sitting down (see _company).
    rest_elsewhere: dict[str, datetime] = field(default_factory=dict)
    company_at: datetime | None = None  # someone else was seen in the home then
    guest_left: bool = False  # the last outside-door movement was the companion leaving
    still_alerted: bool = False
    fall_alerted_at: datetime | None = None
    exit_pending: datetime | None = None
    day: date | None = None
    up_today: bool = False
    wake_candidate: datetime | None = None
    fridge_today: int = 0
    activity_today: int = 0
    degraded_today: set[str] = field(default_factory=set)  # devices offline at some point
    night_count: dict[date, int] = field(default_factory=dict)
    doses_pending: dict[str, datetime] = field(default_factory=dict)
    doses_alerted: set[str] = field(default_factory=set)
    doses_late: dict[str, str] = field(default_factory=dict)  # reported missed, in grace
    misses_in_row: int = 0  # missed dose moments since the last dose taken
    kitchen_today: int = 0  # kitchen motion and fridge openings
    robot_texts: dict[str, str] = field(default_factory=dict)  # message id -> spoken text
    # Opt-in answer evidence of today: deviation -> question moments ("id@scheduled_for").
    answer_evidence: dict[str, set[str]] = field(default_factory=dict)

    def maybe_out(self) -> bool:
        """No sign of life has arrived since an outside door moved: the client may have left."""
        return self.out_since is not None


def _aware(value: object) -> datetime:
    ts = datetime.fromisoformat(str(value))
    if ts.tzinfo is None:
        raise ValueError("naive scheduled_for")
    return ts


def _dose_key(data: dict[str, object]) -> str:
    """Dose ids repeat daily (d0800); the scheduled instant makes one dose moment unique."""
    return f"{data['dose_id']}@{_aware(data['scheduled_for']).astimezone(UTC).isoformat()}"


def default_plan(_client_id: str) -> CarePlan:
    """The care plan used when a client has none."""
    return CarePlan()


class Engine:
    """The smart rule set over many homes, one timer wheel and watermark per home."""

    def __init__(
        self,
        *,
        plan_for: Callable[[str], CarePlan] = default_plan,
        lateness: timedelta = timedelta(0),
    ) -> None:
        self._plan_for = plan_for
        self._lateness = lateness
        self._clients: dict[str, ClientState] = {}
        self._wheels: dict[str, TimerWheel] = {}
        self._watermark: dict[str, datetime] = {}

    # --- driving ---------------------------------------------------------------------------

    def process(self, item: EngineInput) -> list[AlertDecision]:
        """Feed one event or status change; returns timers that came due first, then its own."""
        wheel = self._wheels.setdefault(item.home_id, TimerWheel())
        out: list[AlertDecision] = []
        prev = self._watermark.get(item.home_id)
        if isinstance(item, StatusChange):
            # A status carries the hub's receive time, not the device's clock: it never moves
            # the home's event time (a device replaying its past would otherwise jump the
            # home to today and fire every timer in between). It counts at the home's
            # current event time; an "online" before any event says nothing yet.
            # An unreadable message carries no readable time at all: it counts at the home's
            # event time whatever clock stamped it (replay: the log's, live: the receive
            # time), so live and replay agree; before any event it says nothing either.
            heard = item.ts
            if prev is None:
                if item.state in ("online", "unreadable"):
                    return out
            elif item.ts > prev or item.state == "unreadable":
                item = replace(item, at=prev)
            state = self._state(item, wheel)
            return self._on_status(state, wheel, item, heard)
        wm = item.ts - self._lateness
        if prev is None or wm > prev:
            self._watermark[item.home_id] = wm
            out.extend(self._fire_due(wheel, wm, inclusive=False))
        state = self._state(item, wheel)
        out.extend(self._on_event(state, wheel, item))
        return out

    def advance(self, now: datetime) -> list[AlertDecision]:
        """Move every home's watermark to `now` (live mode's wall clock, or end of a replay)."""
        out: list[AlertDecision] = []
        for home_id in sorted(self._wheels):
            prev = self._watermark.get(home_id)
            if prev is None or now > prev:
                self._watermark[home_id] = now
            out.extend(self._fire_due(self._wheels[home_id], now, inclusive=True))
        return out

    def register(
        self,
        *,
        home_id: str,
        client_id: str,
        device_id: str,
        kind: Kind,
        role: str | None = None,
        at: datetime,
    ) -> None:
        """Tell the engine about an installed device before it speaks (from the registry).

        Rules that judge a silence (no fridge opening all day) need to know the device
        exists; `at` starts its offline clock.
        """
        wheel = self._wheels.setdefault(home_id, TimerWheel())
        probe = StatusChange(home_id, client_id, device_id, kind, "online", at)
        st = self._state(probe, wheel)
        dev = st.devices[device_id]
        if role is not None:
            dev.role = role
        if dev.last_seen is None:
            self._seen(st, wheel, device_id, at.astimezone(UTC))

    def set_plan(self, client_id: str, plan: CarePlan) -> None:
        """Apply an edited care plan to a client from now on (the baseline is kept)."""
        st = self._clients.get(client_id)
        if st is not None:
            st.plan = plan

    def client(self, client_id: str) -> ClientState | None:
        """A client's rule state (for tests and diagnostics)."""
        return self._clients.get(client_id)

    def _state(self, item: EngineInput, wheel: TimerWheel) -> ClientState:
        st = self._clients.get(item.client_id)
        if st is None:
            plan = self._plan_for(item.client_id)
            st = ClientState(
                item.home_id,
                item.client_id,
                plan,
                Baseline(days=plan.baseline_days, min_days=plan.baseline_min_days),
            )
            self._clients[item.client_id] = st
            self._start_day(st, wheel, local(item.ts).date(), item.ts)
        st.home_id = item.home_id
        dev = st.devices.get(item.device_id)
        if dev is None:
            dev = st.devices[item.device_id] = DeviceState(item.kind)
        dev.kind = item.kind
        return st

    def _fire_due(self, wheel: TimerWheel, wm: datetime, *, inclusive: bool) -> list[AlertDecision]:
        out: list[AlertDecision] = []
        while (timer := wheel.pop_due(wm, inclusive=inclusive)) is not None:
            out.extend(self._on_timer(self._clients[timer.client_id], wheel, timer))
        return out

    def _alert(
        self,
        st: ClientState,
        rule: Rule,
        severity: Severity,
        at: datetime,
        subject: str | None = None,
        **detail: object,
    ) -> list[AlertDecision]:
        if not getattr(st.plan.rules, rule.value):
            return []
        return [AlertDecision(st.home_id, st.client_id, rule, severity, at, subject, dict(detail))]

    def _alive(self, st: ClientState, kind: Kind, role: str | None = None) -> bool:
        """True when the home has a device of `kind` (and role) and none of them is offline."""
        found = False
        for d in st.devices.values():
            if d.kind is kind and (role is None or d.role == role):
                found = True
                if d.offline:
                    return False
        return found

    def _bed(self, st: ClientState) -> str | None:
        """The bed's state, or None when there is no working bed sensor."""
        return st.bed if self._readable(st, "bed") else None

    def _chair(self, st: ClientState) -> str | None:
        """The chair's state, or None when there is no working chair sensor."""
        return st.chair if self._readable(st, "chair") else None

    def _readable(self, st: ClientState, place: str) -> bool:
        """A working occupancy sensor at `place` whose last message could be read."""
        found = False
        for d in st.devices.values():
            if d.kind is Kind.OCCUPANCY and d.role == place:
                if d.offline or d.unreadable:
                    return False
                found = True
        return found

    # --- the day ---------------------------------------------------------------------------

    def _start_day(self, st: ClientState, wheel: TimerWheel, day: date, now: datetime) -> None:
        """Reset the day's counters and arm the day's timers that are still ahead."""
        st.day = day
        st.up_today = False
        st.wake_candidate = None
        st.fridge_today = 0
        st.activity_today = 0
        st.kitchen_today = 0
        st.answer_evidence = {}
        st.degraded_today = {k for k, d in st.devices.items() if d.offline}
        plan = st.plan
        usual = plan.t("usual_wake")
        plan_deadline = usual.hour * 60 + usual.minute + plan.wake_deadline_min
        deadline_min = min(st.baseline.wake_deadline(plan_deadline_min=plan_deadline), 1439.0)
        dl = at_local(day, time(int(deadline_min // 60), int(deadline_min % 60)))
        for name, due in (
            ("not_up", dl),
            ("meal", at_local(day, plan.t("meal_check"))),
            ("night_end", at_local(day, plan.t("night_end"))),
        ):
            if due > now:
                wheel.set(st.client_id, name, due)
        wheel.set(st.client_id, "midnight", at_local(day + timedelta(days=1), time(0, 0)))

    def _on_timer(self, st: ClientState, wheel: TimerWheel, t: Timer) -> list[AlertDecision]:
        name = t.name
        if name == "midnight":
            self._start_day(st, wheel, local(t.due).date(), t.due)
            return []
        if name == "fall":
            return self._fire_fall(st, t.due)
        if name == "exit":
            return self._fire_exit(st, t.due)
        if name == "blind_exit":
            return self._fire_blind_exit(st, t.due)
        if name == "up_confirm":
            if st.wake_candidate is not None and st.day is not None:
                st.up_today = True
                st.baseline.wake_min.add(st.day, minutes_of_day(st.wake_candidate))
                st.wake_candidate = None
            return []
        if name == "not_up":
            return self._fire_not_up(st, wheel, t.due)
        if name == "meal":
            return self._fire_meal(st, t.due)
        if name == "night_end":
            return self._fire_night_end(st, t.due)
        if name.startswith("dose:"):
            return self._fire_dose(st, wheel, name[5:], t.due)
        if name.startswith("late:"):
            return self._fire_late(st, name[5:], t.due)
        if name.startswith("offline:"):
            return self._fire_offline(st, name[8:], t.due)
        raise AssertionError(f"unknown timer {name}")  # pragma: no cover

    # --- devices ---------------------------------------------------------------------------

    def _on_status(
        self, st: ClientState, wheel: TimerWheel, s: StatusChange, heard: datetime
    ) -> list[AlertDecision]:
        dev = st.devices[s.device_id]
        if s.state == "online":
            out: list[AlertDecision] = []
            due = wheel.due(st.client_id, f"offline:{s.device_id}")
            if dev.offline and due is not None and due < heard:
                # Back only after the confirmation delay had passed by the hub's clock (the
                # status's receive time): live mode's wall clock raised the alert at `due`
                # already, though no event of the home has moved its event time past it.
                wheel.cancel(st.client_id, f"offline:{s.device_id}")
                out = self._fire_offline(st, s.device_id, due)
            self._seen(st, wheel, s.device_id, s.ts)
            return out
        if s.state == "unreadable":
            # A lost bed 'occupied' must not make a sleeper look still on the floor: until
            # the sensor speaks readably again, the bed is as good as no bed sensor.
            self._seen(st, wheel, s.device_id, s.ts)
            if dev.kind is Kind.OCCUPANCY:
                dev.unreadable = True
                st.rest_elsewhere.pop(dev.role or "", None)  # it may have been a 'vacant'
                self._arm_still(st, wheel)
            return []
        dev.offline = True
        st.degraded_today.add(s.device_id)
        if dev.kind is Kind.OCCUPANCY:
            st.rest_elsewhere.pop(dev.role or "", None)
        if not dev.offline_alerted:
            wheel.set(st.client_id, f"offline:{s.device_id}", s.ts + OFFLINE_CONFIRM)
        return []

    def _seen(self, st: ClientState, wheel: TimerWheel, device_id: str, ts: datetime) -> None:
        dev = st.devices[device_id]
        if dev.last_seen is None or ts > dev.last_seen:
            dev.last_seen = ts
        if dev.offline and dev.kind is Kind.OCCUPANCY:
            # Back after an outage (a new battery, a reboot): what it reported before is
            # stale and it reports a state only when it changes, so its state is unknown
            # until then, as after an unreadable message (the sleeper stays asleep).
            dev.unreadable = True
        dev.offline = False
        dev.offline_alerted = False
        limit = timedelta(seconds=KINDS[dev.kind].offline_after_s) + OFFLINE_GRACE
        wheel.set(st.client_id, f"offline:{device_id}", dev.last_seen + limit)

    def _fire_offline(self, st: ClientState, device_id: str, at: datetime) -> list[AlertDecision]:
        dev = st.devices[device_id]
        dev.offline = True
        st.degraded_today.add(device_id)
        if dev.kind is Kind.OCCUPANCY:
            st.rest_elsewhere.pop(dev.role or "", None)
        if dev.offline_alerted:
            return []
        dev.offline_alerted = True
        dev.offline_at = at
        # One home outage (router, power) takes several devices down at once: one alert.
        for k, d in st.devices.items():
            if k != device_id and d.offline_alerted and d.offline_at is not None:
                if abs(at - d.offline_at) <= HOME_OUTAGE:
                    return []
        sev = Severity.HIGH if dev.kind is Kind.DISPENSER else Severity.MEDIUM
        return self._alert(st, Rule.DEVICE_OFFLINE, sev, at, device_id, kind=dev.kind.value)

    def _on_battery(
        self, st: ClientState, device_id: str, level: int, at: datetime
    ) -> list[AlertDecision]:
        dev = st.devices[device_id]
        if level < st.plan.battery_low_pct and not dev.battery_low:
            dev.battery_low = True
            return self._alert(st, Rule.BATTERY_LOW, Severity.LOW, at, device_id, level_pct=level)
        if level >= st.plan.battery_low_pct + 20:
            dev.battery_low = False  # replaced or recharged: the next drop alerts again
        return []

    # --- events ----------------------------------------------------------------------------

    def _on_event(self, st: ClientState, wheel: TimerWheel, e: EngineEvent) -> list[AlertDecision]:
        self._seen(st, wheel, e.device_id, e.ts)
        typ = e.envelope.type
        data = e.envelope.data
        dev = st.devices[e.device_id]
        if typ == "battery":
            return self._on_battery(st, e.device_id, int(data["level_pct"]), e.ts)
        if typ in ("dose.due", "dose.reminder"):
            self._on_dose_due(st, wheel, data)
            return []
        if typ == "dose.taken":
            key = _dose_key(data)
            st.doses_pending.pop(key, None)
            wheel.cancel(st.client_id, f"dose:{key}")
            if st.doses_late.pop(key, None) is not None:
                wheel.cancel(st.client_id, f"late:{key}")  # taken within the late grace
            st.misses_in_row = 0
            return self._activity(st, wheel, e.ts, "dispenser")
        if typ == "dose.missed":
            return self._on_dose_missed(st, wheel, data, e.ts)
        if typ == "motion":
            dev.role = str(data["room"])
            return self._activity(st, wheel, e.ts, dev.role)
        if typ == "contact":
            dev.role = str(data["door"])
            return self._on_contact(st, wheel, e.ts, dev.role, str(data["state"]))
        if typ == "occupancy":
            dev.role = str(data["place"])
            dev.unreadable = False
            return self._on_occupancy(st, wheel, e.ts, dev.role, str(data["state"]))
        if typ == "message.spoken":
            st.robot_texts[str(data.get("message_id"))] = str(data.get("text", ""))
        if typ == "question.answered" and st.plan.answer_settings:
            early = self._on_answer(st, wheel, data, e.ts)
            if early:
                return early
        if typ == "question.answered" and data.get("answer") in ("yes", "no"):
            return self._activity(st, wheel, e.ts, "robot")
        return []

    def _on_contact(
        self, st: ClientState, wheel: TimerWheel, ts: datetime, door: str, state: str
    ) -> list[AlertDecision]:
        if door == "fridge":
            if state == "open":
                st.fridge_today += 1
            return self._activity(st, wheel, ts, "kitchen")
        out = self._activity(st, wheel, ts, door)
        if door in EXIT_DOORS:
            dev = next((d for d in st.devices.values() if d.role == door), None)
            # A 'closed' with no 'open' before it (the open was lost or malformed): the
            # door moved all the same.
            moved = state == "open" or (dev is not None and not dev.door_open)
            if dev is not None:
                dev.door_open = state == "open"
            if moved:
                st.out_since = ts
                st.inside_signs = 0
                # With a companion in the home, a door and silence after it is the
                # companion leaving as likely as the client: see _fire_fall.
                st.guest_left = st.company_at is not None and ts - st.company_at <= COMPANY_MAX
                st.company_at = None
            plan = st.plan
            if (
                moved
                and st.exit_pending is None
                and in_window(ts, plan.t("night_start"), plan.t("night_end"))
            ):
                grace = timedelta(minutes=plan.exit_grace_min)
                if plan.wandering_risk == "high":
                    grace = grace / 2
                st.exit_pending = ts
                wheel.set(st.client_id, "exit", ts + grace)
        return out

    def _on_occupancy(
        self, st: ClientState, wheel: TimerWheel, ts: datetime, place: str, state: str
    ) -> list[AlertDecision]:
        if place in ("bed", "chair"):
            self._company(st, place, state, ts)
        if place == "bed":
            st.bed = state
            if state == "occupied":
                st.bed_since = ts
                st.rest_strays = 0
            if state == "vacant":
                lt = local(ts).time().replace(tzinfo=None)
                if not st.up_today and st.plan.t("morning_from") <= lt < time(14, 0):
                    st.wake_candidate = ts
                    wheel.set(st.client_id, "up_confirm", ts + UP_CONFIRM)
            else:
                st.wake_candidate = None
                wheel.cancel(st.client_id, "up_confirm")
                if wheel.armed(st.client_id, "not_up"):
                    st.up_today = False  # back to bed before the deadline: not up after all
        elif place == "chair":
            st.chair = state
            if state == "occupied":
                st.chair_since = ts
                st.rest_strays = 0
        out = self._activity(st, wheel, ts, place)
        return out

    def _activity(
        self, st: ClientState, wheel: TimerWheel, ts: datetime, place: str
    ) -> list[AlertDecision]:
        """A sign of life at `place`: feeds the baseline and re-arms the stillness timer."""
        plan = st.plan
        if st.last_activity is not None and ts > st.last_activity:
            self._sample_still(st, ts - st.last_activity)
        # Where the client is: the latest *arrived* sign (device clocks disagree by
        # minutes, arrival order does not); since when still: the latest timestamp.
        if st.last_activity is None or ts >= st.last_activity:
            st.last_activity = ts
        st.last_place = place
        st.last_place_ts = ts
        if place not in BED_PLACES | CHAIR_PLACES:
            st.rest_strays += 1
        if place in ROOMS:
            for rest, since, places in (
                ("bed", st.bed_since, BED_PLACES),
                ("chair", st.chair_since, CHAIR_PLACES),
            ):
                if (
                    place not in places
                    and since is not None
                    and ts > since + COMPANY_MARGIN
                    and rest not in st.rest_elsewhere
                    and (self._bed(st) if rest == "bed" else self._chair(st)) == "occupied"
                ):
                    st.rest_elsewhere[rest] = ts
        st.still_alerted = False
        st.activity_today += 1
        if place == "kitchen":
            st.kitchen_today += 1
        night = in_window(ts, plan.t("night_start"), plan.t("night_end"))
        if night and place not in ("bed", "chair"):
            nd = window_day(ts, plan.t("night_start"), plan.t("night_end"))
            st.night_count[nd] = st.night_count.get(nd, 0) + 1
        # Someone moving inside after a door moved: nobody left (or they came back). A
        # sign stamped after the door suffices; earlier-stamped ones (a clock behind, or a
        # late event of someone leaving) need a second.
        # The dispenser reports a dose taken 10-30 s after the pouch was fetched, often
        # on the way out, and the robot an answer up to a minute after its question,
        # possibly called back from the hallway: neither is a sign that someone is inside
        # (the motion sensors next to them tell that).
        if place not in EXIT_DOORS | NOT_INSIDE_SIGNS and st.out_since is not None:
            if ts >= st.out_since:
                st.inside_signs += 2
            elif ts >= st.out_since - STRAGGLER:
                st.inside_signs += 1
            if st.inside_signs >= 2:
                st.out_since = None
                if st.exit_pending is not None:
                    st.exit_pending = None
                    wheel.cancel(st.client_id, "exit")
        if not st.up_today and place in UP_ROOMS and self._bed(st) is None:
            # Without a working bed sensor, the first morning visit to the kitchen or living
            # room counts as getting up (with one, the bed tells: see _on_occupancy).
            lt = local(ts).time().replace(tzinfo=None)
            if plan.t("morning_from") <= lt < time(14, 0) and st.day is not None:
                st.up_today = True
                st.baseline.wake_min.add(st.day, minutes_of_day(ts))
        self._arm_still(st, wheel)
        self._arm_blind_exit(st, wheel)
        return []

    # --- medication ------------------------------------------------------------------------

    def _on_dose_due(self, st: ClientState, wheel: TimerWheel, data: dict[str, object]) -> None:
        """Arm a fallback: no taken/missed report by window + grace is a missed dose too."""
        key = _dose_key(data)
        if key in st.doses_pending or key in st.doses_alerted:
            return
        sched = _aware(data["scheduled_for"])
        st.doses_pending[key] = sched
        wait = timedelta(minutes=st.plan.dose_window_min + st.plan.dose_grace_min)
        wheel.set(st.client_id, f"dose:{key}", sched + wait)

    def _on_dose_missed(
        self, st: ClientState, wheel: TimerWheel, data: dict[str, object], ts: datetime
    ) -> list[AlertDecision]:
        key = _dose_key(data)
        st.doses_pending.pop(key, None)
        wheel.cancel(st.client_id, f"dose:{key}")
        if key in st.doses_alerted or key in st.doses_late:
            return []
        # A pouch taken just after the window (the dispenser still hands it out) needs no
        # call-out: wait the care plan's late grace for a dose.taken.
        st.doses_late[key] = str(data["scheduled_for"])
        wheel.set(st.client_id, f"late:{key}", ts + timedelta(minutes=st.plan.dose_late_grace_min))
        return []

    def _fire_late(self, st: ClientState, key: str, at: datetime) -> list[AlertDecision]:
        sched = st.doses_late.pop(key, None)
        if sched is None or key in st.doses_alerted:
            return []
        return self._missed(st, key, at, scheduled_for=sched)

    def _missed(
        self, st: ClientState, key: str, at: datetime, **detail: object
    ) -> list[AlertDecision]:
        """One missed dose moment. Misses in a row (no dose taken in between) repeat into
        the client's open missed_dose alert (same client and rule) and raise its severity."""
        st.doses_alerted.add(key)
        self._forget_old_doses(st, at)
        st.misses_in_row += 1
        sev = Severity.CRITICAL if st.misses_in_row >= 2 else Severity.HIGH
        return self._alert(
            st, Rule.MISSED_DOSE, sev, at, key, misses_in_row=st.misses_in_row, **detail
        )

    def _fire_dose(
        self, st: ClientState, wheel: TimerWheel, key: str, at: datetime
    ) -> list[AlertDecision]:
        if key in st.doses_alerted:
            st.doses_pending.pop(key, None)
            return []
        if not self._alive(st, Kind.DISPENSER) and st.doses_pending.get(key, at) > at - timedelta(
            hours=6
        ):
            # The dispenser is disconnected: its taken/missed report is queued and follows on
            # reconnect. Ask again later; a dispenser that stays away gets its offline alert.
            wheel.set(st.client_id, f"dose:{key}", at + OFFLINE_CONFIRM)
            return []
        st.doses_pending.pop(key, None)
        return self._missed(st, key, at, reason="no report")

    def _forget_old_doses(self, st: ClientState, now: datetime) -> None:
        """Alerted dose moments older than two days can no longer repeat: drop them."""
        cutoff = (now - timedelta(days=2)).astimezone(UTC).isoformat()
        st.doses_alerted = {k for k in st.doses_alerted if k.split("@", 1)[1] >= cutoff}

    # --- night exit ------------------------------------------------------------------------

    def _fire_exit(self, st: ClientState, at: datetime) -> list[AlertDecision]:
        left = st.exit_pending
        st.exit_pending = None
        if left is None or st.day is None:
            return []
        minute = minutes_of_day(left)
        habit = st.baseline.habitual_exit(minute, days=HABIT_DAYS, band_min=HABIT_BAND_MIN)
        st.baseline.exits.add(st.day, minute)
        if habit:
            return []  # e.g. the daily early walk: a known rhythm, not wandering
        if self._day_begun(st, left):
            return []
        sev = Severity.CRITICAL if st.plan.wandering_risk == "high" else Severity.HIGH
        return self._alert(st, Rule.NIGHT_EXIT, sev, at, left_at=left.isoformat())

    def _day_begun(self, st: ClientState, left: datetime) -> bool:
        """Out of bed for the day (after the plan's morning_from, not back in bed) and then
        out of the door in the morning: the day has begun early, which is no wandering for a
        client the care plan does not rate at risk. The care plan's default from the first
        day, when no habit can be known yet (the early walker). A door late in the evening
        is judged as ever, however long ago the client got up."""
        if st.plan.wandering_risk == "high" or not (st.up_today or st.wake_candidate):
            return False
        return st.plan.t("morning_from") <= local(left).time().replace(tzinfo=None) < time(14)

    # --- fall ------------------------------------------------------------------------------

    def _resting(self, st: ClientState) -> bool:
        """In bed or in the chair, and not seen anywhere else since (a stale or missed
        'vacant' must not hide someone lying on the toilet floor). A late event stamped
        before the client sat down (reordered, or a clock behind) does not count."""
        for state, since, places in (
            (self._bed(st), st.bed_since, BED_PLACES),
            (self._chair(st), st.chair_since, CHAIR_PLACES),
        ):
            if state != "occupied" or since is None:
                continue
            if st.last_place in places or (
                st.last_place_ts is not None and st.last_place_ts <= since
            ):
                return True
            # One sign from elsewhere stamped just after sitting down is a straggler
            # (reordered, or a clock ahead): it takes a second one, or a later one.
            if (
                st.rest_strays <= 1
                and st.last_place_ts is not None
                and st.last_place_ts <= since + STRAGGLER
            ):
                return True
        return False

    def _company(self, st: ClientState, place: str, state: str, ts: datetime) -> None:
        """Someone got up from the bed or chair after someone else moved in another room
        while they sat or lay there: there are two people in the home (a visitor, the home
        carer). The other room's sign must be stamped well after sitting down and well
        before getting up (a reordered or skewed sign of the sitter's own walk is not), and
        the sensor must report the 'vacant' itself: a lost 'vacant' followed by a walk about
        is one person, and the next report after it is 'occupied', not 'vacant'. An outage
        or an unreadable message of the sensor drops the evidence (it may have been the
        'vacant')."""
        seen = st.rest_elsewhere.pop(place, None)
        was = st.bed if place == "bed" else st.chair
        if (
            state == "vacant"
            and was == "occupied"
            and seen is not None
            and seen < ts - COMPANY_MARGIN
        ):
            st.company_at = ts

    def _still_limit(self, st: ClientState, place: str) -> timedelta | None:
        """How long stillness at `place` may last before a fall alert; None if normal there."""
        plan = st.plan
        if place in BED_PLACES and self._bed(st) is None:
            return None  # no working bed sensor: lying still in the bedroom is sleeping
        if place in ("bathroom",):
            # Baths are long and quiet: the plan's bathroom maximum is never shortened.
            return timedelta(minutes=plan.bathroom_max_min)
        minutes = plan.bathroom_max_min if place == "toilet" else plan.still_max_min
        default = timedelta(minutes=minutes)
        if place == "living_room" and self._chair(st) is None:
            return default  # without the chair sensor, sitting still looks like this
        learned = st.baseline.still_limit_s(
            place, default_s=default.total_seconds(), floor_s=STILL_FLOOR.total_seconds()
        )
        return timedelta(seconds=learned)

    def _sample_still(self, st: ClientState, gap: timedelta) -> None:
        """The still spell that this activity ends is a baseline sample, if it was normal."""
        if (
            st.last_place is None
            or st.still_alerted
            or st.day is None
            or gap > MAX_STILL_SAMPLE
            or self._resting(st)
            or st.maybe_out()
        ):
            return
        st.baseline.add_still(st.last_place, st.day, gap.total_seconds())

    def _door_blind(self, st: ClientState, at: datetime) -> bool:
        """An outside door's contact is offline or silent: it would not see anyone leave."""
        return any(
            d.offline or self._silent(d, at)
            for d in st.devices.values()
            if d.kind is Kind.DOOR and d.role in EXIT_DOORS
        )

    def _arm_blind_exit(self, st: ClientState, wheel: TimerWheel) -> None:
        """At night with a blind door contact, the last sign in the hallway and silence
        since may be the client gone out: armed on every sign of life (see _fire_blind_exit)."""
        if st.last_activity is None or st.last_place != "hallway" or st.exit_pending is not None:
            wheel.cancel(st.client_id, "blind_exit")
            return
        wheel.set(st.client_id, "blind_exit", st.last_activity + BLIND_EXIT)

    def _fire_blind_exit(self, st: ClientState, at: datetime) -> list[AlertDecision]:
        plan = st.plan
        if (
            st.last_place != "hallway"
            or st.exit_pending is not None
            or not in_window(at, plan.t("night_start"), plan.t("night_end"))
            or not self._door_blind(st, at)
            or self._resting(st)
        ):
            return []
        sev = Severity.CRITICAL if plan.wandering_risk == "high" else Severity.HIGH
        return self._alert(st, Rule.NIGHT_EXIT, sev, at, reason="door contact offline")

    def _arm_still(self, st: ClientState, wheel: TimerWheel) -> None:
        limit = None
        if st.last_activity is not None and st.last_place is not None and not self._resting(st):
            limit = self._still_limit(st, st.last_place)
        if limit is None or st.last_activity is None:
            wheel.cancel(st.client_id, "fall")
        else:
            wheel.set(st.client_id, "fall", st.last_activity + limit)

    @staticmethod
    def _silent(dev: DeviceState, at: datetime) -> bool:
        """Two heartbeats missed: the device may be gone without a Last Will yet (hung,
        or the broker has not noticed), so its silence is no evidence of stillness."""
        if dev.last_seen is None:
            return False
        beat = timedelta(seconds=KINDS[dev.kind].heartbeat_s)
        return at - dev.last_seen > 2 * beat + HEARTBEAT_SLACK

    def _fire_fall(self, st: ClientState, at: datetime) -> list[AlertDecision]:
        if st.still_alerted or self._resting(st) or (st.maybe_out() and not st.guest_left):
            return []
        if any(
            d.offline or self._silent(d, at)
            for d in st.devices.values()
            if d.kind is Kind.MOTION or (d.kind is Kind.DOOR and d.role in EXIT_DOORS)
        ):
            # A dead or silent PIR makes anyone look still, a dead door contact hides going
            # out: the device-offline alert is the one to act on.
            return []
        st.still_alerted = True
        st.fall_alerted_at = at
        place = st.last_place or ""
        if st.maybe_out() and st.out_since is not None:
            # Silent since a companion left: the client may have left with them (call first).
            left = st.out_since.isoformat()
            return self._alert(
                st, Rule.FALL, Severity.CRITICAL, at, last_place=place, companion_left_at=left
            )
        return self._alert(st, Rule.FALL, Severity.CRITICAL, at, last_place=place)

    # --- not up, not eating, restless -----------------------------------------------------

    def _fire_not_up(self, st: ClientState, wheel: TimerWheel, at: datetime) -> list[AlertDecision]:
        if st.up_today:
            return []
        if st.wake_candidate is not None:
            # Just out of bed: decide once it is clear whether they stay up.
            wheel.set(st.client_id, "not_up", st.wake_candidate + UP_CONFIRM + timedelta(seconds=1))
            return []
        if st.maybe_out() or st.exit_pending is not None:
            return []
        if st.fall_alerted_at is not None and at - st.fall_alerted_at <= timedelta(hours=12):
            return []  # already found on the floor: the fall alert is the one that matters
        recent = st.last_activity is not None and at - st.last_activity <= timedelta(hours=1)
        bed = self._bed(st)
        if recent and bed == "vacant":
            return []  # got up before the morning window and stayed up
        if recent and bed is None and st.last_place in UP_ROOMS | {"bathroom"}:
            return []
        return self._alert(st, Rule.NOT_UP, Severity.HIGH, at)

    def _fire_meal(self, st: ClientState, at: datetime) -> list[AlertDecision]:
        if by_answers := self._meal_by_answers(st, at):
            return by_answers
        fridge_ids = {k for k, d in st.devices.items() if d.role == "fridge"}
        if not fridge_ids or fridge_ids & st.degraded_today:
            return []  # no working fridge contact today: no verdict
        home = st.activity_today - st.fridge_today >= 10  # the client was at home today
        if not home:
            return []
        low = st.baseline.fridge_low(default=FRIDGE_LOW_DEFAULT)
        if st.fridge_today <= low:
            return self._alert(
                st, Rule.NOT_EATING, Severity.MEDIUM, at, fridge_openings=st.fridge_today
            )
        if st.day is not None:
            st.baseline.fridge.add(st.day, float(st.fridge_today))
        return []

    def _fire_night_end(self, st: ClientState, at: datetime) -> list[AlertDecision]:
        plan = st.plan
        nd = window_day(at - timedelta(minutes=1), plan.t("night_start"), plan.t("night_end"))
        count = st.night_count.pop(nd, 0)
        for old in [d for d in st.night_count if d < nd]:
            del st.night_count[old]
        high = st.baseline.night_high(default=40.0)
        out: list[AlertDecision] = []
        if count > high:
            out = self._alert(st, Rule.NIGHT_RESTLESS, Severity.LOW, at, night_activity=count)
        st.baseline.night_activity.add(nd, float(count))
        return out

    # --- robot answers as evidence (opt-in, care plan answer_settings) ---------------------

    def _on_answer(
        self, st: ClientState, wheel: TimerWheel, data: dict[str, object], ts: datetime
    ) -> list[AlertDecision]:
        """Record a robot answer as evidence; enough unanswered morning questions = not up."""
        mid = str(data.get("message_id"))
        answer = data.get("answer")
        try:
            sched = _aware(data["scheduled_for"])
        except (KeyError, ValueError):
            return []
        if local(sched).date() != st.day:
            return []  # a late answer about yesterday's moment
        key = f"{mid}@{sched.astimezone(UTC).isoformat()}"
        text = st.robot_texts.get(mid, "").strip().casefold()
        for rule in st.plan.answer_settings:
            if rule.question != mid and rule.question.strip().casefold() != text:
                continue
            evidence = st.answer_evidence.setdefault(rule.supports, set())
            if (answer == "no" and rule.on_no) or (answer == "no_answer" and rule.on_no_answer):
                evidence.add(key)
            elif answer in ("yes", "no"):
                evidence.discard(key)  # answered on a repeat: the earlier silence is void
        unanswered = len(st.answer_evidence.get(Rule.NOT_UP.value, ()))
        awake_by = local(ts).time().replace(tzinfo=None) >= st.plan.t("usual_wake")
        pending = wheel.armed(st.client_id, "not_up")  # before today's deadline
        if unanswered >= NOT_UP_ANSWERS and awake_by and pending and not st.up_today:
            out = self._fire_not_up(st, wheel, ts)
            if out:
                wheel.cancel(st.client_id, "not_up")  # raised early: the deadline stays quiet
            return out
        return []

    def _meal_by_answers(self, st: ClientState, at: datetime) -> list[AlertDecision]:
        """Meal questions not answered "yes" and no kitchen activity all day: not eating."""
        questions = sorted(st.answer_evidence.get(Rule.NOT_EATING.value, ()))
        home = st.activity_today >= 10
        if not questions or st.kitchen_today > 0 or not home:
            return []
        return self._alert(
            st, Rule.NOT_EATING, Severity.MEDIUM, at, robot_questions=len(questions), kitchen=0
        )
