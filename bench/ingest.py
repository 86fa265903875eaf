"""Ingest benchmark: the hub vs a no-op paho subscriber, same N events, one broker, one run.

Method: every consumer first creates its persistent MQTT session (QoS 1, clean start off)
and goes offline; N events of simulated homes (simulators.stream: heartbeats, motion,
doors, bed/chair, dispenser, robot, battery — in publish-time order, each device with
its own account) are published into the broker, which queues a copy for each session;
then each consumer is started alone, in its own process, and timed until it has drained
its queue. So publisher speed does not enter the figures, every consumer sees exactly
the same messages on the same broker, and each consumer's CPU time and peak memory
(RSS high-water mark) are its own.

- no-op: a paho MQTT 5 QoS 1 subscriber that only counts (paho acknowledges on return);
- hub: the hub as `hub.runtime` wires it (`open_runtime` + `start_ingest`): validate,
  store, device status, every BatchHook including the rule engine and alerts, and the
  acknowledgement after COMMIT — on SQLite and on PostgreSQL (a throw-away database on
  127.0.0.1:5432, or the private cluster the tests start). The hub reads MQTT in its
  receiver process (hub.ingest.receiver, the default): its CPU and memory are added to
  the hub's. `--thread-receiver` adds a run of the hub reading MQTT on a thread of its
  own process (CAREHUB_INGEST_RECEIVER=thread), on a database of its own.

    python bench/ingest.py [--events N] [--homes H] [--no-postgres] [--thread-receiver]
                           [--sqlite-synchronous FULL|NORMAL]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from devices import topics  # noqa: E402

THREAD_DB = "SQLite, receiver thread"
EVENTS_PER_HOME_DAY = 1100  # about what simulators.stream produces (70 % heartbeats)


# --- consumers (each runs in its own process) -------------------------------------------


def _usage() -> tuple[float, int]:
    """CPU seconds of this process (all threads) and its RSS high-water mark in KiB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent process.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    hwm = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return ru.ru_utime + ru.ru_stime, hwm


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per live thread of this process, by thread name (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            with open(f"/proc/self/task/{t.native_id}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[t.name] = out.get(t.name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _connect_props(receive_max: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = receive_max
    return props


def consume_noop(host: str, port: int, user: str, pw: str, client_id: str, n: int) -> None:
    """Count event messages until n arrived; print the figures as one JSON line."""
    count = 0
    done = threading.Event()

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe([(f, 1) for f in topics.HUB_FILTERS])

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal count
        if "/evt/" in msg.topic:
            count += 1
            if count >= n:
                done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, pw)
    c.on_connect = on_connect
    c.on_message = on_message
    rss0 = _usage()[1]
    cpu0, t0 = _usage()[0], time.perf_counter()
    c.connect(host, port, clean_start=False, properties=_connect_props(1000))
    c.loop_start()
    if not done.wait(900):
        raise TimeoutError(f"no-op drained only {count} of {n}")
    wall = time.perf_counter() - t0
    cpu, rss = _usage()
    c.disconnect()
    c.loop_stop()
    print(json.dumps({"wall": wall, "cpu": cpu - cpu0, "rss_kb": rss, "rss0_kb": rss0}))


def consume_hub(
    db_url: str, broker_url: str, client_id: str, n: int, synchronous: str, receiver: str
) -> None:
    """Run the hub as the runtime wires it until n events are stored; print the figures.

    With the receiver process (the default), the figures are those of both processes:
    CPU is the sum, memory the sum of both high-water marks.
    """
    from _common import hub_cpu_s, hub_mem_mib  # bench/, the script's directory

    from hub.runtime import open_runtime
    from hub.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="carehub-bench-hub-"))
    settings = Settings(
        database_url=db_url,
        broker_url=broker_url,
        hub_client_id=client_id,
        data_dir=data_dir,
        sqlite_synchronous=synchronous,
        ingest_receiver=receiver,
    )
    rt = open_runtime(settings, migrate=False)
    rss0 = _usage()[1]
    cpu0, t0 = _usage()[0], time.perf_counter()
    ingest = rt.start_ingest()
    pid = ingest.receiver_pid
    rcpu0 = 0.0
    if pid is not None:  # its start-up (interpreter, imports) counts against the hub
        rcpu0 = hub_cpu_s(pid)
    deadline = t0 + 900
    while ingest.stats.stored < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"hub stored only {ingest.stats.stored} of {n}")
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    cpu, rss = _usage()
    rcpu, rrss = (hub_cpu_s(pid), int(hub_mem_mib(pid)[1] * 1024)) if pid else (0.0, 0)
    split = _thread_cpu()
    stats = ingest.stats
    out = {
        "wall": wall,
        "cpu": cpu - cpu0 + rcpu - rcpu0,
        "rss_kb": rss + rrss,
        "rss0_kb": rss0,
        "stored": stats.stored,
        "duplicates": stats.duplicates,
        "dead_letters": stats.dead_letters,
        "batches": stats.batches,
        "cpu_network": rcpu - rcpu0
        if pid is not None
        else sum(v for k, v in split.items() if k.startswith("paho")),
        "cpu_worker": split.get("ingest-worker", 0.0),
    }
    rt.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(out))


# --- the run ----------------------------------------------------------------------------


def _create_session(host: str, port: int, user: str, pw: str, client_id: str) -> None:
    """Create a consumer's persistent session with its subscriptions, then go offline."""
    subscribed = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, pw)
    c.on_connect = lambda cl, *_: cl.subscribe([(f, 1) for f in topics.HUB_FILTERS])
    c.on_subscribe = lambda *_: subscribed.set()
    c.connect(host, port, clean_start=False, properties=_connect_props(1000))
    c.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError(f"{client_id}: no SUBACK")
    c.disconnect()
    c.loop_stop()


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"consumer {args[:2]} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--homes", type=int, default=10)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--sqlite-synchronous", choices=["FULL", "NORMAL"], default="FULL")
    ap.add_argument(
        "--thread-receiver",
        action="store_true",
        help="also run the hub on SQLite with CAREHUB_INGEST_RECEIVER=thread (one process)",
    )
    ap.add_argument("--consume", choices=["noop", "hub"], help=argparse.SUPPRESS)
    ap.add_argument("--child-args", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.consume:
        c = json.loads(args.child_args)
        if args.consume == "noop":
            consume_noop(c["host"], c["port"], c["user"], c["pw"], c["client_id"], c["n"])
        else:
            consume_hub(
                c["db_url"], c["broker_url"], c["client_id"], c["n"], c["sync"], c["receiver"]
            )
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    from _common import provision_homes  # bench/, the script's directory
    from sqlalchemy import func, select

    from hub.broker.embedded import EmbeddedBroker, free_port
    from hub.store.db import make_engine, make_sessionmaker
    from hub.store.models import Event
    from simulators.mqtt_sink import MqttSink
    from simulators.stream import Simulation

    n = args.events
    days = max(1, math.ceil(n / (args.homes * EVENTS_PER_HOME_DAY)))
    start = datetime.now(UTC).date() - timedelta(days=days)  # the stream ends before now
    sim = Simulation(homes=args.homes, days=days, seed=7, start=start)
    msgs = [m for m in sim.messages() if "event" in m.body][:n]
    if len(msgs) < n:
        raise SystemExit(f"the simulation gave only {len(msgs)} events; raise --homes")
    kinds: dict[str, int] = {}
    for m in msgs:
        t = m.body["event"]["type"]
        kinds[t] = kinds.get(t, 0) + 1
    load0 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f}")
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    print(f"{n} events of {args.homes} simulated homes over {days} day(s): {mix}")

    work = Path(tempfile.mkdtemp(prefix="carehub-bench-"))
    broker = EmbeddedBroker(work / "mosquitto", port=free_port())
    sec = broker.start()
    admin, hub_addr = broker.admin_address(sec), broker.hub_address(sec)
    dbs = {"SQLite": f"sqlite:///{work / 'bench.db'}"}
    if args.thread_receiver:  # its own database: the same work, not 30,000 duplicates
        dbs[THREAD_DB] = f"sqlite:///{work / 'bench-thread.db'}"
    drop_pg = None
    if not args.no_postgres:
        from tests.conftest import _find_postgres, create_pg_database, drop_pg_database

        if _find_postgres():
            dbs["PostgreSQL"] = create_pg_database()
            drop_pg = drop_pg_database
        else:
            print("no PostgreSQL reachable: SQLite only")
    passwords: dict[str, str] = {}
    for url in dbs.values():
        provision_homes(url, admin, sim.homes, passwords)

    # 1. every consumer's session exists (and is offline) before anything is published
    host, port = "127.0.0.1", broker.port
    # (label, database URL, receiver, MQTT client id) of every hub run
    hubs = [
        (name, url, "thread" if name == THREAD_DB else "process", f"bench-hub-{i}")
        for i, (name, url) in enumerate(dbs.items())
    ]
    ids = {"noop": "bench-noop", **{h[3]: h[3] for h in hubs}}
    for cid in ids.values():
        _create_session(host, port, hub_addr.username, hub_addr.password, cid)

    # 2. publish the N events as their devices, in publish-time order
    t0 = time.perf_counter()
    sink = MqttSink(host=host, port=port, passwords=passwords, max_connections=1000)
    try:
        for m in msgs:
            sink.publish(m)
    finally:
        sink.close()
    print(f"published {n} events from {len(passwords)} devices in {time.perf_counter() - t0:.1f} s")

    # 3. each consumer alone, in its own process, drains its queue
    rows: list[tuple[str, dict[str, Any]]] = []
    noop = _child(
        [
            "--consume", "noop", "--child-args",
            json.dumps({"host": host, "port": port, "user": hub_addr.username,
                        "pw": hub_addr.password, "client_id": ids["noop"], "n": n}),
        ]
    )  # fmt: skip
    rows.append(("no-op paho subscriber", noop))
    broker_url = f"mqtt://{hub_addr.username}:{hub_addr.password}@{host}:{port}"
    for name, url, receiver, client_id in hubs:
        res = _child(
            [
                "--consume", "hub", "--child-args",
                json.dumps({"db_url": url, "broker_url": broker_url, "client_id": client_id,
                            "n": n, "sync": args.sqlite_synchronous, "receiver": receiver}),
            ]
        )  # fmt: skip
        engine = make_engine(url)
        with make_sessionmaker(engine)() as s:
            stored = int(s.scalar(select(func.count()).select_from(Event)) or 0)
            distinct = int(s.scalar(select(func.count(func.distinct(Event.id)))) or 0)
        engine.dispose()
        if stored != n or distinct != n:
            raise SystemExit(f"{name}: {stored} rows ({distinct} distinct) for {n} events")
        db = "SQLite" if name == THREAD_DB else name
        sync = f", synchronous={args.sqlite_synchronous}" if db == "SQLite" else ""
        rows.append((f"hub, {db} (receiver {receiver}{sync})", res))
    broker.stop()
    load1 = os.getloadavg()

    ref = n / noop["wall"]
    print(
        f"\n{'consumer':<50} {'events/s':>9} {'ratio':>6} {'CPU s/1000 ev':>14}"
        f" {'peak RSS MiB':>13} {'(at start)':>10}"
    )
    for label, r in rows:
        rate = n / r["wall"]
        print(
            f"{label:<50} {rate:>9,.0f} {rate / ref:>6.2f} {r['cpu'] / n * 1000:>14.3f}"
            f" {r['rss_kb'] / 1024:>13.0f} {r['rss0_kb'] / 1024:>10.0f}"
        )
    print(
        "\nhub CPU per 1,000 events (MQTT receiver process or paho thread / ingest worker / rest):"
    )
    for label, r in rows[1:]:
        net, work = r["cpu_network"] / n * 1000, r["cpu_worker"] / n * 1000
        rest = r["cpu"] / n * 1000 - net - work
        print(f"  {label:<50} {net:.3f} / {work:.3f} / {rest:.3f} s  ({r['batches']} batches)")
    print(
        f"\nN={n}, MQTT 5, QoS 1, one broker, each consumer alone in its own process; ratio ="
        f" hub events/s / no-op events/s; CPU = the consumer process (all threads);"
        f" load average after the run {load1[0]:.2f}"
    )
    shutil.rmtree(work, ignore_errors=True)
    if drop_pg is not None:
        drop_pg(dbs["PostgreSQL"])


if __name__ == "__main__":
    main()
