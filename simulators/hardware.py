"""What the devices themselves do: dispenser, robot, heartbeats, batteries and failures."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from devices.kinds import KINDS, Kind, Power
from devices.payloads import DosePlan, RobotSchedule
from simulators.homes import HomeSpec
from simulators.life import (
    AWAKE_HOME,
    HOUR,
    MIN,
    SEC,
    Life,
    Raw,
    hhmm_minutes,
    iso,
    local_ms,
)

DAY = 24 * HOUR


@dataclass(slots=True)
class Window:
    """A half-open interval [start, end) in ms."""

    start: int
    end: int

    def __contains__(self, t: object) -> bool:
        return isinstance(t, int) and self.start <= t < self.end


@dataclass(slots=True)
class DeviceState:
    """Per-device state the hardware model keeps across days."""

    key: str
    kind: Kind
    phase_ms: int  # heartbeat phase
    boots: list[tuple[int, int]]  # (from ms, boot ms): uptime restarts after a failure
    level: float  # battery %
    drain_per_day: float
    rssi: int
    dead: list[Window] = field(default_factory=list)

    def uptime_s(self, t: int) -> int:
        """Seconds since the device last booted."""
        boot = self.boots[0][1]
        for since, b in self.boots:
            if since <= t:
                boot = b
        return max(0, (t - boot) // SEC)

    def is_dead(self, t: int) -> bool:
        """True while the device is failed (battery dead, unplugged)."""
        if not self.dead:
            return False
        return any(w.start <= t < w.end for w in self.dead)


class Hardware:
    """The devices of one home, driven by the resident's timeline."""

    def __init__(
        self,
        home: HomeSpec,
        rng: random.Random,
        start_ms: int,
        *,
        failure_per_day: float,
        dose_plan: DosePlan | None = None,
        robot_schedule: RobotSchedule | None = None,
    ) -> None:
        self.home = home
        self.rng = rng
        self.failure_per_day = failure_per_day
        self.dose_plan = dose_plan or home.dose_plan
        self.robot_schedule = robot_schedule or home.robot_schedule
        self.truth: list[dict[str, Any]] = []
        self.status: list[tuple[int, str, str]] = []  # (ms, device key, online|offline)
        self.devices: dict[str, DeviceState] = {}
        for spec in home.devices:
            hb = KINDS[spec.kind].heartbeat_s * SEC
            battery = KINDS[spec.kind].power is Power.BATTERY
            self.devices[spec.key] = DeviceState(
                key=spec.key,
                kind=spec.kind,
                phase_ms=rng.randrange(hb),
                boots=[(0, start_ms - rng.randrange(30 * DAY))],
                level=rng.uniform(35, 100) if battery else 100.0,
                drain_per_day=rng.uniform(0.02, 0.12) if battery else 0.0,
                rssi=rng.randint(-85, -55) if battery else rng.randint(-70, -40),
            )
        self.doses_left = rng.randint(3, 10) * len(self.dose_plan.doses)
        self.refill_due = False

    # --- failures --------------------------------------------------------------------
    def plan_failures(self, d: date) -> list[Raw]:
        """Maybe fail one device today (battery dies / plug pulled); the truth records it."""
        rng = self.rng
        if rng.random() >= self.failure_per_day:
            return []
        spec = rng.choice(self.home.devices)
        state = self.devices[spec.key]
        start = local_ms(d, rng.uniform(8 * 60, 20 * 60))
        out: list[Raw] = []
        if KINDS[spec.kind].power is Power.BATTERY:
            end = start + int(rng.uniform(6, 30) * HOUR)
            out.append(
                (start - int(rng.uniform(4, 6) * HOUR), spec.key, "battery", {"level_pct": 4})
            )
            out.append(
                (start - int(rng.uniform(1, 2) * HOUR), spec.key, "battery", {"level_pct": 1})
            )
            cause = "battery_dead"
            # The carer replaces the battery: full level and a fresh boot from then on.
            out.append((end + 5 * SEC, spec.key, "battery", {"level_pct": 100}))
            state.level = 100.0
        else:
            end = start + int(rng.uniform(20, 240) * MIN)
            cause = "unplugged"
        out.append((end + 8 * SEC, spec.key, "heartbeat", {"uptime_s": 8, "rssi_dbm": state.rssi}))
        state.boots.append((end, end))
        state.dead.append(Window(start, end))
        # Mosquitto publishes the Last Will after 1.5 x keepalive (60 s) without traffic.
        self.status.append((start + int(rng.uniform(60, 90) * SEC), spec.key, "offline"))
        self.status.append((end, spec.key, "online"))
        self.truth.append(
            {
                "type": "device_offline",
                "device_id": spec.device_id,
                "cause": cause,
                "start": iso(start),
                "end": iso(end),
            }
        )
        return out

    # --- heartbeats and batteries ----------------------------------------------------
    def housekeeping(self, day_start: int, day_end: int) -> list[Raw]:
        """Heartbeats at each kind's interval and a daily battery report per battery device."""
        out: list[Raw] = []
        rng = self.rng
        rand = rng.random
        for state in self.devices.values():
            period = KINDS[state.kind].heartbeat_s * SEC
            k = -(-(day_start - state.phase_ms) // period)
            t = state.phase_ms + k * period
            key, rssi0 = state.key, state.rssi
            boot = state.boots[0][1] if len(state.boots) == 1 else None
            while t < day_end:
                at = t + int(rand() * 1000) - 500
                up = (at - boot) // SEC if boot is not None else state.uptime_s(at)
                data = {"uptime_s": up, "rssi_dbm": rssi0 + int(rand() * 7) - 3}
                out.append((at, key, "heartbeat", data))
                t += period
            if state.drain_per_day:
                state.level = max(1.0, state.level - state.drain_per_day)
                at = day_start + state.phase_ms % DAY
                if at < day_end:
                    out.append((at, state.key, "battery", {"level_pct": int(state.level)}))
        return out

    # --- the medication dispenser ----------------------------------------------------
    def dispenser(self, d: date, life: Life) -> list[Raw]:
        """Today's doses: due, reminders, taken or missed; the resident fetches the pouch."""
        plan, rng, p = self.dose_plan, self.rng, self.home.profile
        key = "dispenser"
        out: list[Raw] = []
        window = plan.window_min * MIN
        every = plan.reminder_every_min * MIN
        if self.refill_due:
            # The pharmacy delivers the next rolls the day after the warning.
            self.doses_left += 14 * len(plan.doses)
            self.refill_due = False
        for dose in plan.doses:
            if d.isoweekday() not in dose.weekdays:
                continue
            due = local_ms(d, hhmm_minutes(dose.time))
            sched = iso(due)
            base = {"dose_id": dose.dose_id, "scheduled_for": sched}
            out.append((due + rng.randint(0, 2000), key, "dose.due", base))
            miss_p = p.miss_dose * (3 if life.not_eating else 1)
            late = False
            take: int | None = None
            cause = "forgot"
            if rng.random() >= miss_p:
                late = rng.random() < p.late_dose
                lo, hi = (plan.window_min - 12, plan.window_min - 2) if late else (0.5, 10)
                delay = min(rng.uniform(lo, hi) * p.slow, plan.window_min - 1.5)
                cand = due + int(delay * MIN)
                while cand < due + window - 30 * SEC:
                    mode = life.mode_at(cand)
                    if mode in AWAKE_HOME:
                        take = cand
                        break
                    cause = "away" if mode == "out" else mode
                    cand = life.seg_end_at(cand) + int(rng.uniform(1, 6) * MIN)
            limit = take if take is not None else due + window
            attempt, t = 1, due + every
            while t < limit:
                data = {**base, "attempt": attempt}
                out.append((t + rng.randint(0, 2000), key, "dose.reminder", data))
                attempt += 1
                t += every
            self.doses_left = max(0, self.doses_left - 1)
            if take is not None:
                life.fetch_pouch(take)
                taken = take + int(rng.uniform(10, 30) * SEC)
                out.append((taken, key, "dose.taken", {**base, "taken_at": iso(taken)}))
                if late or taken - due > window * 2 // 3:
                    life.label("late_dose", due, taken, dose_id=dose.dose_id)
            else:
                end = due + window
                data = {**base, "window_min": plan.window_min}
                out.append((end, key, "dose.missed", data))
                life.incident(
                    "missed_dose", due, end, dose_id=dose.dose_id, scheduled_for=sched, cause=cause
                )
            if self.doses_left <= 2 * len(plan.doses) and not self.refill_due:
                out.append((limit + 2 * SEC, key, "refill.low", {"doses_left": self.doses_left}))
                self.refill_due = True
        return out

    # --- the day-structure robot -----------------------------------------------------
    def robot(self, d: date, life: Life) -> list[Raw]:
        """Speak today's scheduled messages; report answers to questions."""
        sched, rng = self.robot_schedule, self.rng
        key = "robot"
        out: list[Raw] = []
        wd, day = d.isoweekday(), d.isoformat()
        for msg in sched.messages:
            if msg.on is not None and msg.on != day:
                continue
            if msg.weekdays is not None and wd not in msg.weekdays:
                continue
            at = local_ms(d, hhmm_minutes(msg.at))
            base = {
                "message_id": msg.message_id,
                "schedule_version": sched.version,
                "scheduled_for": iso(at),
            }
            spoken = at + rng.randint(0, 15_000)
            tries = 2 if msg.question and msg.repeat_if_unanswered_min else 1
            for attempt in range(tries):
                data = {**base, "text": msg.text, "question": msg.question}
                out.append((spoken, key, "message.spoken", data))
                if not msg.question:
                    break
                if life.mode_at(spoken + 20 * SEC) in AWAKE_HOME:
                    no = life.not_eating and msg.message_id in ("ontbijt", "avondeten")
                    answer = "no" if no or rng.random() < 0.08 else "yes"
                    when = spoken + int(rng.uniform(5, 40) * SEC)
                    out.append((when, key, "question.answered", {**base, "answer": answer}))
                    break
                out.append(
                    (spoken + 2 * MIN, key, "question.answered", {**base, "answer": "no_answer"})
                )
                if attempt == 0 and msg.repeat_if_unanswered_min:
                    spoken += msg.repeat_if_unanswered_min * MIN
        return out
