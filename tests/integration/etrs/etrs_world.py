"""eTRS test world: migrated databases (SQLite and PostgreSQL), synthetic teams, clients, users."""

from __future__ import annotations

import os
import socket
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from etrs.drafts import ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule
from etrs.lists import acknowledge_changes, store_list_version
from hub.auth.models import Pharmacy, PharmacyClient, TeamMember, User
from hub.auth.service import hash_password
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.models import Client, Device, Home, Team

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery staple"


def _pg_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def etrs_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database migrated to the latest revision, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('etrs') / 'etrs.db'}"
        upgrade(url)
        engine = make_engine(url, sqlite_synchronous="NORMAL")
        yield engine
        engine.dispose()
        return
    if not _pg_answers():
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    name = f"carehub_test_etrs_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def session(etrs_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    conn = etrs_engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        trans.rollback()
        conn.close()


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash shared by the test users (hashing is deliberately slow)."""
    return hash_password(PASSWORD)


def make_bsn(seed: int) -> str:
    """A synthetic nine-digit number that passes the elfproef (not a real person's)."""
    n = seed
    while True:
        body = f"{n % 10**8:08d}"
        total = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10 and total >= 11:
            return body + str(check)
        n += 1


T0 = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)


@dataclass
class World:
    """A small synthetic region: two teams, clients, a pharmacy and carers."""

    session: Session
    team: Team
    other_team: Team
    client: Client
    other_client: Client
    pharmacy: Pharmacy
    other_pharmacy: Pharmacy
    anna: User  # nurse, qualified checker
    bram: User  # nurse, qualified checker
    cees: User  # nurse, may administer, not a checker
    dirk: User  # nurse in the other team
    pia: User  # pharmacist of the pharmacy
    home: Home
    dispenser: Device

    def store(
        self, items: list[ItemDraft], *, at: datetime = T0, client: Client | None = None
    ) -> Any:
        c = client or self.client
        assert c.bsn is not None
        return store_list_version(
            self.session,
            pharmacy_id=self.pharmacy.id,
            draft=ClientListDraft(bsn=c.bsn, items=items),
            actor=f"pharmacy:{self.pharmacy.id}",
            source="fhir",
            now=at,
        )

    def ack(
        self, user: User, version_id: str, *, at: datetime = T0, client: Client | None = None
    ) -> None:
        acknowledge_changes(
            self.session,
            user=user,
            client_id=(client or self.client).id,
            version_id=version_id,
            source="test",
            now=at,
        )


def item(
    source_id: str,
    name: str,
    *,
    times: tuple[str, ...] = ("08:00",),
    dose: str = "1",
    unit: str = "stuk",
    gpk: str | None = None,
    atc: str | None = None,
    in_gds: bool = True,
    route: str = "oraal",
    **kw: Any,
) -> ItemDraft:
    """A list item draft with sensible synthetic defaults."""
    return ItemDraft(
        source_id=source_id,
        medication_name=name,
        codes=ProductCodes(gpk=gpk or f"9{zlib.crc32(name.encode()) % 10**6:06d}", atc=atc),
        dose=Dose(value=Decimal(dose), unit=unit),
        route=route,
        schedule=Schedule(times_of_day=list(times)),
        in_gds=in_gds,
        **kw,
    )


@pytest.fixture
def world(session: Session, password_hash: str) -> World:
    """Teams, clients, a pharmacy, users and a dispenser, all synthetic."""
    tag = uuid.uuid4().hex[:8]
    team = Team(id=f"team-{tag}", name="Wijkteam Noord", kind="day", created_at=T0)
    other = Team(id=f"team2-{tag}", name="Wijkteam Zuid", kind="day", created_at=T0)
    home = Home(id=f"home-{tag}", name="Huis 1", team_id=team.id, created_at=T0)
    session.add_all([team, other])
    session.flush()
    session.add(home)
    session.flush()
    seed = int(tag, 16) % 10**7 * 7
    client = Client(
        id=f"cl-{tag}",
        display_name="Mevr. T. Testpersoon",
        bsn=make_bsn(seed),
        home_id=home.id,
        team_id=team.id,
        created_at=T0,
    )
    other_client = Client(
        id=f"cl2-{tag}",
        display_name="Dhr. Q. Voorbeeld",
        bsn=make_bsn(seed + 50_000),
        team_id=other.id,
        created_at=T0,
    )
    pharmacy = Pharmacy(id=f"ph-{tag}", name="Apotheek De Vijzel", created_at=T0)
    other_pharmacy = Pharmacy(id=f"ph2-{tag}", name="Apotheek Elders", created_at=T0)
    session.add_all([client, other_client, pharmacy, other_pharmacy])
    session.flush()
    session.add_all(
        [
            PharmacyClient(pharmacy_id=pharmacy.id, client_id=client.id),
            PharmacyClient(pharmacy_id=other_pharmacy.id, client_id=other_client.id),
        ]
    )

    def user(
        name: str, role: str, level: int, teams: list[str], pharmacy_id: str | None = None
    ) -> User:
        u = User(
            id=f"{name}-{tag}",
            username=f"{name}-{tag}",
            display_name=name.title(),
            password_hash=password_hash,
            role=role,
            qualification_level=level,
            pharmacy_id=pharmacy_id,
            active=True,
            created_at=T0,
        )
        session.add(u)
        session.flush()
        for t in teams:
            session.add(TeamMember(user_id=u.id, team_id=t))
        return u

    anna = user("anna", "nurse", 2, [team.id])
    bram = user("bram", "nurse", 2, [team.id])
    cees = user("cees", "nurse", 1, [team.id])
    dirk = user("dirk", "nurse", 2, [other.id])
    pia = user("pia", "pharmacist", 0, [], pharmacy.id)
    dispenser = Device(
        id=f"disp-{tag}",
        kind="dispenser",
        home_id=home.id,
        label="",
        status="online",
        password_hash="x",
        created_at=T0,
    )
    session.add(dispenser)
    session.flush()
    return World(
        session,
        team,
        other,
        client,
        other_client,
        pharmacy,
        other_pharmacy,
        anna,
        bram,
        cees,
        dirk,
        pia,
        home,
        dispenser,
    )
