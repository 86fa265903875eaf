"""Shared parts of the end-to-end benchmarks (latency.py, scale.py).

A real stack: embedded Mosquitto, a migrated SQLite or PostgreSQL database with N homes
(one client, the simulated home's devices), and the hub as its own process
(`python -m hub.cli serve`: ingest, rules, alerts, HTTP API with the SSE stream). Traffic
comes from the simulators: a sample of virtual homes is generated once and each of the
N homes replays one sample home's day from its own phase, re-stamped to the wall clock,
so the publish rate is the virtual homes' event rate x N. Incidents are low-battery
reports (an alert on the event itself); the SSE client times each from publish to the
alert on the stream.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from devices import topics  # noqa: E402
from hub.auth.service import create_user, issue_token  # noqa: E402
from hub.broker.dynsec import BrokerAddress, DynSecClient  # noqa: E402
from hub.broker.embedded import EmbeddedBroker, free_port  # noqa: E402
from hub.store.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402
from hub.store.models import Client, Device, Home  # noqa: E402
from simulators.life import AMS  # noqa: E402
from simulators.stream import Simulation  # noqa: E402

SAMPLE_HOMES = 100  # virtual homes generated; the N bench homes replay them
SAMPLE_START = date(2026, 10, 19)
DAY_MS = 86_400_000
WAKE_SPREAD_MS = 30 * 60_000  # the 07:00 peak: every home gets up within half an hour
PUBLISHER = "bench-publisher"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- traffic from the simulators ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampleEvent:
    at_ms: int  # simulated time since the sample's first local midnight
    suffix: str  # device id without the home id ("-mot-kitchen")
    typ: str
    data: dict[str, Any]


@dataclass
class Sample:
    """Simulated homes' device events (one day + one morning), grouped per home."""

    homes: list[list[SampleEvent]]
    keys: list[list[int]]  # per sample home: at_ms of its events (for bisect)
    wake_ms: list[int]  # each sample home's getting-up time on day 2
    suffixes: list[list[tuple[str, str]]]  # per sample home: (suffix, kind)
    per_home_s: float  # events per home per second over the whole day

    @classmethod
    def generate(cls, n: int = SAMPLE_HOMES, seed: int = 1) -> Sample:
        sim = Simulation(homes=n, days=2, seed=seed, start=SAMPLE_START)
        origin = sim.start_ms
        index = {h.home_id: i for i, h in enumerate(sim.homes)}
        homes: list[list[SampleEvent]] = [[] for _ in sim.homes]
        day1 = 0
        for m in sim.messages():
            env = m.body.get("event")
            if env is None:
                continue
            at = m.at_ms - origin
            if at < DAY_MS:
                day1 += 1
            homes[index[m.home_id]].append(
                SampleEvent(at, m.device_id[len(m.home_id) :], env["type"], env["data"])
            )
        wake = []
        for evs in homes:
            # getting up on day 2: the bed left (or the first kitchen visit) after 05:00
            t = next(
                (
                    e.at_ms
                    for e in evs
                    if e.at_ms >= DAY_MS + 5 * 3_600_000
                    and (
                        (e.typ == "occupancy" and e.data.get("state") == "vacant")
                        or (e.typ == "motion" and e.data.get("room") == "kitchen")
                    )
                ),
                DAY_MS + 7 * 3_600_000,
            )
            wake.append(t)
        suffixes = [
            [(d.device_id[len(h.home_id) :], d.kind.value) for d in h.devices] for h in sim.homes
        ]
        keys = [[e.at_ms for e in evs] for evs in homes]
        return cls(homes, keys, wake, suffixes, day1 / n / 86_400)


@dataclass(frozen=True, slots=True)
class Planned:
    at_ms: int  # wall offset from the segment start
    home: int
    suffix: str
    typ: str
    data: dict[str, Any]
    shift_ms: int  # sample time -> wall time of this home (data datetimes move with it)


def home_id(j: int) -> str:
    return f"b{j:05d}"


def steady_plan(sample: Sample, homes: int, dur_ms: int, seed: int = 3) -> list[Planned]:
    """Every home replays its sample home's day from its own phase: the day's average mix."""
    rnd = random.Random(seed)
    out: list[Planned] = []
    for j in range(homes):
        evs, keys = sample.homes[j % len(sample.homes)], sample.keys[j % len(sample.homes)]
        phase = rnd.randrange(0, DAY_MS - dur_ms)
        lo, hi = bisect.bisect_left(keys, phase), bisect.bisect_left(keys, phase + dur_ms)
        out += [Planned(e.at_ms - phase, j, e.suffix, e.typ, e.data, -phase) for e in evs[lo:hi]]
    out.sort(key=lambda p: p.at_ms)
    return out


def peak_plan(
    sample: Sample, homes: int, dur_ms: int, seed: int = 4, spread_ms: int = WAKE_SPREAD_MS
) -> list[Planned]:
    """07:00: every home gets up within `spread_ms`; the segment starts mid-wave."""
    rnd = random.Random(seed)
    start = spread_ms // 2  # half the homes up already, half to come
    out: list[Planned] = []
    for j in range(homes):
        k = j % len(sample.homes)
        evs, wake, keys = sample.homes[k], sample.wake_ms[k], sample.keys[k]
        u = rnd.randrange(0, spread_ms)
        # wall offset of sample time s: u + (s - wake) - start, for s from wake - 10 min on
        s0 = max(wake - 10 * 60_000, wake + start - u)
        s1 = wake + start - u + dur_ms
        lo, hi = bisect.bisect_left(keys, s0), bisect.bisect_left(keys, s1)
        shift = u - wake - start
        out += [Planned(e.at_ms + shift, j, e.suffix, e.typ, e.data, shift) for e in evs[lo:hi]]
    out.sort(key=lambda p: p.at_ms)
    return out


def _shift_data(data: dict[str, Any], shift_ms: int, origin: datetime) -> dict[str, Any]:
    """Move the datetimes inside a payload (scheduled_for, taken_at) to wall time."""
    if "scheduled_for" not in data and "taken_at" not in data:
        return data
    out = dict(data)
    for k in ("scheduled_for", "taken_at"):
        if k in out:
            t = datetime.fromisoformat(str(out[k])) + timedelta(milliseconds=shift_ms)
            out[k] = (t - _SAMPLE_ORIGIN + origin).astimezone(UTC).isoformat()
    return out


_SAMPLE_ORIGIN = datetime(SAMPLE_START.year, SAMPLE_START.month, SAMPLE_START.day, tzinfo=AMS)


# --- the stack ------------------------------------------------------------------------------


@dataclass
class Stack:
    work: Path
    broker: EmbeddedBroker
    hub_addr: BrokerAddress
    publisher: BrokerAddress
    db_url: str
    http_port: int
    token: str
    homes: int
    sample: Sample
    hub: subprocess.Popen[bytes] | None = None
    pg: bool = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def close(self) -> None:
        if self.hub is not None:
            self.hub.terminate()
            try:
                self.hub.wait(20)
            except subprocess.TimeoutExpired:
                self.hub.kill()
        self.broker.stop()
        if self.pg:
            from tests.conftest import drop_pg_database

            drop_pg_database(self.db_url)
        shutil.rmtree(self.work, ignore_errors=True)


def open_stack(homes: int, db: str, sample: Sample) -> Stack:
    """Broker, database with `homes` homes, publisher account, API token, hub process."""
    work = Path(tempfile.mkdtemp(prefix="carehub-e2e-"))
    broker = EmbeddedBroker(work / "mosquitto", port=free_port())
    sec = broker.start()
    admin, hub_addr = broker.admin_address(sec), broker.hub_address(sec)
    pub_pw = uuid.uuid4().hex
    with DynSecClient(admin) as ctl:
        # One account publishes for every simulated device (10,000 homes would need
        # 60,000 broker accounts); the hub cannot tell, as it reads the topic and envelope.
        acl = {"acltype": "publishClientSend", "topic": f"{topics.PREFIX}/+/evt/#", "allow": True}
        ctl.run(
            [
                {"command": "createRole", "rolename": "bench-publisher", "acls": [acl]},
                {
                    "command": "createClient",
                    "username": PUBLISHER,
                    "password": pub_pw,
                    "roles": [{"rolename": "bench-publisher"}],
                },
            ]
        )
    pg = db == "postgresql"
    if pg:
        from tests.conftest import _find_postgres, create_pg_database

        if not _find_postgres():
            broker.stop()
            print("no PostgreSQL on 127.0.0.1:5432 and none installed: skipped")
            raise SystemExit(0)
        url = create_pg_database()
    else:
        url = f"sqlite:///{work / 'carehub.db'}"
    upgrade(url)
    token = _seed(url, homes, sample)
    stack = Stack(
        work,
        broker,
        hub_addr,
        BrokerAddress("127.0.0.1", broker.port, PUBLISHER, pub_pw),
        url,
        free_port(),
        token,
        homes,
        sample,
        pg=pg,
    )
    start_hub(stack)
    return stack


def _seed(url: str, homes: int, sample: Sample) -> str:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    home_rows, client_rows, device_rows = [], [], []
    for j in range(homes):
        hid = home_id(j)
        home_rows.append({"id": hid, "name": hid, "team_id": None, "created_at": now})
        client_rows.append(
            {
                "id": f"c{j:05d}",
                "display_name": "Proef (fictief)",
                "home_id": hid,
                "created_at": now,
            }
        )
        for suffix, kind in sample.suffixes[j % len(sample.suffixes)]:
            device_rows.append(
                {
                    "id": hid + suffix,
                    "kind": kind,
                    "home_id": hid,
                    "label": "",
                    "status": "unknown",
                    "password_hash": "-",
                    "created_at": now,
                }
            )
    with unit_of_work(sessions) as s:
        s.execute(insert(Home), home_rows)
        s.execute(insert(Client), client_rows)
        s.execute(insert(Device), device_rows)
        user = create_user(
            s, username="bench", password=uuid.uuid4().hex, display_name="Bench", role="admin"
        )
        token = issue_token(s, user_id=user.id, name="bench")
    engine.dispose()
    return token


def start_hub(stack: Stack) -> None:
    h = stack.hub_addr
    env = dict(
        os.environ,
        CAREHUB_BROKER_URL=f"mqtt://{h.username}:{h.password}@127.0.0.1:{stack.broker.port}",
        CAREHUB_DATABASE_URL=stack.db_url,
        CAREHUB_DATA_DIR=str(stack.work / "var"),
        CAREHUB_HTTP_PORT=str(stack.http_port),
        CAREHUB_LOG_LEVEL="WARNING",
    )
    log = open(stack.work / "hub.log", "ab")  # noqa: SIM115 - lives as long as the process
    stack.hub = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{stack.base}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if stack.hub.poll() is not None:
            raise SystemExit(f"hub exited: see {stack.work / 'hub.log'}")
        time.sleep(0.3)
    raise SystemExit("hub not ready after 180 s")


# --- provisioning simulated homes (bench/ingest.py, bench/multihub.py) ----------------------


class _NoBroker:
    """Provision a further database's copy of the registry without touching the broker twice."""

    def add_device(self, device_id: str, password: str) -> None:
        pass

    def remove_device(self, device_id: str) -> None:
        pass

    def set_password(self, device_id: str, password: str) -> None:
        pass


def provision_homes(url: str, admin: BrokerAddress, homes: Any, passwords: dict[str, str]) -> None:
    """Migrate `url` and store the simulation's homes, clients and devices in it. A device
    gets its broker account (and its password in `passwords`) the first time only; the
    databases after the first get the same device ids and passwords."""
    from hub.devices import service

    upgrade(url)
    engine = make_engine(url)
    with unit_of_work(make_sessionmaker(engine)) as s, DynSecClient(admin) as ctl:
        for home in homes:
            service.add_home(
                s, home_id=home.home_id, name=home.display_name, team_id=None,
                actor="bench", source="bench",
            )  # fmt: skip
            s.add(
                Client(
                    id=home.client_id,
                    display_name=home.display_name,
                    home_id=home.home_id,
                    created_at=datetime.now(UTC),
                )
            )
            s.flush()
            for spec in home.devices:
                _dev, pw = service.provision(
                    s,
                    control=ctl if not passwords.get(spec.device_id) else _NoBroker(),
                    kind=spec.kind,
                    home_id=home.home_id,
                    actor="bench",
                    source="bench",
                    device_id=spec.device_id,
                    password=passwords.get(spec.device_id),
                )
                passwords[spec.device_id] = pw
    engine.dispose()


# --- measuring the hub process --------------------------------------------------------------


def _with_children(pid: int) -> list[int]:
    """The hub process and its live child processes (the ingest receiver, ADR 0012)."""
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [int(c) for c in children.read_text().split()]
        except OSError:
            continue
    return pids


def hub_cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of the hub process and its live children."""
    total = 0.0
    for p in _with_children(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def hub_mem_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB of the hub process and its live children (summed)."""
    rss = hwm = 0.0
    for p in _with_children(pid):
        try:
            lines = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1]) / 1024
    return rss, hwm


def stored_events(stack: Stack) -> int:
    """Events the hub has stored (its Prometheus counter)."""
    with urllib.request.urlopen(f"{stack.base}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("carehub_ingest_events_stored"):
                return int(float(line.split()[-1]))
    raise RuntimeError("no carehub_ingest_events_stored in /metrics")


def alerts_by_rule(stack: Stack) -> dict[str, int]:
    """Alerts the hub raised during the run, per rule (read from its database)."""
    engine = make_engine(stack.db_url)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT rule, count(*) FROM alerts GROUP BY rule"))
            return {str(r): int(n) for r, n in rows}
    finally:
        engine.dispose()


# --- publishing and the SSE client ----------------------------------------------------------


class Publisher:
    """One MQTT 5 connection publishing planned events at their wall time, QoS 1."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.seq: dict[str, int] = {}
        self.sent = 0
        self.incidents: dict[str, float] = {}  # alert subject -> publish time (epoch s)
        self.behind_max_s = 0.0  # how late the publisher itself ran (it must keep up)
        self._cond = threading.Condition()
        self._outstanding = 0
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(stack.publisher.username, stack.publisher.password)
        c.max_inflight_messages_set(100)
        c.on_publish = self._acked
        c.connect("127.0.0.1", stack.broker.port)
        c.loop_start()
        self.c = c
        self.ids = uuid.uuid4().hex[:8]

    def _send(self, device_id: str, typ: str, ts: datetime, data: dict[str, Any]) -> None:
        seq = self.seq.get(device_id, 0) + 1
        self.seq[device_id] = seq
        env = {
            "id": f"{self.ids}-{self.sent:09d}",
            "device_id": device_id,
            "ts": ts.isoformat(timespec="milliseconds"),
            "seq": seq,
            "type": typ,
            "data": data,
        }
        with self._cond:
            while self._outstanding >= 1000:
                self._cond.wait(1)
            self._outstanding += 1
        info = self.c.publish(
            topics.event_topic(device_id, typ), json.dumps(env, separators=(",", ":")), qos=1
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: rc={info.rc}")
        self.sent += 1

    def play(
        self,
        plan: list[Planned],
        *,
        incident_every_s: float,
        incident_homes: Iterator[int],
        speed: float = 1.0,
        stop: threading.Event | None = None,
    ) -> float:
        """Publish the plan in real time (x speed); returns the wall seconds it took."""
        t0 = time.time()
        origin = datetime.now(UTC)
        next_incident = t0 + incident_every_s
        for p in plan:
            if stop is not None and stop.is_set():
                break
            due = t0 + p.at_ms / 1000 / speed
            while True:
                now = time.time()
                if now >= next_incident:
                    self.incident(next(incident_homes))
                    next_incident += incident_every_s
                    continue
                if now >= due:
                    break
                time.sleep(min(due, next_incident) - now)
            self.behind_max_s = max(self.behind_max_s, time.time() - due)
            data = _shift_data(p.data, p.shift_ms, origin)
            self._send(home_id(p.home) + p.suffix, p.typ, datetime.now(UTC), data)
        return time.time() - t0

    def incident(self, j: int) -> None:
        """A battery below the care plan's 20 %: an alert on the event itself."""
        suffixes = self.stack.sample.suffixes[j % len(self.stack.sample.suffixes)]
        battery = next(s for s, k in suffixes if k in ("motion", "door", "occupancy"))
        device_id = home_id(j) + battery
        self.incidents[device_id] = time.time()
        self._send(device_id, "battery", datetime.now(UTC), {"level_pct": 7})

    def _acked(self, *_a: Any) -> None:
        with self._cond:
            self._outstanding -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._outstanding == 0, 60)
        self.c.disconnect()
        self.c.loop_stop()


@dataclass
class SseClient:
    """Reads the alert stream; records when each battery alert's device appeared."""

    stack: Stack
    seen: dict[str, float] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()
        if not self.connected.wait(30):
            raise SystemExit("SSE stream did not connect")

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.stack.token}"}
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=None)) as http,
            http.stream("GET", f"{self.stack.base}/api/v1/alerts/stream", headers=headers) as r,
        ):
            r.raise_for_status()
            for line in r.iter_lines():
                if line.startswith(":"):
                    self.connected.set()
                elif line.startswith("data: "):
                    t = time.time()
                    alert = json.loads(line[6:])["alert"]
                    if alert.get("rule") == "battery_low" and alert.get("subject"):
                        self.seen.setdefault(alert["subject"], t)
                if self.stop.is_set():
                    return


def percentiles(xs: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of a list (0s when empty)."""
    if not xs:
        return 0.0, 0.0, 0.0
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return q[49], q[98], max(xs)


def distinct_homes(homes: int, seed: int = 5) -> Iterator[int]:
    """Homes for incidents, each once (an open alert of a home would only repeat)."""
    order = list(range(homes))
    random.Random(seed).shuffle(order)
    yield from order
    raise SystemExit("more incidents than homes: lower the incident rate")


def machine() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
