"""The readable boot sequence: database, broker, ingest — shared by the CLI and the tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.etrs_bridge import check_overdue
from hub.broker.dynsec import BrokerAddress, DynSecClient
from hub.broker.embedded import BrokerError, EmbeddedBroker, wait_for_port
from hub.ingest.service import IngestConfig, IngestService
from hub.ingest.store import BatchHook
from hub.rules.live import RulesHook
from hub.settings import BrokerURL, Settings
from hub.shards.feed import FeedHook
from hub.shards.service import ShardConfig, ShardCoordinator
from hub.store.db import make_engine, make_sessionmaker, unit_of_work
from hub.store.migrate import upgrade

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running hub holds."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    hub_address: BrokerAddress
    admin_address: BrokerAddress | None
    broker: EmbeddedBroker | None = None
    ingest: IngestService | None = None
    hooks: list[BatchHook] = field(default_factory=list)
    rules: RulesHook | None = None
    scheduler: BackgroundScheduler | None = None
    shards: ShardCoordinator | None = None  # several hubs (CAREHUB_SHARDS > 0)

    @contextmanager
    def control(self) -> Iterator[DynSecClient]:
        """A dynamic-security admin connection for provisioning."""
        if self.admin_address is None:
            raise BrokerError(
                "no broker admin account configured: set CAREHUB_BROKER_ADMIN_USERNAME/PASSWORD"
            )
        with DynSecClient(self.admin_address) as ctl:
            yield ctl

    def start_ingest(self) -> IngestService:
        """Start consuming device messages."""
        s = self.settings
        self.ingest = IngestService(
            IngestConfig(
                address=self.hub_address,
                client_id=s.hub_client_id,
                share_group=s.share_group,
                session_expiry_s=s.session_expiry_s,
                batch_max=s.ingest_batch_max,
                batch_wait_ms=s.ingest_batch_wait_ms,
                queue_max=s.ingest_queue_max,
                max_payload_bytes=s.max_payload_bytes,
                receiver=s.ingest_receiver,
            ),
            self.sessions,
            hooks=self.hooks,
        )
        if self.rules is not None:
            rules = self.rules
            with unit_of_work(self.sessions) as session:
                # Rule state from the stored events: a restarted hub forgets nothing.
                n = rules.warm_up(session)
            log.info("rules warmed up from %d stored events", n)

            def tick() -> None:
                with unit_of_work(self.sessions) as session:
                    rules.tick(session)

            # Absence rules also fire on the wall clock in live mode; escalation steps too.
            self.scheduler = BackgroundScheduler(timezone="UTC")
            self.scheduler.add_job(tick, "interval", seconds=30, max_instances=1, coalesce=True)
            self.scheduler.start()
        if self.scheduler is None:
            self.scheduler = BackgroundScheduler(timezone="UTC")
            self.scheduler.start()
        # Overdue eTRS moments and missing checks become alerts, each once (etrs_bridge).
        sessions = self.sessions
        self.scheduler.add_job(
            lambda: check_overdue(sessions), "interval", seconds=60, max_instances=1, coalesce=True
        )
        if self.shards is not None:
            self.shards.start()  # rules of the owned shards, fed from the stored events
        self.ingest.start()
        return self.ingest

    def close(self) -> None:
        """Stop the scheduler and ingest, then the embedded broker, then the database pool."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.shards is not None:
            self.shards.stop()  # hands the owned shards over at once
            self.shards = None
        if self.ingest is not None:
            self.ingest.stop()
            self.ingest = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        self.engine.dispose()


def init_database(
    settings: Settings, *, migrate: bool = True
) -> tuple[Engine, sessionmaker[Session]]:
    """Create the data dir, migrate, and open the engine."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade(settings.db_url)
    engine = make_engine(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    return engine, make_sessionmaker(engine)


def init_broker(
    settings: Settings, *, start_embedded: bool = True
) -> tuple[EmbeddedBroker | None, BrokerAddress, BrokerAddress | None]:
    """Use the configured broker, or start (or reuse) the embedded one."""
    if settings.broker_url is not None:
        url = BrokerURL(settings.broker_url)
        hub = BrokerAddress(url.host, url.port, url.username or "", url.password or "")
        admin = None
        if settings.broker_admin_username and settings.broker_admin_password:
            admin = BrokerAddress(
                url.host, url.port, settings.broker_admin_username, settings.broker_admin_password
            )
            if hub.username and hub.password:
                # An external Mosquitto with dynamic security: the hub creates (or refreshes)
                # its own account, so a deployment hands it only the admin credentials and
                # the password it should use (docker-compose.yml, docs/deploy.md).
                with DynSecClient(admin) as ctl:
                    ctl.ensure_hub_account(hub.username, hub.password)
        return None, hub, admin
    broker = EmbeddedBroker(
        settings.data_dir / "mosquitto",
        port=settings.broker_port,
        mosquitto_bin=settings.mosquitto_bin,
    )
    try:
        wait_for_port("127.0.0.1", settings.broker_port, timeout=0.3)
        already_running = True
    except BrokerError:
        already_running = False
    if already_running or not start_embedded:
        sec = broker.prepare()  # another carehub process runs it; reuse its accounts
        return None, broker.hub_address(sec), broker.admin_address(sec)
    sec = broker.start()
    return broker, broker.hub_address(sec), broker.admin_address(sec)


def open_runtime(
    settings: Settings, *, migrate: bool = True, start_embedded: bool = True
) -> Runtime:
    """Boot: database, then broker. Ingest is started separately (start_ingest)."""
    engine, sessions = init_database(settings, migrate=migrate)
    broker, hub_addr, admin_addr = init_broker(settings, start_embedded=start_embedded)
    from hub.hooks import default_hooks

    if settings.shards > 0:
        # Several hubs: the ingest only records which shard's events it stored; the rules
        # run in the owner of each shard (docs/adr/0011-several-hubs.md).
        coordinator = ShardCoordinator(
            ShardConfig(
                shards=settings.shards,
                hub_id=settings.hub_id or settings.hub_client_id,
                lease_ttl_s=settings.lease_ttl_s,
                renew_s=settings.lease_renew_s,
                poll_s=settings.shard_poll_ms / 1000,
                tick_s=settings.shard_tick_s,
            ),
            sessions,
        )
        return Runtime(
            settings,
            engine,
            sessions,
            hub_addr,
            admin_addr,
            broker,
            hooks=[*default_hooks(), cast(BatchHook, FeedHook(settings.shards))],
            shards=coordinator,
        )
    rules = RulesHook()
    return Runtime(
        settings,
        engine,
        sessions,
        hub_addr,
        admin_addr,
        broker,
        hooks=[*default_hooks(), cast(BatchHook, rules)],
        rules=rules,
    )
