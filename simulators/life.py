"""A resident's day as a timeline of where they are and what they do, with the truth of it.

Times are integer milliseconds since the epoch (UTC); care-plan clock times are local
(Europe/Amsterdam) and converted with `local_ms`, so days with a DST change are 23 or 25
hours long as in life.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from simulators.homes import HomeSpec

AMS = ZoneInfo("Europe/Amsterdam")
SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN

# Modes of a timeline segment. "Awake at home" modes are the ones where the resident can
# answer the robot or take a dose.
ACTIVE = "active"  # moving about: PIR fires every 1-2.5 min
MEAL = "meal"  # kitchen, preparing/eating: fridge opens
CHAIR = "chair"  # sitting in the living-room chair: occasional motion
BED = "bed"  # in bed: rare motion
BATH = "bath"  # in the bath: sparse motion
OUT = "out"  # out of the home: no motion, front door at both ends
FALLEN = "fallen"  # on the floor: no motion at all
AWAKE_HOME = frozenset({ACTIVE, MEAL, CHAIR})

OUTSIDE = "out"  # the pseudo-room of OUT segments


class Seg(NamedTuple):
    """The resident is in `room` doing `mode` from `start` to `end` (ms)."""

    start: int
    end: int
    room: str
    mode: str


Raw = tuple[int, str, str, dict[str, Any]]
"""A device event before the envelope: (true time ms, device key, event type, data)."""


def local_ms(d: date, minutes: float) -> int:
    """Epoch ms of `minutes` after local midnight of `d` (may run into the next days)."""
    days, m = divmod(minutes, 1440.0)
    day = d + timedelta(days=int(days))
    whole = int(m)
    dt = datetime(day.year, day.month, day.day, whole // 60, whole % 60, tzinfo=AMS)
    return int(dt.timestamp()) * SEC + int(round((m - whole) * MIN))


def hhmm_minutes(hhmm: str) -> int:
    """Minutes after midnight of an 'HH:MM' string."""
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


_MINUTES: dict[int, str] = {}


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-23T07:30:00.000Z."""
    minute, rest = divmod(ms, 60_000)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) > 200_000:
            _MINUTES.clear()
        prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        _MINUTES[minute] = prefix
    sec, milli = divmod(rest, 1000)
    return f"{prefix}{sec:02d}.{milli:03d}Z"


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth), fine for the small means of a day."""
    limit, k, prod = math.exp(-mean), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


_MOTION = {r: {"room": r} for r in ("bedroom", "bathroom", "toilet", "kitchen", "living_room")}
_MOTION["hallway"] = {"room": "hallway"}
_DOOR = {
    (d, s): {"door": d, "state": s} for d in ("front_door", "fridge") for s in ("open", "closed")
}
_OCC = {(p, s): {"place": p, "state": s} for p in ("bed", "chair") for s in ("occupied", "vacant")}

# Serialised forms of the shared payload dicts above (looked up by identity: they live
# as long as the module).
STATIC_DATA_JSON: dict[int, str] = {
    id(d): json.dumps(d, sort_keys=True, separators=(",", ":"))
    for group in (_MOTION, _DOOR, _OCC)
    for d in group.values()
}


def motion(ms: int, room: str) -> Raw:
    """A PIR event in `room`."""
    return (ms, f"motion:{room}", "motion", _MOTION[room])


def contact(ms: int, door: str, state: str) -> Raw:
    """A door-contact event."""
    return (ms, f"door:{door}", "contact", _DOOR[(door, state)])


def occupancy(ms: int, place: str, state: str) -> Raw:
    """A bed/chair occupancy event."""
    return (ms, f"occupancy:{place}", "occupancy", _OCC[(place, state)])


@dataclass(frozen=True, slots=True)
class DayLog:
    """Hidden truth of one day's rhythm (for tests and baseline studies, not for the hub)."""

    day: date
    rise_ms: int | None  # out of bed; None when a night fall got the resident up
    bed_ms: int  # into bed at the end of the day
    meals: int
    not_up: bool
    sleep_in: bool
    not_eating: bool
    fall: bool


class Life:
    """Builds a resident's timeline day by day; the cursor `t` always moves forward."""

    def __init__(self, home: HomeSpec, rng: random.Random, start_ms: int) -> None:
        self.home = home
        self.p = home.profile
        self.rng = rng
        self.t = start_ms
        self.segs: list[Seg] = []  # this day's segments
        self.extra: list[Raw] = []  # this day's events not implied by the segments
        self.truth: list[dict[str, Any]] = []
        self.prev = Seg(start_ms, start_ms, "bedroom", BED)  # state carried over days
        self.not_eating = False
        self.log: list[DayLog] = []
        self.dose_minutes: list[int] = []  # today's dose times; adherent residents plan around them

    # --- building blocks -------------------------------------------------------------
    def _u(self, lo_min: float, hi_min: float) -> int:
        return int(self.rng.uniform(lo_min, hi_min) * MIN)

    def _slow(self, lo_min: float, hi_min: float) -> int:
        return int(self._u(lo_min, hi_min) * self.p.slow)

    def stay(self, room: str, mode: str, dur: int) -> None:
        """Be in `room` doing `mode` for `dur` ms from the cursor."""
        if dur <= 0:
            return
        self.segs.append(Seg(self.t, self.t + dur, room, mode))
        self.t += dur

    def until(self, room: str, mode: str, end: int) -> None:
        """Be in `room` doing `mode` until `end` (nothing if the cursor is past it)."""
        self.stay(room, mode, end - self.t)

    def label(self, kind: str, start: int, end: int, **extra: Any) -> None:
        """Record a benign look-alike: it must not become an alert."""
        self.truth.append(
            {"type": "benign", "lookalike": kind, "start": iso(start), "end": iso(end), **extra}
        )

    def incident(self, kind: str, start: int, end: int, **extra: Any) -> None:
        """Record a real incident: the rules should raise an alert for it."""
        self.truth.append({"type": kind, "start": iso(start), "end": iso(end), **extra})

    def go_out(self, dur: int) -> tuple[int, int]:
        """Leave by the front door for `dur` ms and come back; returns the out interval."""
        self.stay("hallway", ACTIVE, self._u(0.5, 1.5))
        start = self.t
        self.stay(OUTSIDE, OUT, dur)
        end = self.t
        self.stay("hallway", ACTIVE, self._u(0.3, 1.0))
        return start, end

    def _fridge(self, at: int) -> None:
        self.extra.append(contact(at, "fridge", "open"))
        self.extra.append(contact(at + int(self.rng.uniform(8, 40) * SEC), "fridge", "closed"))

    def _front_door(self, at: int) -> None:
        self.extra.append(contact(at, "front_door", "open"))
        self.extra.append(contact(at + int(self.rng.uniform(4, 12) * SEC), "front_door", "closed"))

    def _visitor_motion(self, start: int, end: int, fridge: bool) -> None:
        """Someone else in the home: motion in rooms the resident is not in."""
        t = start + self._u(1, 4)
        did_fridge = not fridge
        while t < end:
            room = "kitchen" if self.rng.random() < 0.5 else "living_room"
            self.extra.append(motion(t, room))
            if room == "kitchen" and not did_fridge:
                self._fridge(t + 5 * SEC)
                did_fridge = True
            t += self._u(2, 7)

    # --- episodes --------------------------------------------------------------------
    def toilet_visit(self) -> None:
        """A daytime toilet visit."""
        self.stay("toilet", ACTIVE, self._slow(2, 5))

    def fall(self, room: str, rescue_at: int | None = None) -> None:
        """Fall in `room` and lie there until a carer or neighbour finds the resident."""
        self.stay(room, ACTIVE, self._u(0.5, 2))
        start = self.t
        end = rescue_at if rescue_at is not None else start + self._u(45, 300)
        end = max(end, start + 40 * MIN)
        self.stay(room, FALLEN, end - start)
        self.incident("fall", start, end, room=room)
        # The carer lets themselves in, helps the resident up and stays a while.
        self._front_door(end - self._u(0.5, 1))
        self.extra.append(motion(end - 20 * SEC, "hallway"))
        self.stay(room, ACTIVE, self._u(5, 12))
        self.stay("living_room", CHAIR, self._u(30, 60))
        left = self.t - self._u(1, 3)
        self._front_door(left)
        self.label("visitor", end, left + 15 * SEC, who="carer")

    def visitor(self, dur: int) -> None:
        """Family or a neighbour visits: door, two people moving about, door."""
        self.stay("hallway", ACTIVE, self._u(0.6, 1.5))
        start = self.t - 30 * SEC
        self._front_door(start)
        self.stay("living_room", CHAIR, dur)
        self._visitor_motion(start + MIN, self.t, fridge=not self.not_eating)
        self.stay("hallway", ACTIVE, self._u(0.6, 1.5))
        self._front_door(self.t - 30 * SEC)
        self.label("visitor", start, self.t)

    def fill_until(self, target: int, fall_at: list[int]) -> None:
        """Ordinary time at home: the chair, toilet visits, drinks, pottering about."""
        rng = self.rng
        while self.t < target - 2 * MIN:
            if fall_at and self.t >= fall_at[0]:
                fall_at.clear()
                self.fall(rng.choice(("bathroom", "toilet", "hallway")))
                continue
            self.stay("living_room", CHAIR, min(self._u(25, 90), target - self.t))
            if self.t >= target - 6 * MIN:
                break
            r = rng.random()
            if r < 0.45:
                self.toilet_visit()
            elif r < 0.75:
                self.stay("kitchen", ACTIVE, self._u(1, 3))
                if not self.not_eating and rng.random() < 0.5:
                    self._fridge(self.t - 40 * SEC)
            elif r < 0.9:
                self.stay("bedroom", ACTIVE, self._u(2, 6))
            else:
                self.stay("living_room", ACTIVE, self._u(3, 10))
        self.until("living_room", CHAIR, target)

    # --- a whole day -----------------------------------------------------------------
    def live_day(self, d: date) -> None:
        """The night before `d` (from the cursor, in bed), then day `d` until in bed again."""
        h, p, rng = self.home, self.p, self.rng
        self.segs = []
        self.extra = []
        wd = d.isoweekday()
        weekend = wd >= 6
        plan_wake = hhmm_minutes(h.wake_up)
        deadline = hhmm_minutes(h.wake_deadline)
        night_start = hhmm_minutes(h.night_window[0])

        fall = rng.random() < p.fall_per_day
        night_fall = fall and rng.random() < p.night_fall_share
        day_fall = fall and not night_fall
        not_up = not night_fall and rng.random() < p.not_up_per_day
        sleep_in_p = p.sleep_in_sunday if wd == 7 else p.sleep_in_sunday / 3 if wd == 6 else 0.0
        # An early walker's walk is the rhythm (the dog does not sleep in).
        sleep_in = (
            not not_up and not night_fall and not h.early_walker and rng.random() < sleep_in_p
        )
        self.not_eating = rng.random() < p.not_eating_per_day

        # When the resident gets out of bed this morning.
        if not_up:
            rise_min = deadline + rng.uniform(45, 240)
        elif sleep_in:
            rise_min = plan_wake + rng.uniform(60, p.wake_deadline_after_min - 8)
        elif h.early_walker:
            rise_min = rng.uniform(6 * 60 + 12, 6 * 60 + 27)
        else:
            shift = p.weekend_shift_min if weekend else 0
            rise_min = plan_wake + shift + rng.gauss(0, p.wake_sd_min)
            rise_min = min(max(rise_min, plan_wake - 2.5 * p.wake_sd_min), deadline - 10)
        rise = local_ms(d, rise_min)

        got_up = self._night(d, rise, night_fall, plan_wake)
        up_already = got_up is None
        if got_up is not None:
            rise = got_up
            self.until("bedroom", BED, rise)
            if not_up:
                self.incident("not_up", local_ms(d, deadline), rise)
            elif sleep_in:
                self.label("sleep_in", local_ms(d, plan_wake), rise)
            self.stay("bedroom", ACTIVE, self._slow(3, 8))
            if h.early_walker and not not_up:
                start, end = self.go_out(self._u(35, 75))
                self.label("early_outing", start, end)
            self.stay("bathroom", ACTIVE, self._slow(8, 20))
        day_start = self.t
        if self.not_eating:
            self.stay("kitchen", ACTIVE, self._u(0.5, 1.5))
        else:
            self.stay("kitchen", MEAL, self._slow(12, 25))
        self._daytime(d, weekend, night_start, day_fall)
        if self.not_eating:
            self.incident("not_eating", day_start, self.t)
        self.log.append(
            DayLog(
                day=d,
                rise_ms=None if up_already else rise,
                bed_ms=self.t,
                meals=sum(1 for s in self.segs if s.mode == MEAL),
                not_up=not_up,
                sleep_in=sleep_in,
                not_eating=self.not_eating,
                fall=fall,
            )
        )

    def _night(self, d: date, rise: int, night_fall: bool, plan_wake: int) -> int | None:
        """Night episodes between the cursor and `rise`.

        Returns when the resident gets out of bed for the day (`rise`, unless an episode
        ran into it), or None if a fall at night got them up.
        """
        p, rng = self.p, self.rng
        # Night episodes end well before the care plan's wake deadline, so a late riser is
        # unambiguously "not up" (a toilet trip at 10:00 would blur the answer key).
        deadline = local_ms(d, hhmm_minutes(self.home.wake_deadline))
        lo, hi = self.t + 30 * MIN, min(rise, deadline - 30 * MIN) - 20 * MIN
        episodes: list[tuple[int, str]] = []
        if hi > lo:
            episodes += [
                (rng.randint(lo, hi), "toilet") for _ in range(poisson(rng, p.night_toilet_mean))
            ]
            # Long episodes start early enough to be back in bed before rising.
            if rng.random() < p.night_exit_per_night and hi - lo > 3 * HOUR:
                episodes.append((rng.randint(lo + HOUR, hi - 2 * HOUR), "exit"))
            if rng.random() < p.restless_per_night and hi - lo > HOUR:
                episodes.append((rng.randint(lo, hi - HOUR), "restless"))
            if night_fall:
                episodes.append((rng.randint(lo, hi), "fall"))
        episodes.sort()
        for at, kind in episodes:
            if at < self.t + 5 * MIN or at > hi:
                continue
            self.until("bedroom", BED, at)
            if kind == "toilet":
                start = self.t
                self.stay("bedroom", ACTIVE, int(rng.uniform(15, 45) * SEC * p.slow))
                self.stay("toilet", ACTIVE, self._u(1.5, p.toilet_trip_max_min))
                self.stay("bedroom", ACTIVE, int(rng.uniform(15, 40) * SEC))
                self.label("night_toilet", start, self.t)
            elif kind == "exit":
                self.stay("bedroom", ACTIVE, self._u(1, 3))
                self.stay("hallway", ACTIVE, self._u(1, 4))
                if rng.random() < 0.5:
                    self.stay("kitchen", ACTIVE, self._u(1, 5))
                start, end = self.go_out(self._u(10, 90))
                self.incident("night_exit", start, end)
                self.stay("bedroom", ACTIVE, self._u(1, 3))
            elif kind == "restless":
                start = self.t
                self.stay("bedroom", ACTIVE, self._u(1, 3))
                self.stay("living_room", ACTIVE, self._u(8, 40))
                self.stay("kitchen", ACTIVE, self._u(2, 8))
                self.stay("bedroom", ACTIVE, self._u(0.5, 2))
                self.label("night_restless", start, self.t)
            else:  # fall on the way to the toilet: found by the morning carer
                self.stay("bedroom", ACTIVE, int(rng.uniform(15, 45) * SEC * p.slow))
                rescue = max(self.t + HOUR, local_ms(d, plan_wake + rng.uniform(20, 120)))
                self.fall(rng.choice(("toilet", "hallway")), rescue_at=rescue)
                return None
        # Back in bed at least a moment before rising, so "out of bed" is one clear event.
        return max(rise, self.t + 2 * MIN)

    def _fit_outing(self, d: date, dur: int, fall_at: list[int]) -> int:
        """Adherent residents plan outings around their doses: wait for one, or be back."""
        if self.p.miss_dose >= 0.1:
            return dur
        for m in self.dose_minutes:
            due = local_ms(d, m)
            if self.t - 5 * MIN < due < self.t + dur:
                if due - self.t < 45 * MIN:
                    self.fill_until(due + self._u(5, 15), fall_at)
                else:
                    dur = max(20 * MIN, due + self._u(3, 15) - self.t)
        return dur

    def _daytime(self, d: date, weekend: bool, night_start: int, day_fall: bool) -> None:
        p, rng = self.p, self.rng
        fall_at = [local_ms(d, rng.uniform(9.5 * 60, 20 * 60))] if day_fall else []
        plans: list[tuple[float, str]] = []
        meal_out = rng.random() < p.meal_out_per_day
        if not weekend and rng.random() < p.outings_per_day * 0.5:
            plans.append((rng.uniform(9.75 * 60, 11 * 60), "outing"))
        if meal_out:
            plans.append((rng.uniform(11.5 * 60, 12 * 60), "meal_out"))
        elif not self.not_eating:
            plans.append((rng.uniform(12 * 60, 13 * 60), "lunch"))
        if rng.random() < p.outings_per_day * 0.5:
            plans.append((rng.uniform(14 * 60, 15.5 * 60), "outing"))
        if rng.random() < p.visitor_per_day:
            plans.append((rng.uniform(14 * 60, 16.5 * 60), "visitor"))
        if not self.not_eating:
            plans.append((rng.uniform(17.25 * 60, 18.5 * 60), "dinner"))
        evening_out = rng.random() < p.evening_outing_per_day
        if evening_out:
            plans.append((rng.uniform(19.25 * 60, 20 * 60), "evening_out"))
        sd = p.bed_sd_min
        bed_min = self.home.bed_min + (20 if weekend else 0) + rng.gauss(0, sd)
        bed_min = min(max(bed_min, self.home.bed_min - 2.5 * sd), self.home.bed_min + 20 + 2.5 * sd)
        if rng.random() < p.long_bath_per_day and not evening_out:
            plans.append((bed_min - rng.uniform(70, 90), "long_bath"))
        plans.sort()
        for at_min, kind in plans:
            at = local_ms(d, at_min)
            if self.t > at + 30 * MIN:
                continue  # something ran long (a fall, a visit): skip, as people do
            self.fill_until(at, fall_at)
            if kind == "outing":
                self.go_out(self._fit_outing(d, self._u(30, 120), fall_at))
            elif kind == "meal_out":
                start, end = self.go_out(self._fit_outing(d, self._u(100, 160), fall_at))
                self.label("meal_out", start, end)
            elif kind in ("lunch", "dinner"):
                self.stay("kitchen", MEAL, self._slow(15, 35))
            elif kind == "visitor":
                self.visitor(self._u(30, 100))
            elif kind == "evening_out":
                back = local_ms(d, night_start + rng.uniform(-70, 15))
                self._fit_outing(d, back - self.t, fall_at)
                start, end = self.go_out(max(back - self.t, 60 * MIN))
                self.label("evening_outing", start, end)
            else:  # a long bath, deliberately close to a 45-60 min bathroom threshold
                start = self.t
                self.stay("bathroom", ACTIVE, self._u(1, 3))
                self.stay("bathroom", BATH, self._u(38, 52))
                self.stay("bathroom", ACTIVE, self._u(2, 5))
                self.label("long_bath", start, self.t, room="bathroom")
        self.fill_until(max(local_ms(d, bed_min), self.t + 15 * MIN), fall_at)
        self.stay("bathroom", ACTIVE, self._slow(5, 12))
        self.stay("bedroom", ACTIVE, self._slow(2, 5))
        # The bed segment opens here and is closed by tomorrow's `until(..., BED, ...)`.

    # --- what the timeline looks like to the sensors ---------------------------------
    def sensor_events(self) -> list[Raw]:
        """PIR, door and occupancy events implied by today's segments, plus the extras."""
        rng = self.rng
        out: list[Raw] = list(self.extra)
        prev = self.prev
        for seg in self.segs:
            s, e, room, mode = seg
            if prev.mode != mode or prev.room != room:
                if prev.mode == BED and mode != BED:
                    out.append(occupancy(s, "bed", "vacant"))
                if prev.mode == CHAIR and mode != CHAIR:
                    out.append(occupancy(s, "chair", "vacant"))
                if mode == OUT and prev.mode != OUT:
                    out.append(contact(s, "front_door", "open"))
                    out.append(contact(s + int(rng.uniform(4, 12) * SEC), "front_door", "closed"))
                if prev.mode == OUT and mode != OUT:
                    out.append(contact(s, "front_door", "open"))
                    out.append(contact(s + int(rng.uniform(4, 12) * SEC), "front_door", "closed"))
                if (
                    prev.room != room
                    and "hallway" not in (prev.room, room)
                    and OUTSIDE not in (prev.room, room)
                ):
                    out.append(motion(max(s - 3 * SEC, prev.start), "hallway"))
                if mode == BED and prev.mode != BED:
                    out.append(occupancy(s + int(rng.uniform(5, 30) * SEC), "bed", "occupied"))
                if mode == CHAIR and prev.mode != CHAIR:
                    out.append(occupancy(s + int(rng.uniform(3, 10) * SEC), "chair", "occupied"))
                if mode not in (OUT, FALLEN, BED) and prev.room != room:
                    out.append(motion(s + int(rng.uniform(0.5, 3) * SEC), room))
            if mode == MEAL:
                self._fridge_in(out, s, e)
            lo, hi = _MOTION_GAP_S.get(mode, (0, 0))
            if hi:
                t = s + int(rng.uniform(lo, hi) * SEC)
                while t < e:
                    out.append(motion(t, room))
                    t += int(rng.uniform(lo, hi) * SEC)
            prev = seg
        self.prev = prev
        return out

    def _fridge_in(self, out: list[Raw], s: int, e: int) -> None:
        t = s + int(self.rng.uniform(30, 120) * SEC)
        for _ in range(1 + (self.rng.random() < 0.6)):
            if t >= e:
                break
            out.append(contact(t, "fridge", "open"))
            out.append(contact(t + int(self.rng.uniform(8, 40) * SEC), "fridge", "closed"))
            t += (e - s) // 2

    # --- queries used by the dispenser and the robot ---------------------------------
    def mode_at(self, t: int) -> str:
        """The resident's mode at `t`; outside today's segments the resident is in bed."""
        segs = self.segs
        if not segs or t < segs[0].start or t >= segs[-1].end:
            return BED
        i = bisect.bisect_right(segs, t, key=lambda s: s.start) - 1
        return segs[i].mode

    def seg_end_at(self, t: int) -> int:
        """End of the segment at `t` (for waiting until the resident is available)."""
        segs = self.segs
        if not segs or t < segs[0].start:
            return segs[0].start if segs else t + HOUR
        if t >= segs[-1].end:
            return t + 12 * HOUR
        i = bisect.bisect_right(segs, t, key=lambda s: s.start) - 1
        return segs[i].end

    def fetch_pouch(self, t: int) -> None:
        """Walk to the dispenser in the kitchen at `t` (splits the segment there)."""
        segs = self.segs
        i = bisect.bisect_right(segs, t, key=lambda s: s.start) - 1
        seg = segs[i]
        if seg.room == "kitchen":
            return
        dur = int(self.rng.uniform(40, 100) * SEC)
        end = min(t + dur, seg.end)
        parts = [Seg(seg.start, t, seg.room, seg.mode), Seg(t, end, "kitchen", ACTIVE)]
        if end < seg.end:
            parts.append(Seg(end, seg.end, seg.room, seg.mode))
        segs[i : i + 1] = [x for x in parts if x.end > x.start]


# Seconds between PIR triggers while in a mode (blind time of a typical PIR is ~30 s).
_MOTION_GAP_S: dict[str, tuple[float, float]] = {
    ACTIVE: (40, 150),
    MEAL: (40, 120),
    CHAIR: (240, 900),
    BATH: (480, 1200),
    BED: (2400, 9000),
}
