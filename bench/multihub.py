"""Several hubs: ingest throughput with 1, 2 and 3 hub processes (PostgreSQL, shared subscription).

Method (as bench/ingest.py, but with k hubs sharing one queue): for k = 1, 2, 3 a share
group `$share/bench-k/...` gets k persistent hub sessions, created and then taken offline;
N events of simulated homes are published once (each group queues its own copy, split
between its members); then, per k, k hub processes are started as the runtime wires them
in shard mode (CAREHUB_SHARDS, leases, feed, rules in the shard owners) on a fresh
PostgreSQL database, released together, and timed until all N events are stored and
until the shard owners' rules have processed them. Each process reports its own CPU time,
so the CPU seconds per event (the figure that decides scaling on a bigger machine) is
measured next to the wall-clock rate.

    python bench/multihub.py [--events N] [--homes H] [--hubs 1,2,3] [--shards S]
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

EVENTS_PER_HOME_DAY = 1100  # about what simulators.stream produces


# --- one hub process ---------------------------------------------------------------------


def hub_process(c: dict[str, Any]) -> None:
    """Open the runtime, say ready, start on 'go', stop on 'stop'; print CPU and counters."""
    from hub.runtime import open_runtime
    from hub.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="carehub-bench-mh-"))
    settings = Settings(
        database_url=c["db_url"],
        broker_url=c["broker_url"],
        hub_client_id=c["client_id"],
        share_group=c["group"],
        shards=c["shards"],
        lease_ttl_s=6.0,
        lease_renew_s=1.0,
        shard_poll_ms=100,
        data_dir=data_dir,
        log_level="WARNING",
    )
    rt = open_runtime(settings, migrate=False)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    ingest = rt.start_ingest()
    sys.stdin.readline()  # "stop"
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    receiver_cpu, receiver_kb = 0.0, 0
    if ingest.receiver_pid is not None:  # the hub's MQTT receiver process (ADR 0012)
        from _common import hub_cpu_s, hub_mem_mib  # bench/, the script's directory

        receiver_cpu = hub_cpu_s(ingest.receiver_pid)
        receiver_kb = int(hub_mem_mib(ingest.receiver_pid)[1] * 1024)
    stored = ingest.stats.stored
    rt.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime) + receiver_cpu
    rss_kb = ru1.ru_maxrss + receiver_kb
    print(json.dumps({"cpu": cpu, "stored": stored, "rss_kb": rss_kb}), flush=True)


# --- the run -------------------------------------------------------------------------------


def _props() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000
    return props


def _create_session(host: str, port: int, user: str, pw: str, client_id: str, group: str) -> None:
    """A hub's persistent session with its shared subscriptions, then offline."""
    subscribed = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, pw)
    c.on_connect = lambda cl, *_: cl.subscribe(
        [(topics.shared(f, group), 1) for f in topics.HUB_FILTERS]
    )
    c.on_subscribe = lambda *_: subscribed.set()
    c.connect(host, port, clean_start=False, properties=_props())
    c.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError(f"{client_id}: no SUBACK")
    c.disconnect()
    c.loop_stop()


def _measure_rebuild(sessions: Any, shards: int) -> tuple[int, float]:
    """Take every shard over in this process (leases freed first); time the rebuild."""
    from sqlalchemy import text

    from hub.shards.service import ShardConfig, ShardCoordinator
    from hub.store.db import unit_of_work

    with unit_of_work(sessions) as s:
        s.execute(text("UPDATE shard_leases SET owner = NULL, expires_at = now()"))
        s.execute(text("DELETE FROM shard_members"))
    coord = ShardCoordinator(
        ShardConfig(shards=shards, hub_id="bench-rebuild", lease_ttl_s=600, renew_s=60), sessions
    )
    t0 = time.perf_counter()
    coord.lease_step()
    seconds = time.perf_counter() - t0
    events = coord.stats.rebuild_events
    if len(coord.owned) != shards:
        raise SystemExit(f"rebuild took only {len(coord.owned)} of {shards} shards")
    with unit_of_work(sessions) as s:
        s.execute(text("UPDATE shard_leases SET owner = NULL, expires_at = now()"))
    return events, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--homes", type=int, default=10)
    ap.add_argument("--hubs", default="1,2,3")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--hub-process", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hub_process:
        hub_process(json.loads(args.hub_process))
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    from _common import provision_homes  # bench/, the script's directory
    from sqlalchemy import func, select, text

    from hub.broker.embedded import EmbeddedBroker, free_port
    from hub.store.db import make_engine, make_sessionmaker
    from hub.store.models import Event
    from simulators.mqtt_sink import MqttSink
    from simulators.stream import Simulation
    from tests.conftest import _find_postgres, create_pg_database, drop_pg_database

    if not _find_postgres():
        raise SystemExit("bench/multihub.py needs PostgreSQL (127.0.0.1:5432 or installed)")
    counts = [int(k) for k in args.hubs.split(",")]
    n = args.events
    days = max(1, math.ceil(n / (args.homes * EVENTS_PER_HOME_DAY)))
    start = datetime.now(UTC).date() - timedelta(days=days)
    sim = Simulation(homes=args.homes, days=days, seed=7, start=start)
    msgs = [m for m in sim.messages() if "event" in m.body][:n]
    if len(msgs) < n:
        raise SystemExit(f"the simulation gave only {len(msgs)} events; raise --homes")
    load0 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f}")
    print(f"{n} events of {args.homes} simulated homes, {args.shards} shards")

    work = Path(tempfile.mkdtemp(prefix="carehub-bench-mh-"))
    broker = EmbeddedBroker(work / "mosquitto", port=free_port())
    sec = broker.start()
    admin, hub_addr = broker.admin_address(sec), broker.hub_address(sec)
    host, port = "127.0.0.1", broker.port
    dbs = {k: create_pg_database() for k in counts}
    passwords: dict[str, str] = {}
    try:
        for url in dbs.values():
            provision_homes(url, admin, sim.homes, passwords)

        for k in counts:
            for i in range(k):
                _create_session(
                    host, port, hub_addr.username, hub_addr.password,
                    f"bench-mh{k}-{i}", f"bench-{k}",
                )  # fmt: skip
        t0 = time.perf_counter()
        sink = MqttSink(host=host, port=port, passwords=passwords, max_connections=1000)
        try:
            for m in msgs:
                sink.publish(m)
        finally:
            sink.close()
        print(f"published {n} events in {time.perf_counter() - t0:.1f} s\n")

        broker_url = f"mqtt://{hub_addr.username}:{hub_addr.password}@{host}:{port}"
        rows: list[dict[str, Any]] = []
        rebuild = (0, 0.0)
        for k in counts:
            url = dbs[k]
            procs = []
            for i in range(k):
                conf = {
                    "db_url": url,
                    "broker_url": broker_url,
                    "client_id": f"bench-mh{k}-{i}",
                    "group": f"bench-{k}",
                    "shards": args.shards,
                }
                procs.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--hub-process", json.dumps(conf)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            for p in procs:
                assert p.stdout is not None
                if p.stdout.readline().strip() != "ready":
                    raise SystemExit("a hub process failed to start")
            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            t0 = time.perf_counter()
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            stored_at = rules_at = None
            deadline = t0 + 600
            while rules_at is None:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"{k} hubs: not done in 600 s")
                time.sleep(0.05)
                with sessions() as s:
                    if stored_at is None:
                        if int(s.scalar(select(func.count()).select_from(Event)) or 0) >= n:
                            stored_at = time.perf_counter() - t0
                        continue
                    behind = s.scalar(
                        text(
                            "SELECT count(*) FROM shard_feed f JOIN shard_leases l "
                            "ON l.shard = f.shard WHERE f.tx > l.position"
                        )
                    )
                    if int(behind or 0) == 0:
                        rules_at = time.perf_counter() - t0
            results = []
            for p in procs:
                assert p.stdin is not None
                assert p.stdout is not None
                p.stdin.write("stop\n")
                p.stdin.flush()
                results.append(json.loads(p.stdout.read().strip().splitlines()[-1]))
                p.wait(60)
            with sessions() as s:
                stored = int(s.scalar(select(func.count()).select_from(Event)) or 0)
                distinct = int(s.scalar(select(func.count(func.distinct(Event.id)))) or 0)
            engine.dispose()
            if stored != n or distinct != n:
                raise SystemExit(f"{k} hubs: {stored} rows ({distinct} distinct) for {n} events")
            if k == counts[0]:
                rebuild = _measure_rebuild(sessions, args.shards)
            cpu = sum(r["cpu"] for r in results)
            rows.append(
                {
                    "k": k,
                    "stored_s": stored_at,
                    "rules_s": rules_at,
                    "cpu": cpu,
                    "split": [r["stored"] for r in results],
                }
            )
    finally:
        broker.stop()
        for url in dbs.values():
            drop_pg_database(url)
        shutil.rmtree(work, ignore_errors=True)

    base = n / rows[0]["stored_s"]
    print(
        f"{'hubs':>4} {'events/s stored':>16} {'x vs 1':>7} {'rules done (s)':>15}"
        f" {'hub CPU s/1000 ev':>18}  events per hub"
    )
    for r in rows:
        rate = n / r["stored_s"]
        print(
            f"{r['k']:>4} {rate:>16,.0f} {rate / base:>7.2f} {r['rules_s']:>15.1f}"
            f" {r['cpu'] / n * 1000:>18.3f}  {r['split']}"
        )
    events, seconds = rebuild
    print(
        f"\nhand-over: one hub took all {args.shards} shards over, replaying {events} stored"
        f" events in {seconds:.1f} s ({events / seconds:,.0f} events/s): the rebuild part of"
        " the hand-over bound, per event of a shard's last 14 days."
    )
    cpu_per_event = min(r["cpu"] / n for r in rows)
    per_core = 1 / cpu_per_event
    load1 = os.getloadavg()
    print(
        f"\nN={n}, MQTT 5, QoS 1, shared subscription, PostgreSQL on this machine;"
        f" hub CPU = all hub processes together (MQTT receivers, ingest, feed, rules of the"
        f" shard owners);"
        f" load average after {load1[0]:.2f}."
    )
    print(
        f"Expected on more cores: CPU-wise about 1 / {cpu_per_event * 1e6:.0f} us ="
        f" {per_core:,.0f} events/s per core (a hub uses up to two: its MQTT receiver process"
        f" and its store worker, ADR 0012); k hubs on k free cores ~ k x {per_core:,.0f}/s"
        f" until the broker or PostgreSQL's commit path (one WAL flush per batch per hub)"
        f" saturates. On this {os.cpu_count()}-core"
        f" machine broker, PostgreSQL and the hubs share the cores, so the gain from a second"
        f" hub is bounded by the idle CPU left."
    )


if __name__ == "__main__":
    main()
