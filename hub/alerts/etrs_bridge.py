"""eTRS into the alert pipeline: overdue moments, missing and rejected checks become alerts.

eTRS decides *what* is wrong (`etrs.service.overdue_decisions`, a rejected double check in
`decide_check`) as plain `EtrsAlert` data; this bridge turns each into an alert of
hub.alerts, routed to the team on duty and escalated like any other, with a follow-up task
where eTRS names one. Each eTRS happening raises once: its dedup key is stored
(`alert_source_keys`), so an overdue moment found again on every check, a restart, or a
second hub does not raise again (a second hub at the very same instant at worst counts a
repeat on the open alert).

Two ways in: `check_overdue` (the scheduler's job, every minute) and `EtrsAlertSink`
(`app.state.etrs_alert_sink`, called by the eTRS routes and pages after a rejection). The
sink raises on a worker thread in its own transaction: a page may call it before its own
transaction commits, and on SQLite a second writer there would wait for the first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from etrs.schemas import EtrsAlert
from etrs.service import DEFAULT_POLICY, EtrsPolicy, overdue_decisions
from hub.alerts import service as alerts
from hub.alerts.models import AlertSourceKey
from hub.rules.model import Severity
from hub.store.db import unit_of_work
from hub.store.models import Client

log = logging.getLogger(__name__)

# eTRS kinds -> alert rule names (the board and the API show these).
RULE_OF_KIND: dict[str, str] = {
    "etrs.moment_overdue": "medication_overdue",
    "etrs.check_missing": "check_missing",
    "etrs.check_rejected": "check_rejected",
    "etrs.dose_missed": "missed_dose",
}
TASK_KIND: dict[str, str] = {
    "etrs.moment_overdue": "medication_follow_up",
    "etrs.check_missing": "check_follow_up",
    "etrs.check_rejected": "check_follow_up",
    "etrs.dose_missed": "dose_follow_up",
}


def source_key(alert: EtrsAlert) -> str:
    """The stored key that makes one eTRS happening raise once."""
    return f"{RULE_OF_KIND[alert.kind]}:{alert.dedup_key}"[:200]


def _remember(session: Session, key: str, alert_id: int, at: datetime) -> None:
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(AlertSourceKey).on_conflict_do_nothing(index_elements=["key"])
    else:
        stmt = sqlite_insert(AlertSourceKey).on_conflict_do_nothing(index_elements=["key"])
    session.execute(stmt.values(key=key, alert_id=alert_id, created_at=at))


def raise_etrs(
    session: Session,
    decisions: Sequence[EtrsAlert],
    *,
    now: datetime | None = None,
    routing: alerts.Routing | None = None,
) -> list[alerts.AlertChange]:
    """Raise (or repeat) an alert per eTRS decision not raised before (caller commits)."""
    at = now or datetime.now(UTC)
    changes: list[alerts.AlertChange] = []
    for d in decisions:
        rule = RULE_OF_KIND.get(d.kind)
        if rule is None:
            log.warning("eTRS alert of unknown kind %s ignored", d.kind)
            continue
        key = source_key(d)
        if session.get(AlertSourceKey, key) is not None:
            continue  # raised before: an overdue moment is reported on every check
        follow_up = (
            alerts.FollowUp(
                kind=TASK_KIND[d.kind],
                title=d.follow_up,
                dedup_key=f"{rule}:{d.client_id}:{d.dedup_key}",
                detail={"title": d.title, **d.detail},
            )
            if d.follow_up
            else None
        )
        client_home = _home_of(session, d.client_id)
        change = alerts.raise_named(
            session,
            client_id=d.client_id,
            home_id=client_home,
            rule=rule,
            severity=Severity(d.severity),
            raised_at=d.at,
            subject=d.dedup_key[:128],
            detail={"title": d.title, "follow_up": d.follow_up, **d.detail},
            now=at,
            routing=routing,
            follow_up=follow_up,
        )
        _remember(session, key, change.alert_id, at)
        changes.append(change)
    return changes


def _home_of(session: Session, client_id: str) -> str | None:
    client = session.get(Client, client_id)
    return client.home_id if client is not None else None


def check_overdue(
    sessions: sessionmaker[Session],
    *,
    now: datetime | None = None,
    routing: alerts.Routing | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> list[alerts.AlertChange]:
    """Scheduler job (own unit of work): overdue moments and missing checks -> alerts."""
    at = now or datetime.now(UTC)
    with unit_of_work(sessions) as session:
        return raise_etrs(
            session, overdue_decisions(session, now=at, policy=policy), now=at, routing=routing
        )


class EtrsAlertSink:
    """`app.state.etrs_alert_sink`: eTRS alerts from requests, raised on a worker thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        routing: alerts.Routing | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._routing = routing
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="etrs-alerts")
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    def __call__(self, decisions: list[EtrsAlert]) -> None:
        """Queue eTRS alerts for the pipeline; returns at once."""
        if not decisions:
            return
        batch = list(decisions)
        future = self._pool.submit(self._raise, batch)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _raise(self, batch: list[EtrsAlert]) -> None:
        try:
            with unit_of_work(self._sessions) as session:
                raise_etrs(session, batch, now=self._clock(), routing=self._routing)
        except Exception:
            log.exception("eTRS alerts not raised: %s", [d.dedup_key for d in batch])

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far is raised (tests, shutdown)."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        """Finish the queued work and stop the worker."""
        self._pool.shutdown(wait=True)
