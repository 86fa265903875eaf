"""Chaos: SIGKILL the hub mid-stream while incidents raise alerts; restart; nothing lost or twice.

The stream mixes heartbeats with incidents whose alerts do not depend on arrival order:
missed doses (an alert on the event itself, repeats counted on the open alert), low
batteries, and falls announced by a late toilet-motion event (a sensor's queued event,
stamped 40 minutes ago) whose stillness timer is already due when it arrives and fires on
the home's next event or the scheduler's tick. The oracle is the rule engine replaying the
whole stream: every (client, rule) it alerts must exist exactly once in the store, with
the same number of decisions folded into it, and no other alert may exist.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.envelope import decode, encode
from devices.kinds import Kind
from devices.payloads import Battery, DoseMissed, Heartbeat, Motion, Room
from hub.alerts.models import Alert, AlertTransition
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.ingest.store import BatchResult
from hub.rules.careplan import CarePlan, RuleSwitches
from hub.rules.engine import Engine
from hub.rules.live import RulesHook
from hub.rules.model import AlertDecision, EngineEvent
from hub.rules.service import set_care_plan
from hub.store.db import unit_of_work
from hub.store.models import Client, Device, Event
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

HOMES = 6
HEARTBEATS = 2400
# Rules whose verdict does not depend on the wall clock during the test: the scheduler's
# tick (every 30 s, on the wall clock) must not add alerts the replay cannot foresee.
PLAN = CarePlan(
    rules=RuleSwitches(
        fall=True,
        missed_dose=True,
        battery_low=True,
        night_exit=False,
        not_up=False,
        not_eating=False,
        device_offline=False,
        night_restless=False,
    )
)


@dataclass(frozen=True)
class Msg:
    device: str
    kind: Kind
    home: str
    client: str
    topic: str
    payload: bytes


def _msg(
    dev: str, kind: Kind, home: str, client: str, seq: int, ts: datetime, typ: str, data: BaseModel
) -> Msg:
    payload = encode(id=str(uuid.uuid4()), device_id=dev, ts=ts, seq=seq, type=typ, data=data)
    return Msg(dev, kind, home, client, topics.event_topic(dev, typ), payload)


def _start_hub(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--no-http"], env=env, stdout=fh, stderr=fh
        )


def _count(sessions: sessionmaker[Session], ids: set[str]) -> int:
    with sessions() as s:
        q = select(func.count()).select_from(Event).where(Event.home_id.in_(ids))
        return int(s.scalar(q) or 0)


def expected_alerts(stream: list[Msg], now: datetime) -> Counter[tuple[str, str]]:
    """(client, rule) -> decisions, from the rule engine replaying the stream."""
    engine = Engine(plan_for=lambda _c: PLAN)
    decisions = []
    for m in stream:
        env = decode(m.payload)
        decisions += engine.process(EngineEvent(m.home, m.client, m.device, m.kind, env))
    decisions += engine.advance(now)
    return Counter((d.client_id, d.rule.value) for d in decisions)


def _stored_alerts(
    sessions: sessionmaker[Session], clients: set[str]
) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], int], Counter[tuple[str, str]]]:
    """Alerts per (client, rule), their summed repeat counts, and 'raised' transitions."""
    with sessions() as s:
        rows = s.scalars(select(Alert).where(Alert.client_id.in_(clients))).all()
        alerts = Counter((a.client_id, a.rule) for a in rows)
        counts = {(a.client_id, a.rule): a.count for a in rows}
        raised = Counter(
            (a.client_id, a.rule)
            for a, _t in s.execute(
                select(Alert, AlertTransition)
                .join(AlertTransition, AlertTransition.alert_id == Alert.id)
                .where(Alert.client_id.in_(clients), AlertTransition.action == "raised")
            )
        )
    return alerts, counts, raised


def test_hub_sigkill_mid_stream_loses_no_alert_and_raises_none_twice(
    broker: RunningBroker, sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    rnd = random.Random(8)
    tag = uuid.uuid4().hex[:6]  # the session broker outlives this test's database
    homes: list[tuple[str, str, tuple[str, str], tuple[str, str]]] = []
    now = datetime.now(UTC).replace(microsecond=0)
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        for i in range(HOMES):
            home, client = f"home-k{tag}-{i}", f"cl-k{tag}-{i}"
            service.add_home(s, home_id=home, name=home, team_id=None, actor="t", source="t")
            s.add(Client(id=client, display_name="Proef (fictief)", home_id=home, created_at=now))
            s.flush()
            set_care_plan(s, client_id=client, plan=PLAN, actor="t")
            mot, mpw = service.provision(
                s, control=ctl, kind=Kind.MOTION, home_id=home, actor="t", source="t"
            )
            dsp, dpw = service.provision(
                s, control=ctl, kind=Kind.DISPENSER, home_id=home, actor="t", source="t"
            )
            homes.append((home, client, (mot.id, mpw), (dsp.id, dpw)))
    seq: Counter[str] = Counter()

    def mk(h: int, kind: Kind, ts: datetime, typ: str, data: BaseModel) -> Msg:
        home, client, mot, dsp = homes[h]
        dev = mot[0] if kind is Kind.MOTION else dsp[0]
        seq[dev] += 1
        return _msg(dev, kind, home, client, seq[dev], ts, typ, data)

    # Background: heartbeats of every device, stamped over the last minute.
    stream = [
        mk(
            i % HOMES,
            Kind.MOTION if i % 2 else Kind.DISPENSER,
            now - timedelta(seconds=60) + timedelta(milliseconds=20 * i),
            "heartbeat",
            Heartbeat(uptime_s=i),
        )
        for i in range(HEARTBEATS)
    ]
    half = len(stream) // 2
    incidents = 0
    # Missed doses (three dose moments per home; one also re-sent with a new event id),
    # reported two hours ago: any grace the rules allow for a late pouch has passed.
    sent = now - timedelta(hours=2)
    for h in range(HOMES):
        for k, hour in enumerate((8, 13, 18)):
            sched = (now - timedelta(days=1)).replace(hour=hour, minute=0, second=0)
            m = mk(h, Kind.DISPENSER, sent, "dose.missed", _dm(sched, k))
            stream.insert(rnd.randrange(len(stream)), m)
            incidents += 1
        again = mk(h, Kind.DISPENSER, sent, "dose.missed", _dm(sched, 2))
        stream.insert(rnd.randrange(len(stream)), again)
    # Low batteries on the motion sensors of half the homes.
    for h in range(0, HOMES, 2):
        stream.insert(
            rnd.randrange(len(stream)),
            mk(h, Kind.MOTION, now - timedelta(seconds=10), "battery", Battery(level_pct=9)),
        )
        incidents += 1
    # Falls: a late toilet motion (queued 40 min ago) just before the kill; the home's
    # later events come after it. Its stillness timer is due on arrival.
    first = stream[:half]
    second = stream[half:]
    for h in range(HOMES):
        mot_id = homes[h][2][0]
        dsp_id = homes[h][3][0]
        ids = (mot_id, dsp_id)
        if h % 2 == 0:
            continue
        # Move this home's first-half events after the late motion: its timer can only
        # fire on a later event (after the kill) or on the wall-clock tick.
        moved = [m for m in first if m.device in ids]
        first = [m for m in first if m.device not in ids]
        late = mk(h, Kind.MOTION, now - timedelta(minutes=40), "motion", Motion(room=Room.TOILET))
        first.append(late)
        second = moved + second
        incidents += 1
    # Last, a heartbeat from every device whose clock runs three minutes fast: every
    # home's event time passes the restart, so due timers fire without the 30-s tick.
    closing = [
        mk(h, kind, now + timedelta(minutes=3), "heartbeat", Heartbeat(uptime_s=1))
        for h in range(HOMES)
        for kind in (Kind.MOTION, Kind.DISPENSER)
    ]
    stream = first + second + closing
    cut = len(first)
    expected = expected_alerts(stream, datetime.now(UTC))
    assert {r for _c, r in expected} == {"missed_dose", "battery_low", "fall"}

    hub_url = f"mqtt://{broker.hub.username}:{broker.hub.password}@127.0.0.1:{broker.port}"
    env = dict(
        os.environ,
        CAREHUB_BROKER_URL=hub_url,
        CAREHUB_DATABASE_URL=db_url,
        CAREHUB_DATA_DIR=str(tmp_path / "var"),
        CAREHUB_HUB_CLIENT_ID=f"chaos-alerts-{tag}",
        CAREHUB_SHARE_GROUP=f"g{tag}",
        CAREHUB_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "hub.log"
    home_ids = {h[0] for h in homes}
    clients = {h[1] for h in homes}
    devs: dict[str, TestDevice] = {}
    hub = _start_hub(env, log)
    try:
        for _home, _client, mot_cred, dsp_cred in homes:
            for dev_id, pw in (mot_cred, dsp_cred):
                devs[dev_id] = TestDevice(broker.device_address(dev_id, pw)).__enter__()
        probe = stream[0]

        def first_stored() -> bool:  # nobody receives before the hub subscribed: repeat
            devs[probe.device].publish_raw(probe.topic, probe.payload)
            return _count(sessions, home_ids) >= 1

        wait_until(first_stored, 30, "hub to store the first event")
        _publish(devs, stream[1:cut])
        wait_until(lambda: _count(sessions, home_ids) >= cut // 2, 60, "progress before kill")
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        killed_at = _count(sessions, home_ids)
        before, _, _ = _stored_alerts(sessions, clients)
        # The stream goes on while the hub is dead; some events are re-sent (lost PUBACK).
        _publish(devs, stream[cut:])
        _publish(devs, stream[cut - 40 : cut + 40])
        hub = _start_hub(env, log)
        wait_until(lambda: _count(sessions, home_ids) >= len(stream), 90, "every event stored")

        def alerts_settled() -> bool:
            alerts, counts, _ = _stored_alerts(sessions, clients)
            return set(alerts) >= set(expected) and all(
                counts.get(k, 0) >= n for k, n in expected.items()
            )

        try:
            wait_until(alerts_settled, 20, "every expected alert")
        except AssertionError:
            pass  # asserted precisely below
    finally:
        for d in devs.values():
            d.__exit__()
        hub.terminate()
        hub.wait(15)
    with sessions() as s:
        stored = list(s.scalars(select(Event.id).where(Event.home_id.in_(home_ids))))
    alerts, counts, raised = _stored_alerts(sessions, clients)
    lost = sorted(set(expected) - set(alerts))
    twice = sorted(k for k, n in alerts.items() if n > 1 or raised[k] > 1)
    repeats_off = sorted(k for k in expected if k in counts and counts[k] != expected[k])
    unexpected = sorted(set(alerts) - set(expected))
    faults = 1 + 80  # the kill, and the re-sent events
    assert killed_at < len(stream), "the kill came after the end of the stream: proves nothing"
    assert len(stored) == len(set(stored)) == len(stream)
    assert lost == [], f"alerts lost: {lost}"
    assert twice == [], f"alerts raised twice: {twice}"
    assert repeats_off == [], {k: (counts[k], expected[k]) for k in repeats_off}
    assert unexpected == [], f"alerts the replay does not raise: {unexpected}"
    sys.stdout.write(
        f"{len(stream)} events, {faults} faults (SIGKILL after {killed_at} stored, 80 re-sent), "
        f"{incidents} incidents -> {len(expected)} alerts ({sum(before.values())} raised "
        "before the kill): 0 events lost, 0 duplicated; 0 alerts lost, 0 duplicated\n"
    )


# --- the restart itself, without a broker: warm-up and timers due during the outage ----


def _seed_one_home(sessions: sessionmaker[Session], at: datetime) -> None:
    with unit_of_work(sessions) as s:
        service.add_home(s, home_id="home-w", name="w", team_id=None, actor="t", source="t")
        s.add(Client(id="cl-w", display_name="Proef (fictief)", home_id="home-w", created_at=at))
        s.add(Device(id="mot-w", kind="motion", home_id="home-w", password_hash="x", created_at=at))
        s.flush()
        set_care_plan(s, client_id="cl-w", plan=PLAN, actor="t")
        s.add(
            Event(
                id="warm-0001",
                device_id="mot-w",
                home_id="home-w",
                type="motion",
                ts=at,
                seq=1,
                received_at=at,
                data={"room": "toilet"},
            )
        )


class _Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _falls(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    with sessions() as s:
        return [
            (a.rule, a.count) for a in s.scalars(select(Alert).where(Alert.client_id == "cl-w"))
        ]


def test_a_timer_due_while_the_hub_was_down_alerts_after_the_restart(
    sessions: sessionmaker[Session],
) -> None:
    """Toilet motion, then the hub dies; it restarts an hour later: the fall is not forgotten."""
    t0 = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    _seed_one_home(sessions, t0)
    hook = RulesHook(clock=_Clock(t0 + timedelta(hours=1)))
    with unit_of_work(sessions) as s:
        hook.warm_up(s)
    with unit_of_work(sessions) as s:
        hook.tick(s)  # nothing else arrives: the first tick fires it
    assert _falls(sessions) == [("fall", 1)]


def test_an_alert_a_tick_raised_before_the_crash_is_not_raised_again(
    sessions: sessionmaker[Session],
) -> None:
    t0 = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    _seed_one_home(sessions, t0)
    live = RulesHook(clock=_Clock(t0 + timedelta(minutes=30)))
    with unit_of_work(sessions) as s:
        live.warm_up(s)
    with unit_of_work(sessions) as s:
        live.tick(s)  # the fall timer (25 min) is due: raised
    restarted = RulesHook(clock=_Clock(t0 + timedelta(minutes=40)))
    with unit_of_work(sessions) as s:
        restarted.warm_up(s)
    with unit_of_work(sessions) as s:
        restarted.tick(s)  # the replayed timer fires again: not raised twice
    assert _falls(sessions) == [("fall", 1)]


def _dm(sched: datetime, k: int) -> DoseMissed:
    return DoseMissed(dose_id=f"d{k}", scheduled_for=sched, window_min=45)


def _publish(devs: dict[str, TestDevice], msgs: list[Msg], *, window: int = 200) -> None:
    """Publish in stream order across the devices' connections, at most `window` unacked."""
    outstanding: list[tuple[TestDevice, int]] = []
    for m in msgs:
        dev = devs[m.device]
        if len(outstanding) >= window:
            _settle(outstanding)
            outstanding = []
        info = dev.client.publish(m.topic, m.payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        outstanding.append((dev, info.mid))
    _settle(outstanding)


def _settle(outstanding: list[tuple[TestDevice, int]]) -> None:
    def acked() -> bool:
        return all(mid in dev.acks for dev, mid in outstanding)

    wait_until(acked, 60, "PUBACKs")
    for dev, mid in outstanding:
        rc = dev.acks.pop(mid)
        assert not rc.is_failure, rc


def test_the_tick_and_an_ingest_batch_never_wait_for_each_other(
    sessions: sessionmaker[Session],
) -> None:
    """A tick with alerts to raise while a batch is being stored: both go through at once.

    The ingest worker holds its batch transaction (on SQLite: the database's one write
    lock) when it calls the rules hook. A tick that took the hook's lock first and then
    waited for the database deadlocked with it until SQLite's busy timeout (30 s): the
    tick's alerts were rolled back and ingest stalled, at every tick that raised alerts.
    """
    t0 = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    _seed_one_home(sessions, t0)
    hook = RulesHook(clock=_Clock(t0 + timedelta(minutes=1)))
    with unit_of_work(sessions) as s:
        hook.warm_up(s)  # toilet motion at t0: a fall timer due at t0 + 25 min
    hook._clock = _Clock(t0 + timedelta(hours=1))  # the tick will raise the fall
    batch_open, tick_locked = threading.Event(), threading.Event()
    advance = hook.engine.advance

    def advance_and_signal(now: datetime) -> list[AlertDecision]:
        tick_locked.set()  # called with the hook's lock held
        return advance(now)

    hook.engine.advance = advance_and_signal  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def batch() -> None:
        try:
            with unit_of_work(sessions) as s:
                s.add(
                    Event(
                        id="warm-0002",
                        device_id="mot-w",
                        home_id="home-w",
                        type="heartbeat",
                        ts=t0,
                        seq=2,
                        received_at=t0,
                        data={"uptime_s": 1},
                    )
                )
                s.flush()  # the batch's transaction holds the write lock from here
                batch_open.set()
                tick_locked.wait(2)  # the tick goes first if it can
                hook(s, cast(Any, BatchResult()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def tick() -> None:
        batch_open.wait(10)
        try:
            with unit_of_work(sessions) as s:
                hook.tick(s)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=batch), threading.Thread(target=tick)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert errors == []
    assert _falls(sessions) == [("fall", 1)]
