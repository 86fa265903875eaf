"""Every incident in the truth leaves its trace in the events, and vice versa."""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.kinds import KINDS, Kind
from devices.topics import parse
from simulators.life import hhmm_minutes
from simulators.profiles import PROFILE_CYCLE, PROFILES
from simulators.stream import FaultConfig, Message, Simulation
from tests.unit.simulators.sim_helpers import START, ts

AMS = ZoneInfo("Europe/Amsterdam")
INCIDENTS = {"fall", "night_exit", "not_up", "not_eating", "missed_dose", "device_offline"}
LOOKALIKES = {
    "long_bath",
    "sleep_in",
    "visitor",
    "night_toilet",
    "evening_outing",
    "early_outing",
    "late_dose",
    "night_restless",
    "meal_out",
    "short_disconnect",
}


@dataclasses.dataclass
class World:
    sim: Simulation
    messages: list[Message]
    truth: list[dict[str, Any]]
    # (home_id, device key such as "motion:kitchen" or "contact:front_door:open") -> times
    index: dict[tuple[str, str], list[datetime]]
    by_device: dict[str, list[datetime]]  # device id -> publish times of all its messages


def _key(env: dict[str, Any]) -> list[str]:
    data = env["data"]
    if env["type"] == "motion":
        return ["motion", f"motion:{data['room']}"]
    if env["type"] == "contact":
        return [f"contact:{data['door']}:{data['state']}"]
    if env["type"] == "occupancy":
        return [f"occupancy:{data['place']}:{data['state']}"]
    return [env["type"]]


@lru_cache(maxsize=2)
def world(chaos: bool) -> World:
    """Two weeks of homes whose residents have a bad time: every incident type occurs."""
    return build_world(seed=2024, homes=8, days=14, start=START, chaos=chaos)


def build_world(*, seed: int, homes: int, days: int, start: date, chaos: bool) -> World:
    """Run homes with raised incident rates and index the result."""
    profiles = [
        dataclasses.replace(
            PROFILES[name],
            fall_per_day=0.25,
            night_exit_per_night=0.3 if name == "dementia" else 0.0,
            not_up_per_day=0.15,
            not_eating_per_day=0.15,
            early_walker_share=1.0 if name == "independent" else 0.0,
        )
        for name in PROFILE_CYCLE
    ]
    sim = Simulation(
        homes=homes,
        days=days,
        seed=seed,
        start=start,
        # Delivery faults only: skew and malformed payloads change or hide event times
        # by design, so traces are checked on the faults that must not hide anything.
        faults=dataclasses.replace(FaultConfig.chaos(), max_clock_skew_s=0, malformed_rate=0)
        if chaos
        else None,
        failure_per_day=0.15,
        profiles=profiles,
    )
    msgs = list(sim.messages())
    index: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    by_device: dict[str, list[datetime]] = defaultdict(list)
    for m in msgs:
        by_device[m.device_id].append(datetime.fromtimestamp(m.at_ms / 1000, AMS))
        env = m.body.get("event")
        if env is None:
            continue
        for k in _key(env):
            index[(m.home_id, k)].append(ts(env["ts"]))
    for v in index.values():
        v.sort()
    return World(sim, msgs, sim.truth(), dict(index), dict(by_device))


def between(w: World, home: str, key: str, lo: datetime, hi: datetime) -> list[datetime]:
    """Times of `key` events in home with lo <= t < hi."""
    times = w.index.get((home, key), [])
    return times[bisect_left(times, lo) : bisect_left(times, hi)]


def near(w: World, home: str, key: str, at: datetime, slack_s: float = 60) -> bool:
    """True if a `key` event happened within `slack_s` of `at`."""
    d = timedelta(seconds=slack_s)
    return bool(between(w, home, key, at - d, at + d))


def test_truth_lines_have_the_documented_shape_and_known_types() -> None:
    w = world(chaos=False)
    types = {r["type"] for r in w.truth}
    assert types == INCIDENTS | {"benign"}
    looks = {r["lookalike"] for r in w.truth if r["type"] == "benign"}
    assert looks == LOOKALIKES - {"short_disconnect"}
    for r in w.truth:
        assert {"home_id", "client_id", "type", "start", "end"} <= set(r)
        assert ts(r["start"]) <= ts(r["end"])
        assert ("lookalike" in r) == (r["type"] == "benign")


def test_look_alikes_outnumber_incidents_in_ordinary_homes() -> None:
    sim = Simulation(homes=8, days=14, seed=3, start=START)
    for _ in sim.messages():
        pass
    truth = sim.truth()
    benign = sum(r["type"] == "benign" for r in truth)
    assert benign > 3 * (len(truth) - benign)


@pytest.mark.parametrize("chaos", [False, True])
def test_every_incident_leaves_its_trace_in_the_events(chaos: bool) -> None:
    assert check_incident_traces(world(chaos)) == INCIDENTS


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    start=st.sampled_from([date(2026, 3, 27), date(2026, 7, 1), date(2026, 10, 23)]),
    chaos=st.booleans(),
)
def test_for_any_seed_incidents_leave_traces_and_traces_are_in_the_truth(
    seed: int, start: date, chaos: bool
) -> None:
    w = build_world(seed=seed, homes=4, days=4, start=start, chaos=chaos)
    check_incident_traces(w)
    check_truth_covers_events(w)


def check_incident_traces(w: World) -> set[str]:
    """Assert each incident's trace in the events; return the incident types seen."""
    seen: set[str] = set()
    failed: dict[str, set[str]] = defaultdict(set)  # home -> device ids that failed
    for r in w.truth:
        if r["type"] == "device_offline":
            failed[r["home_id"]].add(r["device_id"])
    for r in w.truth:
        home, typ, s, e = r["home_id"], r["type"], ts(r["start"]), ts(r["end"])
        if typ == "benign":
            continue
        seen.add(typ)
        quiet = set(failed[home])
        if typ == "fall":
            # Nobody moves while the resident lies on the floor (sensors that work).
            assert not between(
                w, home, "motion", s + timedelta(seconds=5), e - timedelta(minutes=2)
            )
            assert e - s >= timedelta(minutes=40)
        elif typ == "night_exit":
            assert near(w, home, "contact:front_door:open", s, 5) or quiet
            assert near(w, home, "contact:front_door:open", e, 5) or quiet
            assert not between(
                w, home, "motion", s + timedelta(seconds=30), e - timedelta(seconds=1)
            )
        elif typ == "not_up":
            assert not between(w, home, "occupancy:bed:vacant", s - timedelta(minutes=30), e)
            assert near(w, home, "occupancy:bed:vacant", e, 1) or quiet
        elif typ == "not_eating":
            assert not between(w, home, "contact:fridge:open", s, e)
            assert not between(w, home, "contact:fridge:closed", s, e)
        elif typ == "missed_dose":
            dsp = w.sim.homes[int(home[1:]) - 1].by_key["dispenser"].device_id
            if dsp not in quiet:
                assert near(w, home, "dose.missed", e, 3)
                assert not between(w, home, "dose.taken", s, e)
        elif typ == "device_offline":
            times = w.by_device[r["device_id"]]
            during = [t for t in times if s <= t < e]
            # Only the Last Will (published by the broker for the device) in the gap.
            statuses = [
                m
                for m in w.messages
                if m.device_id == r["device_id"]
                and "status" in m.body
                and s <= ts(m.body["at"]) <= e
            ]
            assert "offline" in [m.body["status"] for m in statuses]
            assert len(during) <= 2 + sum(1 for _ in statuses)
    return seen


def test_every_missed_dose_and_every_front_door_at_night_is_in_the_truth() -> None:
    check_truth_covers_events(world(chaos=False))


def check_truth_covers_events(w: World) -> None:
    """Every dose.missed event and every front door opened at night has a truth line."""
    spans: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for r in w.truth:
        spans[r["home_id"]].append((ts(r["start"]), ts(r["end"]), r.get("lookalike") or r["type"]))
    for home in w.sim.homes:
        missed = {
            (r["start"], r["dose_id"])
            for r in w.truth
            if r["type"] == "missed_dose" and r["home_id"] == home.home_id
        }
        for m in w.messages:
            env = m.body.get("event")
            if m.home_id == home.home_id and env and env["type"] == "dose.missed":
                assert (env["data"]["scheduled_for"], env["data"]["dose_id"]) in missed
        lo, hi = (hhmm_minutes(x) for x in home.night_window)
        for t in w.index.get((home.home_id, "contact:front_door:open"), []):
            local = t.astimezone(AMS)
            minute = local.hour * 60 + local.minute
            if not (minute >= lo or minute < hi):
                continue
            slack = timedelta(minutes=2)
            covering = [x for x in spans[home.home_id] if x[0] - slack <= t <= x[1] + slack]
            assert covering, f"{home.home_id}: front door at {local} in the night, not in truth"


def test_every_silence_longer_than_the_offline_timeout_is_a_device_offline_incident() -> None:
    w = world(chaos=False)
    offline = defaultdict(list)
    for r in w.truth:
        if r["type"] == "device_offline":
            offline[r["device_id"]].append((ts(r["start"]), ts(r["end"])))
    kinds = {m.device_id: Kind(m.kind) for m in w.messages[:2000]}
    for device_id, times in w.by_device.items():
        limit = timedelta(seconds=KINDS[kinds[device_id]].offline_after_s)
        for a, b in zip(times, times[1:], strict=False):
            if b - a > limit:
                assert any(s - limit <= a and b <= e + limit for s, e in offline[device_id]), (
                    device_id,
                    a,
                    b,
                )


def test_look_alikes_are_labelled_and_sit_next_to_the_thresholds() -> None:
    w = world(chaos=False)
    homes = {h.home_id: h for h in w.sim.homes}
    dead = defaultdict(list)
    for r in w.truth:
        if r["type"] == "device_offline":
            dead[r["device_id"]].append((ts(r["start"]), ts(r["end"])))

    def works(device_id: str, s: datetime, e: datetime) -> bool:
        return not any(a <= e and s <= b for a, b in dead[device_id])

    for r in w.truth:
        if r["type"] != "benign":
            continue
        home, s, e = homes[r["home_id"]], ts(r["start"]), ts(r["end"])
        kind = r["lookalike"]
        if kind == "long_bath":
            assert timedelta(minutes=40) <= e - s <= timedelta(minutes=60)
            assert between(w, home.home_id, "motion:bathroom", s, e)
        elif kind == "sleep_in":
            local = e.astimezone(AMS)
            assert local.hour * 60 + local.minute < hhmm_minutes(home.wake_deadline)
            assert e - s >= timedelta(minutes=59)
        elif kind == "early_outing":
            local = s.astimezone(AMS)
            assert 6 * 60 + 12 <= local.hour * 60 + local.minute <= 6 * 60 + 45
            assert home.early_walker
        elif kind in ("evening_outing", "meal_out") and works(
            home.by_key["door:front_door"].device_id, s, e
        ):
            assert near(w, home.home_id, "contact:front_door:open", s, 5)
            assert near(w, home.home_id, "contact:front_door:open", e, 5)
        elif kind == "night_toilet":
            if works(home.by_key["occupancy:bed"].device_id, s, e):
                assert near(w, home.home_id, "occupancy:bed:vacant", s, 2)
            if works(home.by_key["motion:toilet"].device_id, s, e):
                assert between(w, home.home_id, "motion:toilet", s, e)
            assert e - s <= timedelta(minutes=20)
        elif kind == "visitor" and works(home.by_key["door:front_door"].device_id, s, e):
            assert near(w, home.home_id, "contact:front_door:open", s, 90)


def test_faults_are_visible_in_the_log() -> None:
    sim = Simulation(homes=8, days=7, seed=99, start=START, faults=FaultConfig.chaos())
    w = World(sim, list(sim.messages()), [], {}, {})
    w.truth = sim.truth()
    ids: dict[str, str] = {}
    dupes = 0
    backwards = 0
    last_seq: dict[str, int] = {}
    for m in w.messages:
        env = m.body.get("event")
        if env is None:
            continue
        line = m.jsonl()
        if env["id"] in ids:
            assert ids[env["id"]] == line  # a duplicate is the very same message
            dupes += 1
            continue
        ids[env["id"]] = line
        if env["seq"] < last_seq.get(m.device_id, -1):
            backwards += 1
        last_seq[m.device_id] = max(env["seq"], last_seq.get(m.device_id, -1))
    assert dupes > 0
    assert backwards > 0
    skewed = [
        m
        for m in w.messages
        if "event" in m.body
        and abs(ts(m.body["event"]["ts"]).timestamp() * 1000 - m.at_ms) > 30_000
    ]
    assert skewed
    disconnects = [r for r in w.truth if r.get("lookalike") == "short_disconnect"]
    assert disconnects
    for r in disconnects[:20]:
        topics = {
            m.body["status"]
            for m in w.messages
            if "status" in m.body
            and parse(m.topic).device_id == r["device_id"]
            and ts(r["start"]) <= ts(m.body["at"]) <= ts(r["end"])
        }
        assert topics <= {"offline", "online"}
