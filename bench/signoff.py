"""Sign-off latency under concurrent nurses: async HTTP clients against a real uvicorn server.

Usage: .venv/bin/python bench/signoff.py [--nurses 200] [--seconds 60] [--think-ms 10000]
       [--saturated-seconds 15] [--workers N] [--url postgresql+psycopg://...]

Creates (and drops) a scratch PostgreSQL database, seeds synthetic teams, clients, lists
and nurses in bulk, starts uvicorn with the eTRS router (the hub's own session
dependency, bearer-token authentication and audit chain: the request path of a tablet),
and lets every nurse open her round (GET /moments) and then sign off her share of the
due moments (POST /sign-off) in two timed phases:

1. realistic (`--seconds`, default 60): each nurse pauses `--think-ms` (default 10 s,
   ±50 %) between two sign-offs: ~20 sign-offs/s for 200 nurses, more than a region's
   morning round where a nurse signs a dose every minute or so. Issue 5's target is
   p99 < 100 ms here.
2. saturated (`--saturated-seconds`, default 15, 0 skips it): a closed loop where every
   nurse fires her next sign-off the moment the last one returns, so 200 requests are
   always in flight and latency is queueing (200 / throughput): a capacity figure.

Progress goes to stderr every few seconds; each phase's figures are printed as soon as
it ends: latency p50/p95/p99, throughput, SQL statements per sign-off (counted by the
server), and CPU per sign-off of the server processes, of the PostgreSQL backends that
served them and of this client. On a shared machine, the CPU figures are the stable ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import hashlib
import multiprocessing
import os
import random
import secrets
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import event, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from etrs.drafts import ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule  # noqa: E402
from etrs.lists import store_list_versions  # noqa: E402
from etrs.models import ListAcknowledgement, ListVersion  # noqa: E402
from etrs.schedule import AMSTERDAM  # noqa: E402
from hub import audit  # noqa: E402
from hub.auth.models import ApiToken, Pharmacy, PharmacyClient, TeamMember, User  # noqa: E402
from hub.auth.service import hash_password  # noqa: E402
from hub.store.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402
from hub.store.models import Client, Team  # noqa: E402

CLIENTS_PER_NURSE = 4  # a team of 10 nurses shares 40 clients
NURSES_PER_TEAM = 10
PROGRESS_EVERY_S = 5.0
STATEMENTS_HEADER = "x-bench-statements"
WORKER_HEADER = "x-bench-worker"

# --- seeding -------------------------------------------------------------------------------


def _bsn(n: int) -> str:
    while True:
        body = f"{n % 10**8:08d}"
        total = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True))
        if total % 11 < 10 and total >= 11:
            return body + str(total % 11)
        n += 1


def seed(url: str, nurses: int) -> list[str]:
    """Teams, clients with an 8-times-a-day list, nurses who acknowledged it; their tokens.

    Bulk inserts (one password hash for all nurses), the lists through the hub's bulk
    list store, so seeding 200 nurses and 800 clients takes seconds.
    """
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    received = now - timedelta(days=2)
    # Eight moments in the last two hours (local), so the bench finds due moments at any
    # hour; a time that falls on the previous day is simply not due today.
    local_now = now.astimezone(AMSTERDAM)
    hours = sorted(
        {(local_now - timedelta(minutes=15 * k + 1)).strftime("%H:%M") for k in range(8)}
    )
    n_teams = (nurses + NURSES_PER_TEAM - 1) // NURSES_PER_TEAM
    per_team = CLIENTS_PER_NURSE * NURSES_PER_TEAM
    clients = [
        {
            "id": f"c{t}-{c}",
            "display_name": f"Client {t}-{c}",
            "bsn": _bsn(t * 1000 + c * 7 + 11),
            "home_id": None,
            "team_id": f"t{t}",
            "created_at": now,
        }
        for t in range(n_teams)
        for c in range(per_team)
    ]
    pw = hash_password("bench-password")
    tokens = ["chb_" + secrets.token_urlsafe(32) for _ in range(nurses)]
    with unit_of_work(factory) as s:
        s.execute(
            insert(Pharmacy), [{"id": "bench-ph", "name": "Bench Apotheek", "created_at": now}]
        )
        s.execute(
            insert(Team),
            [
                {"id": f"t{t}", "name": f"Team {t}", "kind": "day", "created_at": now}
                for t in range(n_teams)
            ],
        )
        s.execute(insert(Client), clients)
        s.execute(
            insert(PharmacyClient),
            [{"pharmacy_id": "bench-ph", "client_id": c["id"]} for c in clients],
        )
        s.execute(
            insert(User),
            [
                {
                    "id": f"n{n}",
                    "username": f"nurse{n}",
                    "display_name": f"Nurse {n}",
                    "password_hash": pw,
                    "role": "nurse",
                    "qualification_level": 2,
                    "pharmacy_id": None,
                    "active": True,
                    "created_at": now,
                }
                for n in range(nurses)
            ],
        )
        s.execute(
            insert(TeamMember),
            [{"user_id": f"n{n}", "team_id": f"t{n // NURSES_PER_TEAM}"} for n in range(nurses)],
        )
        s.execute(
            insert(ApiToken),
            [
                {
                    "id": uuid.uuid4().hex,
                    "user_id": f"n{n}",
                    # as hub.auth.service stores it: only the SHA-256 of the token
                    "token_hash": hashlib.sha256(tok.encode()).hexdigest(),
                    "name": "bench",
                    "created_at": now,
                    "expires_at": None,
                    "revoked_at": None,
                }
                for n, tok in enumerate(tokens)
            ],
        )
        drafts = [
            ClientListDraft(
                bsn=str(c["bsn"]),
                items=[
                    ItemDraft(
                        source_id=f"i{k}",
                        medication_name=f"Middel {k}",
                        codes=ProductCodes(gpk=f"{1000 + k}"),
                        dose=Dose(value=Decimal(1), unit="stuk"),
                        in_gds=True,
                        schedule=Schedule(times_of_day=hours),
                    )
                    for k in range(3)
                ],
            )
            for c in clients
        ]
        store_list_versions(
            s, pharmacy_id="bench-ph", drafts=drafts, actor="bench", source="bench", now=received
        )
        versions = dict(s.execute(select(ListVersion.client_id, ListVersion.id)).all())
        acks = [
            {
                "id": uuid.uuid4().hex,
                "client_id": c["id"],
                "version_id": versions[str(c["id"])],
                "user_id": f"n{n}",
                "acknowledged_at": received,
                "source": "bench",
            }
            for c in clients
            for n in range(
                int(str(c["team_id"])[1:]) * NURSES_PER_TEAM,
                min(nurses, (int(str(c["team_id"])[1:]) + 1) * NURSES_PER_TEAM),
            )
        ]
        s.execute(insert(ListAcknowledgement), acks)
        audit.record_many(
            s,
            [
                {
                    "actor": a["user_id"],
                    "action": "etrs.list.acknowledged",
                    "object_type": "etrs_list_version",
                    "object_id": a["version_id"],
                    "client_id": a["client_id"],
                    "source": "bench",
                    "detail": {"version_no": 1},
                }
                for a in acks
            ],
            at=received,
        )
    engine.dispose()
    return tokens


# --- server --------------------------------------------------------------------------------

_STATEMENTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "bench_statements", default=None
)


def _count_statements(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        counter = _STATEMENTS.get()
        if counter is not None:
            counter[0] += 1


class _StatementHeader:
    """ASGI middleware: the number of SQL statements a request ran, as a response header.

    The counter lives in a context variable, which FastAPI copies into the worker threads
    that run the dependencies and the endpoint; the session dependency's commit runs
    before the response starts, so it is counted too.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        token = _STATEMENTS.set(counter)

        async def send_counted(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((STATEMENTS_HEADER.encode(), str(counter[0]).encode()))
                headers.append((WORKER_HEADER.encode(), str(os.getpid()).encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            _STATEMENTS.reset(token)


def create_app() -> Any:
    """The API with the eTRS router (uvicorn factory; the URL comes from the environment)."""
    from fastapi import FastAPI

    from etrs.routes import router

    app = FastAPI()
    app.include_router(router)
    # 20 connections per worker process (two CPUs cannot use more); the hub's session
    # dependency lets at most that many requests hold a session, the rest queue for one
    # on the event loop without taking a thread (hub.auth.deps.get_session).
    engine = make_engine(os.environ["CAREHUB_BENCH_DB"], pool_size=20, max_overflow=0)
    _count_statements(engine)
    app.state.sessionmaker = make_sessionmaker(engine)
    return _StatementHeader(app)


def serve(url: str, port: int, workers: int) -> None:
    """Run the API on 127.0.0.1:port with `workers` processes."""
    import uvicorn

    os.environ["CAREHUB_BENCH_DB"] = url
    uvicorn.run(
        "signoff:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        # nurses pause between sign-offs: keep their connections open meanwhile
        timeout_keep_alive=300,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- CPU accounting (Linux /proc) ----------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces
    return raw[raw.rindex(")") + 2 :].split()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when gone or not readable)."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK if fields else 0.0


def _tree(root: int) -> list[int]:
    """The process and all its descendants."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields:
                parent[int(entry.name)] = int(fields[1])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return out


@dataclass
class CpuProbe:
    """CPU seconds of the server processes, the database's backends and this client."""

    server_root: int
    db_admin: Engine
    database: str
    marks: dict[str, dict[int, float]] = field(default_factory=dict)

    def _backends(self) -> list[int]:
        with self.db_admin.connect() as conn:
            return [
                int(p)
                for p in conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :db"),
                    {"db": self.database},
                ).scalars()
            ]

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "server": {p: _cpu_s(p) for p in _tree(self.server_root)},
            "database": {p: _cpu_s(p) for p in self._backends()},
            "client": {0: time.process_time()},
        }

    @staticmethod
    def delta(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        # processes that started during the phase count from zero
        return {k: sum(v - before[k].get(p, 0.0) for p, v in after[k].items()) for k in after}


# --- load ----------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one timed phase measured."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    workers: Counter[str] = field(default_factory=Counter)  # sign-offs per server process
    refused: int = 0  # 409: the moment was already signed (should not happen: shares are disjoint)
    errors: list[str] = field(default_factory=list)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def open_round(
    client: httpx.AsyncClient, token: str, share: tuple[int, int], reads: list[float]
) -> list[dict[str, Any]]:
    """A nurse opens today's round; she takes her share of the team's due moments.

    Nurses of a team split the due moments (every 10th), so they do not race for the
    same moment; a 409 would be a refusal, not a sign-off.
    """
    t0 = time.perf_counter()
    r = await client.get("/api/v1/etrs/moments", headers={"Authorization": f"Bearer {token}"})
    reads.append(time.perf_counter() - t0)
    r.raise_for_status()
    now = datetime.now(UTC)
    due = [
        m
        for m in r.json()
        if m["status"] in ("open", "overdue") and datetime.fromisoformat(m["planned_at"]) <= now
    ]
    due.sort(key=lambda m: m["key"])
    k, of = share
    return due[k::of]


async def nurse(
    client: httpx.AsyncClient,
    token: str,
    due: list[dict[str, Any]],
    think_s: float,
    deadline: float,
    phase: Phase,
) -> None:
    """Sign off due moments until the deadline, with `think_s` (±50 %) between two."""
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(token)
    while due:
        if think_s > 0:
            pause = think_s * rng.uniform(0.5, 1.5)
            if time.perf_counter() + pause >= deadline:
                return
            await asyncio.sleep(pause)
        elif time.perf_counter() >= deadline:
            return
        m = due.pop(0)
        t0 = time.perf_counter()
        try:
            resp = await client.post(
                "/api/v1/etrs/sign-off",
                headers=headers,
                json={"client_id": m["client_id"], "moment_key": m["key"], "outcome": "given"},
            )
        except httpx.TransportError as exc:
            phase.errors.append(f"transport: {exc!r}")
            continue
        elapsed = time.perf_counter() - t0
        if resp.status_code == 201:
            phase.latencies.append(elapsed)
            phase.statements.append(int(resp.headers.get(STATEMENTS_HEADER, "0")))
            phase.workers[resp.headers.get(WORKER_HEADER, "?")] += 1
        elif resp.status_code == 409:
            phase.refused += 1
        else:
            phase.errors.append(f"{resp.status_code} {resp.text[:200]}")


async def progress(phase: Phase, started: float, seconds: float) -> None:
    """A line on stderr every few seconds while a phase runs."""
    seen = 0
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        recent = phase.latencies[seen:]
        seen = len(phase.latencies)
        tail = (
            f"last {PROGRESS_EVERY_S:.0f} s: {len(recent)} sign-offs, p50 "
            f"{_pct(recent, 0.5):.0f} ms, p99 {_pct(recent, 0.99):.0f} ms"
            if recent
            else "no sign-offs in the last interval"
        )
        print(
            f"  [{phase.name}] {time.perf_counter() - started:4.0f}/{seconds:.0f} s: "
            f"{len(phase.latencies)} sign-offs, {len(phase.errors)} errors; {tail}",
            file=sys.stderr,
            flush=True,
        )


def report(phase: Phase, wall: float, nurses: int, cpu: dict[str, float]) -> None:
    """The phase's figures, printed (and flushed) as soon as it ends."""
    n = len(phase.latencies)
    print(f"--- {phase.name}")
    print(
        f"sign-offs: {n} by {nurses} concurrent nurses in {wall:.1f} s ({n / wall:.1f}/s); "
        f"refused (409): {phase.refused}; errors: {len(phase.errors)}"
    )
    if phase.errors:
        print("first error:", phase.errors[0])
    if n:
        print(
            f"latency ms: p50 {_pct(phase.latencies, 0.50):.1f}  "
            f"p95 {_pct(phase.latencies, 0.95):.1f}  p99 {_pct(phase.latencies, 0.99):.1f}  "
            f"max {max(phase.latencies) * 1000:.1f}"
        )
        print(
            f"per sign-off: {sum(phase.statements) / n:.1f} SQL statements (server count); "
            f"CPU ms: server {cpu['server'] / n * 1000:.1f}, PostgreSQL backends "
            f"{cpu['database'] / n * 1000:.1f}, client {cpu['client'] / n * 1000:.1f}"
        )
        shares = sorted(phase.workers.values(), reverse=True)
        print(f"sign-offs per server worker process: {', '.join(map(str, shares))}")
    print(f"local time {datetime.now(AMSTERDAM):%H:%M}; target p99 < 100 ms (realistic phase)")
    sys.stdout.flush()


async def run_phase(
    clients: list[httpx.AsyncClient],
    name: str,
    tokens: list[str],
    rounds: list[list[dict[str, Any]]],
    think_s: float,
    seconds: float,
    probe: CpuProbe,
) -> None:
    phase = Phase(name)
    before = await asyncio.to_thread(probe.sample)
    started = time.perf_counter()
    ticker = asyncio.create_task(progress(phase, started, seconds))
    try:
        await asyncio.gather(
            *(
                nurse(client, tok, due, think_s, started + seconds, phase)
                for client, tok, due in zip(clients, tokens, rounds, strict=True)
            )
        )
    finally:
        ticker.cancel()
    wall = time.perf_counter() - started
    after = await asyncio.to_thread(probe.sample)
    report(phase, wall, len(tokens), CpuProbe.delta(before, after))


async def run(base: str, tokens: list[str], args: argparse.Namespace, probe: CpuProbe) -> None:
    # One client (one kept-alive connection) per nurse, as each tablet has its own: the
    # connections then spread over the server's worker processes as tablets' would.
    # (One shared client pool reuses a few connections, which one worker may accept all.)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base, limits=limits, timeout=120)
            )
            for _ in tokens
        ]
        # Opening the rounds is set-up, not timed as sign-off: 20 at a time.
        gate = asyncio.Semaphore(20)
        reads: list[float] = []
        t0 = time.perf_counter()

        async def load(n: int, token: str) -> list[dict[str, Any]]:
            async with gate:
                due = await open_round(
                    clients[n], token, (n % NURSES_PER_TEAM, NURSES_PER_TEAM), reads
                )
            if len(reads) % 50 == 0:
                print(f"  rounds opened: {len(reads)}/{len(tokens)}", file=sys.stderr, flush=True)
            return due

        rounds = list(await asyncio.gather(*(load(n, t) for n, t in enumerate(tokens))))
        print(
            f"GET /moments ({CLIENTS_PER_NURSE * NURSES_PER_TEAM} clients, 20 at a time): "
            f"p50 {_pct(reads, 0.50):.0f} ms, p99 {_pct(reads, 0.99):.0f} ms; "
            f"{sum(map(len, rounds))} due moments shared out in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        await run_phase(
            clients,
            f"realistic: {args.seconds:.0f} s, {args.think_ms:.0f} ms (±50 %) between a "
            "nurse's sign-offs",
            tokens,
            rounds,
            args.think_ms / 1000,
            args.seconds,
            probe,
        )
        if args.saturated_seconds > 0:
            await run_phase(
                clients,
                f"saturated closed loop: {args.saturated_seconds:.0f} s, no pause",
                tokens,
                rounds,
                0.0,
                args.saturated_seconds,
                probe,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--nurses", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="realistic phase length")
    parser.add_argument(
        "--think-ms", type=float, default=10000.0, help="pause between a nurse's sign-offs"
    )
    parser.add_argument(
        "--saturated-seconds", type=float, default=15.0, help="closed-loop phase (0: skip)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/"
        f"carehub_bench_signoff_{uuid.uuid4().hex[:6]}",
    )
    args = parser.parse_args()
    t_start = time.perf_counter()
    url = make_url(args.url)
    admin = make_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    try:
        upgrade(args.url)
        t0 = time.perf_counter()
        tokens = seed(args.url, args.nurses)
        print(
            f"seeded {args.nurses} nurses, {args.nurses * CLIENTS_PER_NURSE} clients "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        port = _free_port()
        proc = multiprocessing.get_context("spawn").Process(
            target=serve, args=(args.url, port, args.workers)
        )
        proc.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(base + "/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(
            f"server: uvicorn with {args.workers} worker process(es) and PostgreSQL on a "
            f"{os.cpu_count()}-CPU machine (client, server and database share it)",
            flush=True,
        )
        assert proc.pid is not None
        probe = CpuProbe(proc.pid, admin, str(url.database))
        try:
            asyncio.run(run(base, tokens, args, probe))
        finally:
            proc.terminate()
            proc.join()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()
    print(f"total run {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
