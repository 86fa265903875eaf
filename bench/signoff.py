"""Sign-off latency under concurrent nurses: async HTTP clients against a real uvicorn server.

Usage: .venv/bin/python bench/signoff.py [--nurses 200] [--per-nurse 25] [--workers N]
       [--think-ms 2000,0] [--url postgresql+psycopg://postgres@127.0.0.1:5432/x]
Creates (and drops) the scratch PostgreSQL database, seeds synthetic teams, clients,
lists and nurses, starts the API with the eTRS router (the hub's own session dependency
and audit chain), then runs one timed phase per think time: all nurses at once, each
signing off `--per-nurse` of her clients' due moments with that pause (±50 %) between
two sign-offs. The default runs a realistic pace first (10 s between a nurse's
sign-offs, ~20 sign-offs/s for 200 nurses: more than a region's morning round, where a
nurse signs a dose every minute or so) and then a saturated closed loop (0 ms: every
nurse fires her next sign-off the moment the last one returns, so 200 requests are
always in flight and latency is queueing: 200 / throughput). Prints p50/p95/p99 in
milliseconds per phase; the target (issue 5) is p99 < 100 ms at the realistic pace.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import socket
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from etrs.drafts import ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule  # noqa: E402
from etrs.lists import acknowledge_changes, store_list_version  # noqa: E402
from etrs.schedule import AMSTERDAM  # noqa: E402
from hub.auth.models import Pharmacy, PharmacyClient, TeamMember, User  # noqa: E402
from hub.auth.service import hash_password, issue_token  # noqa: E402
from hub.store.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402
from hub.store.models import Client, Team  # noqa: E402

CLIENTS_PER_NURSE = 4  # a team of 10 nurses shares 40 clients
NURSES_PER_TEAM = 10


def _bsn(n: int) -> str:
    while True:
        body = f"{n % 10**8:08d}"
        total = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True))
        if total % 11 < 10 and total >= 11:
            return body + str(total % 11)
        n += 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, nurses: int) -> list[str]:
    """Teams, clients with a 24-times-a-day list, nurses who acknowledged it; their tokens."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    pw = hash_password("bench-password")
    tokens: list[str] = []
    # Eight moments in the last two hours (local), so the bench finds due moments at any
    # hour; a time that falls on the previous day is simply not due today.
    local_now = now.astimezone(AMSTERDAM)
    hours = sorted(
        {(local_now - timedelta(minutes=15 * k + 1)).strftime("%H:%M") for k in range(8)}
    )
    with unit_of_work(factory) as s:
        s.add(Pharmacy(id="bench-ph", name="Bench Apotheek", created_at=now))
        s.flush()
        n_teams = (nurses + NURSES_PER_TEAM - 1) // NURSES_PER_TEAM
        s.add_all(
            Team(id=f"t{t}", name=f"Team {t}", kind="day", created_at=now) for t in range(n_teams)
        )
        s.flush()
        clients_per_team = CLIENTS_PER_NURSE * NURSES_PER_TEAM
        for t in range(n_teams):
            for c in range(clients_per_team):
                cid = f"c{t}-{c}"
                s.add(
                    Client(
                        id=cid,
                        display_name=f"Client {t}-{c}",
                        bsn=_bsn(t * 1000 + c * 7 + 11),
                        team_id=f"t{t}",
                        created_at=now,
                    )
                )
        s.flush()
        for t in range(n_teams):
            for c in range(clients_per_team):
                s.add(PharmacyClient(pharmacy_id="bench-ph", client_id=f"c{t}-{c}"))
        s.flush()
        users = []
        for n in range(nurses):
            u = User(
                id=f"n{n}",
                username=f"nurse{n}",
                display_name=f"Nurse {n}",
                password_hash=pw,
                role="nurse",
                qualification_level=2,
                active=True,
                created_at=now,
            )
            users.append(u)
        s.add_all(users)
        s.flush()
        for n in range(nurses):
            s.add(TeamMember(user_id=f"n{n}", team_id=f"t{n // NURSES_PER_TEAM}"))
        s.flush()
        received = now - timedelta(days=2)
        for t in range(n_teams):
            for c in range(clients_per_team):
                client = s.get(Client, f"c{t}-{c}")
                assert client is not None
                assert client.bsn is not None
                draft = ClientListDraft(
                    bsn=client.bsn,
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
                stored = store_list_version(
                    s,
                    pharmacy_id="bench-ph",
                    draft=draft,
                    actor="bench",
                    source="bench",
                    now=received,
                )
                for n in range(t * NURSES_PER_TEAM, min(nurses, (t + 1) * NURSES_PER_TEAM)):
                    acknowledge_changes(
                        s,
                        user=users[n],
                        client_id=client.id,
                        version_id=stored.version.id,
                        source="bench",
                        now=received,
                    )
        for n in range(nurses):
            tokens.append(issue_token(s, user_id=f"n{n}", name="bench"))
    engine.dispose()
    return tokens


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
    app.state.sessionmaker = make_sessionmaker(engine)
    return app


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


async def load_moments(client: httpx.AsyncClient, token: str, reads: list[float]) -> list[Any]:
    """A nurse opens today's round: the due, unsigned moments of her teams' clients."""
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
    # Nurses of one team share clients: each starts at a different place.
    offset = (sum(map(ord, token)) * 7919) % max(1, len(due))
    return due[offset:] + due[:offset]


async def nurse(
    client: httpx.AsyncClient,
    token: str,
    due: list[Any],
    per_nurse: int,
    think_s: float,
    out: list[float],
    errors: list[str],
) -> None:
    """One nurse signs off her due moments, with `think_s` (±50 %) between sign-offs."""
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(token)
    done = 0
    for m in due:
        if done >= per_nurse:
            break
        if think_s > 0:
            await asyncio.sleep(think_s * rng.uniform(0.5, 1.5))
        t0 = time.perf_counter()
        try:
            resp = await client.post(
                "/api/v1/etrs/sign-off",
                headers=headers,
                json={"client_id": m["client_id"], "moment_key": m["key"], "outcome": "given"},
            )
        except httpx.TransportError as exc:
            errors.append(f"transport: {exc!r}")
            continue
        elapsed = time.perf_counter() - t0
        if resp.status_code == 201:
            out.append(elapsed)
            done += 1
        elif resp.status_code != 409:  # 409: a team-mate signed this moment first
            errors.append(f"{resp.status_code} {resp.text[:200]}")


async def run(
    base: str, tokens: list[str], per_nurse: int, think_s: float
) -> tuple[list[float], list[float], list[str], float]:
    """Every nurse loads her round (not timed), then all sign off concurrently (timed)."""
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    out: list[float] = []
    reads: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        gate = asyncio.Semaphore(20)  # phase 1 is set-up: do not swamp the server with it

        async def load(token: str) -> list[Any]:
            async with gate:
                return await load_moments(client, token, reads)

        rounds = await asyncio.gather(*(load(t) for t in tokens))
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                nurse(client, t, due, per_nurse, think_s, out, errors)
                for t, due in zip(tokens, rounds, strict=True)
            )
        )
        wall = time.perf_counter() - t0
    return out, reads, errors, wall


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _report(
    think_ms: float,
    nurses: int,
    out: list[float],
    reads: list[float],
    errors: list[str],
    wall: float,
) -> None:
    pace = "saturated closed loop" if think_ms == 0 else f"{think_ms:.0f} ms (±50 %)"
    print(f"--- think time between one nurse's sign-offs: {pace}")
    print(
        f"sign-offs: {len(out)} by {nurses} concurrent nurses in {wall:.1f} s "
        f"({len(out) / wall:.0f}/s); errors: {len(errors)}"
    )
    if errors:
        print("first error:", errors[0])
    print(
        f"GET /moments ({CLIENTS_PER_NURSE * NURSES_PER_TEAM} clients, 20 at a time) ms: "
        f"p50 {_pct(reads, 0.50):.0f}  p99 {_pct(reads, 0.99):.0f}"
    )
    if out:
        print(
            f"latency ms: p50 {_pct(out, 0.50):.1f}  p95 {_pct(out, 0.95):.1f}  "
            f"p99 {_pct(out, 0.99):.1f}  max {max(out) * 1000:.1f}  "
            f"mean {statistics.mean(out) * 1000:.1f}"
        )
        print(f"local time {datetime.now(AMSTERDAM):%H:%M}; target p99 < 100 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--nurses", type=int, default=200)
    parser.add_argument("--per-nurse", type=int, default=25)
    parser.add_argument(
        "--think-ms",
        default="10000,0",
        help="pause between a nurse's sign-offs, one timed phase per comma-separated value "
        "(0: saturated closed loop)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/"
        f"carehub_bench_signoff_{uuid.uuid4().hex[:6]}",
    )
    args = parser.parse_args()
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
            f"in {time.perf_counter() - t0:.1f} s"
        )
        port = _free_port()
        proc = multiprocessing.get_context("spawn").Process(
            target=serve, args=(args.url, port, args.workers)
        )
        proc.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(
            f"server: uvicorn with {args.workers} worker process(es) and PostgreSQL on a "
            f"{os.cpu_count()}-CPU machine (client, server and database share it)"
        )
        try:
            for think in (float(x) for x in str(args.think_ms).split(",")):
                out, reads, errors, wall = asyncio.run(
                    run(base, tokens, args.per_nurse, think / 1000)
                )
                _report(think, args.nurses, out, reads, errors, wall)
        finally:
            proc.terminate()
            proc.join()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
