"""Chaos: skewed device clocks, reordered, late and duplicated events through the real hub.

Virtual homes (simulators) with faults publish through the real broker into the real
ingest and rule engine. The oracle is the same rule engine replaying the stream sorted by
event time, with duplicates and malformed payloads removed: the live hub must decide the
same alerts (rule, first and last event time, number of decisions) although its input
arrived skewed and out of order, and must raise no alert twice.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices.envelope import Envelope
from devices.kinds import Kind
from hub.alerts.models import Alert, AlertTransition
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.ingest.store import BatchHook
from hub.rules.engine import Engine
from hub.rules.live import RulesHook
from hub.rules.model import EngineEvent
from hub.store.db import unit_of_work
from hub.store.models import Client, Event
from simulators.stream import FaultConfig, Message, Simulation
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

HOMES = 3
DAYS = 3
SEED = 11
START = date(2026, 1, 12)  # a week in winter: local time is UTC+1 throughout
FAULTS = FaultConfig(
    disconnects_per_device_day=0.3,  # queued events arrive up to 20 minutes late
    duplicate_rate=0.02,
    reorder_rate=0.05,  # published 2-30 s late
    max_clock_skew_s=90,  # 30 % of the devices run up to 90 s fast or slow
    malformed_rate=0.002,
)


class _Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


Summary = dict[tuple[str, str], tuple[int, datetime, datetime]]


def _replay_sorted(events: list[Message], kinds: dict[str, Kind], end: datetime) -> Summary:
    """(client, rule) -> (decisions, first, last raised_at), replaying in event-time order."""
    unique: dict[str, Envelope] = {}
    where: dict[str, Message] = {}
    for m in events:
        env = Envelope.model_validate(m.body["event"])
        unique.setdefault(env.id, env)
        where.setdefault(env.id, m)
    engine = Engine()
    decisions = []
    for env in sorted(unique.values(), key=lambda e: (e.ts, e.device_id, e.seq)):
        m = where[env.id]
        item = EngineEvent(m.home_id, m.client_id, env.device_id, kinds[env.device_id], env)
        decisions += engine.process(item)
    decisions += engine.advance(end)
    out: Summary = {}
    for d in decisions:
        key = (d.client_id, d.rule.value)
        n, first, last = out.get(key, (0, d.raised_at, d.raised_at))
        out[key] = (n + 1, min(first, d.raised_at), max(last, d.raised_at))
    return out


def _faults(events: list[Message]) -> dict[str, int]:
    """What the stream does wrong: per device, events behind an already newer one, etc."""
    seen: set[str] = set()
    newest: dict[str, datetime] = {}
    out = Counter[str]()
    for m in events:
        if m.body.get("malformed"):
            out["malformed"] += 1
            continue
        env = m.body["event"]
        if env["id"] in seen:
            out["duplicated"] += 1
            continue
        seen.add(env["id"])
        ts = datetime.fromisoformat(env["ts"])
        pub = datetime.fromtimestamp(m.at_ms / 1000, UTC)
        if abs(ts - pub) > timedelta(seconds=5):
            out["skewed or late"] += 1
        if m.home_id in newest and ts < newest[m.home_id]:
            out["out of order"] += 1
        newest[m.home_id] = max(ts, newest.get(m.home_id, ts))
    return dict(out)


def test_skewed_clocks_and_reordered_events_decide_as_the_sorted_replay_and_never_twice(
    broker: RunningBroker, sessions: sessionmaker[Session]
) -> None:
    sim = Simulation(homes=HOMES, days=DAYS, seed=SEED, start=START, faults=FAULTS)
    # Statuses carry the hub's receive time (wall clock), not event time: left out here.
    stream = [m for m in sim.messages() if "status" not in m.body]
    events = [m for m in stream if "event" in m.body]
    end = datetime.fromtimestamp(sim.end_ms / 1000, UTC)
    kinds: dict[str, Kind] = {}
    passwords: dict[str, str] = {}
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        for home in sim.homes:
            service.add_home(
                s, home_id=home.home_id, name="sim", team_id=None, actor="t", source="t"
            )
            s.add(
                Client(
                    id=home.client_id,
                    display_name="Proef (fictief)",
                    home_id=home.home_id,
                    created_at=end,
                )
            )
            for spec in home.devices:
                ctl.remove_device(spec.device_id)  # the session broker outlives the database
                _dev, pw = service.provision(
                    s,
                    control=ctl,
                    kind=spec.kind,
                    home_id=home.home_id,
                    actor="t",
                    source="t",
                    device_id=spec.device_id,
                )
                passwords[spec.device_id] = pw
                kinds[spec.device_id] = spec.kind
    expected = _replay_sorted(events, kinds, end)
    assert expected, "the simulated days should raise alerts: the test would prove nothing"

    hook = RulesHook(clock=_Clock(end))
    tag = uuid.uuid4().hex[:6]
    ingest = IngestService(
        IngestConfig(address=broker.hub, client_id=f"clock-{tag}", share_group=f"g{tag}"),
        sessions,
        hooks=[cast(BatchHook, hook)],
    )
    ingest.start()
    assert ingest.wait_connected()
    # Devices publish as themselves, but without the retained "online" the simulators'
    # sink sends on connect: statuses are stamped with the hub's wall clock (see report).
    devs = {d: TestDevice(broker.device_address(d, pw), will=False) for d, pw in passwords.items()}
    try:
        for d in devs.values():
            d.__enter__()
        _publish(devs, stream)
    finally:
        for d in devs.values():
            d.__exit__()
    ids = {m.body["event"]["id"] for m in events}

    def stored() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Event)) or 0)

    try:
        wait_until(lambda: stored() >= len(ids), 60, "every event stored")
    finally:
        ingest.stop()
    with unit_of_work(sessions) as s:
        hook.tick(s)  # the end of the stream: the watermark moves to its end, as the replay's
    with sessions() as s:
        rows = s.scalars(select(Alert)).all()
        live: Summary = {
            (a.client_id, a.rule): (a.count, _utc(a.first_raised_at), _utc(a.last_raised_at))
            for a in rows
        }
        per_key = Counter((a.client_id, a.rule) for a in rows)
        raised = Counter(
            s.scalars(
                select(AlertTransition.alert_id).where(AlertTransition.action == "raised")
            ).all()
        )
        n_stored = stored()
    faults = _faults(stream)
    twice = sorted(k for k, n in per_key.items() if n > 1) + sorted(
        str(a) for a, n in raised.items() if n > 1
    )
    assert n_stored == len(ids)
    assert twice == [], f"alerts raised twice: {twice}"
    differ = {
        k: (live.get(k), expected.get(k))
        for k in sorted(set(live) | set(expected))
        if live.get(k) != expected.get(k)
    }
    assert differ == {}, f"(client, rule): (live, sorted replay) {differ}"
    sys.stdout.write(
        f"{len(stream)} messages, {len(ids)} events, faults {faults}: "
        f"{len(expected)} alerts as the sorted replay decides, 0 lost, 0 duplicated\n"
    )


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def _publish(devs: dict[str, TestDevice], msgs: list[Message]) -> None:
    """Publish in stream order, one at a time: the broker delivers in that order.

    The stream is days of device time compressed into seconds; a window of unacknowledged
    messages spread over several connections would reorder it by hours of device time.
    """
    for m in msgs:
        rc = devs[m.device_id].publish_raw(m.topic, m.payload())
        assert not rc.is_failure, rc
