"""Robots/family test world: migrated databases (SQLite, PostgreSQL) and a synthetic region."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from hub.auth.models import TeamMember, User
from hub.auth.service import issue_token
from hub.family.models import FamilyLink
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.models import Client, Device, Home, Team
from tests import conftest as root

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _real_savepoints(engine: Engine) -> None:
    # pysqlite defers BEGIN to the first write, so a route's commit() inside the test's
    # SAVEPOINT would really commit; emit BEGIN ourselves (SQLAlchemy's pysqlite recipe).
    @event.listens_for(engine, "connect")
    def _no_implicit_tx(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def robots_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database migrated to all heads, once per backend per run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('robots') / 'robots.db'}"
        upgrade(url)
        engine = make_engine(url, sqlite_synchronous="NORMAL")
        _real_savepoints(engine)
        yield engine
        engine.dispose()
        return
    if not root._PG:
        root._skip_or_fail_pg()
    url = root.create_pg_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        root.drop_pg_database(url)


@pytest.fixture
def rsession(robots_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test (commits are savepoints)."""
    conn = robots_engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        trans.rollback()
        conn.close()


@dataclass
class RWorld:
    """Two teams, two clients in their homes, a robot, carers and family members."""

    session: Session
    tag: str
    client: Client
    other_client: Client
    home: Home
    robot: Device
    anna: User  # nurse of the client's team
    dirk: User  # nurse of the other team
    fleur: User  # daughter: overview + robot messages + notifications
    gijs: User  # son: overview only
    henk: User  # family of nobody
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user: User) -> dict[str, str]:
        if user.id not in self.tokens:
            self.tokens[user.id] = issue_token(self.session, user_id=user.id)
        return {"Authorization": f"Bearer {self.tokens[user.id]}"}


def build_world(session: Session, *, robot_id: str | None = None) -> RWorld:
    """Add the synthetic region to `session` (flushed, not committed)."""
    tag = uuid.uuid4().hex[:8]
    team = Team(id=f"team-{tag}", name="Wijkteam Oost", kind="day", created_at=T0)
    other = Team(id=f"team2-{tag}", name="Wijkteam West", kind="day", created_at=T0)
    session.add_all([team, other])
    session.flush()
    home = Home(id=f"home-{tag}", name="Huis Riet", team_id=team.id, created_at=T0)
    home2 = Home(id=f"home2-{tag}", name="Huis Kees", team_id=other.id, created_at=T0)
    session.add_all([home, home2])
    session.flush()
    client = Client(
        id=f"cl-{tag}",
        display_name="Mevr. R. Testhuis",
        home_id=home.id,
        team_id=team.id,
        created_at=T0,
    )
    other_client = Client(
        id=f"cl2-{tag}",
        display_name="Dhr. K. Proefstra",
        home_id=home2.id,
        team_id=other.id,
        created_at=T0,
    )
    session.add_all([client, other_client])
    robot = session.get(Device, robot_id) if robot_id else None
    if robot is None:
        robot = Device(
            id=robot_id or f"rob-{tag}",
            kind="robot",
            home_id=home.id,
            label="",
            status="online",
            password_hash="x",
            created_at=T0,
        )
        session.add(robot)
    else:
        robot.home_id = home.id
    session.flush()

    def user(name: str, role: str, teams: list[str]) -> User:
        u = User(
            id=f"{name}-{tag}",
            username=f"{name}-{tag}",
            display_name=name.title(),
            password_hash="not-a-real-hash",
            role=role,
            qualification_level=0,
            active=True,
            created_at=T0,
        )
        session.add(u)
        session.flush()
        for t in teams:
            session.add(TeamMember(user_id=u.id, team_id=t))
        return u

    anna = user("anna", "nurse", [team.id])
    dirk = user("dirk", "nurse", [other.id])
    fleur = user("fleur", "family", [])
    gijs = user("gijs", "family", [])
    henk = user("henk", "family", [])
    session.add_all(
        [
            FamilyLink(
                user_id=fleur.id,
                client_id=client.id,
                relation="dochter",
                day_overview=True,
                robot_messages=True,
                notify=["not_up", "question_unanswered", "robot_offline"],
                granted_by=anna.id,
                created_at=T0,
            ),
            FamilyLink(
                user_id=gijs.id,
                client_id=client.id,
                relation="zoon",
                day_overview=True,
                robot_messages=False,
                notify=[],
                granted_by=anna.id,
                created_at=T0,
            ),
        ]
    )
    session.flush()
    return RWorld(session, tag, client, other_client, home, robot, anna, dirk, fleur, gijs, henk)


@pytest.fixture
def rworld(rsession: Session) -> RWorld:
    """The synthetic region in a rolled-back session."""
    return build_world(rsession)


class FakePublisher:
    """Records publishes; can be told to fail (a Publisher for tests without a broker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self.fail: Exception | None = None

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, payload, retain))
