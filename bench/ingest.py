"""Ingest benchmark: the hub vs a no-op paho subscriber, same N events, one broker, one run.

Method: every consumer first creates its persistent MQTT session (QoS 1, clean start off)
and goes offline; N valid events from provisioned devices are published into the broker,
which queues a copy for each session; then each consumer is started alone and timed until
it has drained its queue. So publisher speed does not enter the figures, and every
consumer sees exactly the same messages on the same broker.

    python bench/ingest.py [--events N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from devices import topics  # noqa: E402
from devices.kinds import Kind  # noqa: E402
from hub.broker.dynsec import BrokerAddress, DynSecClient  # noqa: E402
from hub.broker.embedded import EmbeddedBroker, free_port  # noqa: E402
from hub.devices import service  # noqa: E402
from hub.ingest.service import IngestConfig, IngestService  # noqa: E402
from hub.store.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402
from tests.integration.mqtt_helpers import TestDevice, publish_stream  # noqa: E402

N_DEVICES = 20


class NoopSubscriber:
    """The reference: a paho MQTT 5 QoS 1 subscriber that only counts (auto-ack)."""

    def __init__(self, addr: BrokerAddress, client_id: str) -> None:
        self.count = 0
        self.connected = threading.Event()
        self.c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        self.c.username_pw_set(addr.username, addr.password)
        self.addr = addr
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message

    def _on_connect(self, c: mqtt.Client, *_: Any) -> None:
        c.subscribe([(f, 1) for f in topics.HUB_FILTERS])
        self.connected.set()

    def _on_message(self, *_: Any) -> None:
        self.count += 1

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 1000
        self.c.connect(self.addr.host, self.addr.port, clean_start=False, properties=props)
        self.c.loop_start()
        self.connected.wait(10)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _drain(start: Any, done: Any, n: int, timeout: float = 600) -> tuple[float, float]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    start()
    deadline = t0 + timeout
    while done() < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"drained only {done()} of {n}")
        time.sleep(0.01)
    return time.perf_counter() - t0, time.process_time() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    n = args.events
    work = Path(tempfile.mkdtemp(prefix="carehub-bench-"))
    broker = EmbeddedBroker(work / "mosquitto", port=free_port())
    sec = broker.start()
    admin, hub_addr = broker.admin_address(sec), broker.hub_address(sec)

    dbs = {"sqlite": f"sqlite:///{work / 'bench.db'}"}
    if not args.no_postgres:
        from tests.conftest import PG_ADMIN_URL, _find_postgres, create_pg_database

        if _find_postgres():
            dbs["postgresql"] = create_pg_database()
        del PG_ADMIN_URL
    creds: list[tuple[str, str]] = []
    for name, url in dbs.items():
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        with unit_of_work(sessions) as s, DynSecClient(admin) as ctl:
            service.add_home(
                s, home_id="home-b", name="b", team_id=None, actor="bench", source="bench"
            )
            for i in range(N_DEVICES):
                dev_id = f"mot-bench{i:03d}"
                pw = f"pw-{i}"
                ctl_ = ctl if name == "sqlite" else _NoBroker()
                service.provision(
                    s,
                    control=ctl_,
                    kind=Kind.MOTION,
                    home_id="home-b",
                    actor="bench",
                    source="bench",
                    device_id=dev_id,
                    password=pw,
                )
                if name == "sqlite":
                    creds.append((dev_id, pw))

    # 1. create every consumer's session, then take them offline
    noop = NoopSubscriber(hub_addr, "bench-noop")
    noop.start()
    noop.stop()
    hubs = {}
    for name, url in dbs.items():
        sessions = make_sessionmaker(make_engine(url))
        cfg = IngestConfig(address=hub_addr, client_id=f"bench-hub-{name}")
        ing = IngestService(cfg, sessions)
        ing.start()
        ing.wait_connected()
        ing.stop()
        hubs[name] = IngestService(cfg, sessions)

    # 2. publish N valid events (queued by the broker for every offline session)
    t0 = time.perf_counter()
    devices = [
        TestDevice(BrokerAddress("127.0.0.1", broker.port, d, p)).__enter__() for d, p in creds
    ]
    per = [[] for _ in devices]  # type: list[list[tuple[str, bytes]]]
    for i in range(n):
        d = devices[i % len(devices)]
        _eid, payload = d.motion_event()
        per[i % len(devices)].append((topics.event_topic(d.device_id, "motion"), payload))
    threads = [
        threading.Thread(target=publish_stream, args=(d, msgs))
        for d, msgs in zip(devices, per, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in devices:
        d.__exit__()
    print(f"published {n} events from {len(devices)} devices in {time.perf_counter() - t0:.1f} s")

    # 3. drain each queue alone
    rows = []
    wall, cpu = _drain(noop.start, lambda: noop.count, n)
    noop.stop()
    rows.append(("no-op paho subscriber", n / wall, cpu / n * 1000))
    for name, ing in hubs.items():
        wall, cpu = _drain(ing.start, lambda ing=ing: ing.stats.received, n)
        ing.stop()
        assert ing.stats.stored == n, f"{name}: stored {ing.stats.stored} of {n}"
        rows.append(
            (f"hub ({name}: validate + store + ack after commit)", n / wall, cpu / n * 1000)
        )
    broker.stop()
    ref = rows[0][1]
    print(f"\n{'consumer':<52} {'events/s':>10} {'ratio':>7} {'CPU s/1000':>11}")
    for label, rate, cpu_k in rows:
        print(f"{label:<52} {rate:>10,.0f} {rate / ref:>7.2f} {cpu_k:>11.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the benchmark process: {peak:.0f} MiB (N={n}, MQTT 5, QoS 1)")
    shutil.rmtree(work, ignore_errors=True)
    if "postgresql" in dbs:
        from tests.conftest import drop_pg_database

        drop_pg_database(dbs["postgresql"])
    os._exit(0)


class _NoBroker:
    """Provision the PostgreSQL copy of the registry without touching the broker twice."""

    def add_device(self, device_id: str, password: str) -> None:
        pass

    def remove_device(self, device_id: str) -> None:
        pass

    def set_password(self, device_id: str, password: str) -> None:
        pass


if __name__ == "__main__":
    main()
