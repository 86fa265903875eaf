"""Shared fixtures: real databases (SQLite and PostgreSQL) and a real Mosquitto per test run."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from hub.broker.dynsec import BrokerAddress
from hub.broker.embedded import BrokerSecrets, EmbeddedBroker, free_port
from hub.store.db import make_engine, make_sessionmaker
from hub.store.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "CAREHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_available(url: str) -> bool:
    """True when the PostgreSQL server at `url` answers."""
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (trust auth, free port) that tests may stop and start."""

    def __init__(self) -> None:
        initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not initdbs:
            raise FileNotFoundError("PostgreSQL server binaries are not installed")
        self.bindir = Path(initdbs[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="carehub-pg-"))
        self.as_pg: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.as_pg = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = self.root / "data"
        subprocess.run(
            [
                *self.as_pg,
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
        )
        self.start()
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.root / "pg.log"), "-w", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "-w", "stop")


def start_private_postgres() -> str | None:
    """Start a private cluster when PostgreSQL is installed; None when it is not."""
    try:
        return PrivatePostgres().url
    except FileNotFoundError:
        return None


def _find_postgres() -> bool:
    global PG_ADMIN_URL
    if postgres_available(PG_ADMIN_URL):
        return True
    try:
        url = start_private_postgres()
    except (OSError, subprocess.CalledProcessError, KeyError):
        return False
    if url and postgres_available(url):
        PG_ADMIN_URL = url
        return True
    return False


_PG = _find_postgres()


def _skip_or_fail_pg() -> None:
    if os.environ.get("CAREHUB_REQUIRE_POSTGRES") == "1":
        pytest.fail("PostgreSQL is required (CAREHUB_REQUIRE_POSTGRES=1) but does not answer")
    pytest.skip("no PostgreSQL on 127.0.0.1:5432")


def create_pg_database() -> str:
    """Create an empty scratch database; return its URL."""
    name = f"carehub_t_{uuid.uuid4().hex[:10]}"
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop a scratch database (disconnecting stragglers)."""
    name = url.rsplit("/", 1)[1]
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite file and PostgreSQL scratch database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'carehub.db'}"
        upgrade(url)
        yield url
        return
    if not _PG:
        _skip_or_fail_pg()
    url = create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Session factory on the migrated database."""
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


class RunningBroker:
    """A real Mosquitto started from the project's config on a free port."""

    def __init__(self, broker: EmbeddedBroker, sec: BrokerSecrets) -> None:
        self.broker = broker
        self.secrets = sec
        self.port = broker.port
        self.admin = broker.admin_address(sec)
        self.hub = broker.hub_address(sec)

    def device_address(self, device_id: str, password: str) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port, device_id, password)

    def restart(self) -> None:
        self.broker.stop()
        self.secrets = self.broker.start()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """One real Mosquitto per test run (dynamic security, persistence), on a free port."""
    state = tmp_path_factory.mktemp("mosquitto")
    b = EmbeddedBroker(state, port=free_port())
    sec = b.start()
    yield RunningBroker(b, sec)
    b.stop()
