"""The rule engine in the running hub: fed by the ingest's batches, ticked by the clock.

`RulesHook` is an ingest BatchHook: inside each batch's transaction it turns the newly
stored events and status changes into engine inputs (registry: device kind and home,
the home's client), runs the engine and hands the decisions to the alert service. The
engine's state lives in memory and is rebuilt at start by replaying the stored events
(`warm_up`); one worker owns it (ARCHITECTURE.md, shard by home).
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event, false, select, update
from sqlalchemy.orm import Session

from devices.envelope import Envelope
from devices.kinds import Kind
from hub.alerts import service as alerts
from hub.alerts.models import Alert, AlertTransition
from hub.metrics import rule_evaluation_timer
from hub.rules.careplan import CarePlan
from hub.rules.engine import Engine
from hub.rules.model import AlertDecision, EngineEvent, EngineInput, StatusChange
from hub.rules.models import CarePlanRow
from hub.rules.service import get_care_plan
from hub.store.models import Client, Device, Event

_CARRY = "carehub.rules_carry"
_CARRY_DECISIONS = "carehub.rules_carry_decisions"
CLIENT_CACHE_S = 300.0


class _Stored(Protocol):
    envelope: Envelope
    kind: Kind
    home_id: str | None
    received_at: datetime


class _Status(Protocol):
    device_id: str
    kind: Kind
    home_id: str | None
    state: str
    at: datetime


class _Batch(Protocol):
    stored: Sequence[Any]
    statuses: Sequence[Any]
    unreadable: Sequence[Any]


def _now() -> datetime:
    return datetime.now(UTC)


class RulesHook:
    """Engine + alert service for the live hub (thread-safe; call from the ingest worker)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _now,
        lateness: timedelta = timedelta(0),
        routing: alerts.Routing | None = None,
    ) -> None:
        self._clock = clock
        self._routing = routing
        self._plans: dict[str, CarePlan] = {}
        self.engine = Engine(plan_for=lambda c: self._plans.get(c, CarePlan()), lateness=lateness)
        self._lock = threading.Lock()
        self._clients: dict[str, str | None] = {}
        self._clients_at = 0.0
        self._seen: dict[str, None] = {}  # recent event ids (a retried batch repeats them)
        self._pending: list[AlertDecision] = []  # of rolled-back transactions only
        self._carry_lock = threading.Lock()
        # After a restart, until the first tick: timers replayed by warm_up may have fired
        # in the previous process already; their decisions are applied once only.
        self._recovering = False

    # --- inputs --------------------------------------------------------------------------

    def _client_of(self, session: Session, home_id: str | None) -> str | None:
        if home_id is None:
            return None
        if _time.monotonic() - self._clients_at > CLIENT_CACHE_S:
            self._clients.clear()
            self._clients_at = _time.monotonic()
        if home_id not in self._clients:
            self._clients[home_id] = session.scalar(
                select(Client.id).where(Client.home_id == home_id).order_by(Client.id).limit(1)
            )
        client_id = self._clients[home_id]
        if client_id is not None and client_id not in self._plans:
            self._plans[client_id] = get_care_plan(session, client_id=client_id)
        return client_id

    def _prefetch(self, session: Session, batch: _Batch) -> None:
        """The clients and care plans of the batch's homes not cached yet, in two queries
        (a batch from thousands of homes would otherwise cost two queries per new home)."""
        if _time.monotonic() - self._clients_at > CLIENT_CACHE_S:
            self._clients.clear()
            self._clients_at = _time.monotonic()
        homes = {ev.home_id for ev in batch.stored}
        homes.update(s.home_id for s in batch.statuses)
        homes.update(u.home_id for u in batch.unreadable)
        missing = sorted(h for h in homes if h is not None and h not in self._clients)
        if not missing:
            return
        found: dict[str, str] = {}
        for i in range(0, len(missing), 500):
            rows = session.execute(
                select(Client.home_id, Client.id)
                .where(Client.home_id.in_(missing[i : i + 500]))
                .order_by(Client.home_id, Client.id)
            )
            for home_id, client_id in rows:
                if home_id is not None:
                    found.setdefault(home_id, client_id)  # the first by id, as _client_of
        for home_id in missing:
            self._clients[home_id] = found.get(home_id)
        need = sorted(c for c in set(found.values()) if c not in self._plans)
        for i in range(0, len(need), 500):
            chunk = need[i : i + 500]
            stored = {
                r.client_id: r.params
                for r in session.scalars(
                    select(CarePlanRow).where(CarePlanRow.client_id.in_(chunk))
                )
            }
            for client_id in chunk:
                params = stored.get(client_id)
                self._plans[client_id] = (
                    CarePlan() if params is None else CarePlan.model_validate(params)
                )

    def _inputs(self, session: Session, batch: _Batch) -> list[EngineInput]:
        self._prefetch(session, batch)
        items: list[EngineInput] = []
        # Dead-lettered messages of known devices go in where they arrived among the
        # events (by receive time), as replay reads them in log order.
        unreadable = list(batch.unreadable)
        for ev in batch.stored:
            while unreadable and unreadable[0].at < ev.received_at:
                items += self._unreadable(session, unreadable.pop(0))
            if ev.envelope.id in self._seen:
                continue
            self._seen[ev.envelope.id] = None
            client = self._client_of(session, ev.home_id)
            if client is not None and ev.home_id is not None:
                items.append(
                    EngineEvent(ev.home_id, client, ev.envelope.device_id, ev.kind, ev.envelope)
                )
        for bad in unreadable:
            items += self._unreadable(session, bad)
        for s in batch.statuses:
            client = self._client_of(session, s.home_id)
            if client is not None and s.home_id is not None and s.state in ("online", "offline"):
                items.append(StatusChange(s.home_id, client, s.device_id, s.kind, s.state, s.at))
        while len(self._seen) > 100_000:
            del self._seen[next(iter(self._seen))]
        return items

    def _unreadable(self, session: Session, bad: _Status) -> list[EngineInput]:
        """A dead-lettered message of a known device: it spoke, what it said is lost. The
        engine counts it at the home's current event time (as replay does)."""
        client = self._client_of(session, bad.home_id)
        if client is None or bad.home_id is None:
            return []
        return [StatusChange(bad.home_id, client, bad.device_id, bad.kind, "unreadable", bad.at)]

    # --- the hook and the clock ----------------------------------------------------------

    def __call__(self, session: Session, result: _Batch) -> None:
        """Ingest BatchHook: run the rules on a stored batch, inside its transaction."""
        with self._lock:
            decisions: list[AlertDecision] = self._take_rolled_back()
            with rule_evaluation_timer("batch"):
                for item in self._inputs(session, result):
                    decisions += self.engine.process(item)
            self._apply(session, decisions)

    def tick(self, session: Session) -> None:
        """Scheduler tick (unit of work): wall-clock timers, escalation, night hand-over."""
        now = self._clock()
        # The database's write lock first, then the engine's: the ingest worker takes them
        # in that order (its batch transaction, then this hook). The other order made each
        # wait for the other until SQLite's busy timeout: a 30-s ingest stall per tick.
        session.execute(update(Alert).where(false()).values(count=Alert.count))
        with self._lock:
            with rule_evaluation_timer("timers"):
                due = self.engine.advance(now)
            self._apply(session, due)
            self._recovering = False
        alerts.escalate_due(session, now=now)
        alerts.reroute_open(session, now=now, routing=self._routing)

    def reload_plan(self, session: Session, *, client_id: str) -> None:
        """Pick up an edited care plan."""
        plan = get_care_plan(session, client_id=client_id)
        with self._lock:
            self._plans[client_id] = plan
            self.engine.set_plan(client_id, plan)

    def _apply(self, session: Session, decisions: list[AlertDecision]) -> None:
        if not decisions:
            return
        # Engine state cannot roll back with the transaction: a transaction that does not
        # commit hands its decisions to the next batch (_decisions_rolled_back). Only those:
        # decisions of a transaction still open on another thread (a tick's while a batch
        # runs) are not this batch's to apply, or they would be applied twice.
        if self._recovering:
            decisions = [d for d in decisions if not _raised_before(session, d)]
        session.info.setdefault(_CARRY_DECISIONS, []).extend(decisions)
        session.info[_CARRY] = self
        alerts.apply(session, decisions, now=self._clock(), routing=self._routing)

    def _take_rolled_back(self) -> list[AlertDecision]:
        with self._carry_lock:
            out, self._pending = self._pending, []
        return out

    def _rolled_back(self, decisions: list[AlertDecision]) -> None:
        with self._carry_lock:
            self._pending.extend(decisions)

    def warm_up(self, session: Session, *, days: int = 14) -> int:
        """Rebuild rule state from stored events (no alerts); returns how many were read."""
        since = self._clock() - timedelta(days=days)
        kinds = {d.id: Kind(d.kind) for d in session.scalars(select(Device))}
        n = 0
        q = select(Event).where(Event.received_at >= since).order_by(Event.received_at, Event.id)
        with self._lock:
            for row in session.scalars(q.execution_options(yield_per=2000)):
                client = self._client_of(session, row.home_id)
                kind = kinds.get(row.device_id)
                if client is None or kind is None or row.home_id is None:
                    continue
                env = Envelope(
                    id=row.id,
                    device_id=row.device_id,
                    ts=row.ts,
                    seq=row.seq,
                    type=row.type,
                    data=row.data,
                )
                self._seen[row.id] = None
                self.engine.process(EngineEvent(row.home_id, client, row.device_id, kind, env))
                n += 1
            # No advance to the wall clock here: timers that came due while the hub was
            # down fire on the events the broker queued meanwhile (which may cancel them:
            # she got up at 08:55) or on the first tick; one a tick of the previous process
            # raised already is not raised again (_recovering).
            self._recovering = True
        return n


def _raised_before(session: Session, decision: AlertDecision) -> bool:
    """True when an alert transition already carries this decision (client, rule, event time
    and subject: a timer that fired in the previous process fires again after a restart)."""
    at = decision.raised_at.isoformat()
    q = (
        select(AlertTransition.detail)
        .join(Alert, Alert.id == AlertTransition.alert_id)
        .where(
            Alert.client_id == decision.client_id,
            Alert.rule == decision.rule.value,
            AlertTransition.action.in_(("raised", "repeated")),
        )
    )
    return any(
        d.get("raised_at") == at and d.get("subject") == decision.subject
        for d in session.scalars(q)
    )


@event.listens_for(Session, "after_commit")
def _decisions_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released; the transaction is still open
    session.info.pop(_CARRY, None)
    session.info.pop(_CARRY_DECISIONS, None)


@event.listens_for(Session, "after_soft_rollback")
def _decisions_rolled_back(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is not None:
        return  # a SAVEPOINT rolled back; the transaction goes on
    hook = session.info.pop(_CARRY, None)
    decisions = session.info.pop(_CARRY_DECISIONS, [])
    if isinstance(hook, RulesHook) and decisions:
        hook._rolled_back(decisions)
