"""Property tests of the alert state machine on a real (SQLite) database.

Random sequences of raises, acknowledgements, resolutions, snoozes and scheduler ticks:
never two unresolved alerts for one (client, rule); every alert's history is a valid
path; escalation reaches each step exactly once, and only while unacknowledged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alerts_helpers import T0, decision, seed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import hub.alerts.models  # noqa: F401 - registers the tables
import hub.rules.models  # noqa: F401
from hub.alerts import service as svc
from hub.alerts.models import Alert, AlertTransition
from hub.rules.model import Rule, Severity
from hub.store.base import Base
from hub.store.db import make_engine

RULES = [
    (Rule.FALL, Severity.CRITICAL),
    (Rule.NOT_UP, Severity.HIGH),
    (Rule.BATTERY_LOW, Severity.LOW),
]

# (kind, a, b): raise (client index, rule index) | ack (alert pick) | resolve (pick, outcome)
# | snooze (pick, minutes) | tick (minutes)
Op = tuple[str, int, int]
op: st.SearchStrategy[Op] = st.one_of(
    st.tuples(st.just("raise"), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("ack"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("resolve"), st.integers(0, 20), st.integers(0, 2)),
    st.tuples(st.just("snooze"), st.integers(0, 20), st.integers(1, 90)),
    st.tuples(st.just("tick"), st.integers(0, 45), st.just(0)),
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = Path(tmp_path_factory.mktemp("alerts")) / "props.db"
    eng = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


def _step(session: Session, o: Op, now: datetime) -> datetime:
    kind, a, b = o
    ids = list(session.scalars(select(Alert.id).order_by(Alert.id)))
    if kind == "raise":
        rule, sev = RULES[b]
        svc.apply(session, [decision(rule, client=f"c000{a + 1}", at=now, severity=sev)], now=now)
    elif kind == "tick":
        now += timedelta(minutes=a)
        svc.escalate_due(session, now=now)
    elif ids:
        alert_id = ids[a % len(ids)]
        if kind == "ack":
            svc.acknowledge(session, alert_id=alert_id, actor="nurse:a", now=now)
        elif kind == "resolve":
            outcome = svc.OUTCOMES_ALL[b]
            svc.resolve(session, alert_id=alert_id, actor="nurse:b", outcome=outcome, now=now)
        else:
            until = now + timedelta(minutes=b)
            svc.snooze(session, alert_id=alert_id, actor="nurse:c", until=until, now=now)
    return now


def _run(session: Session, ops: list[Op]) -> None:
    now = T0
    for o in ops:
        try:
            now = _step(session, o, now)
        except svc.AlertError:
            pass  # refused moves (e.g. acknowledging a resolved alert) change nothing
    # Let every remaining step come due, far in the future.
    for days in (1, 2, 3, 4):
        svc.escalate_due(session, now=now + timedelta(days=days))


ALLOWED = {
    "raised": {(None, "open")},
    "acknowledged": {("open", "acknowledged")},
    "resolved": {("open", "resolved"), ("acknowledged", "resolved")},
    "repeated": {("open", "open"), ("acknowledged", "acknowledged")},
    "snoozed": {("open", "open"), ("acknowledged", "acknowledged")},
    "escalated": {("open", "open")},
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(op, min_size=1, max_size=30))
def test_alert_state_machine_invariants(engine: Engine, ops: list[Op]) -> None:
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            seed(session)
            _run(session, ops)
            session.flush()
            # 1. never two unresolved alerts for one (client, rule)
            dupes = session.execute(
                select(Alert.client_id, Alert.rule, func.count())
                .where(Alert.status != "resolved")
                .group_by(Alert.client_id, Alert.rule)
                .having(func.count() > 1)
            ).all()
            assert dupes == []
            chain_len = len(svc.DEFAULT_CHAIN)
            for alert in session.scalars(select(Alert)):
                hist = session.scalars(
                    select(AlertTransition)
                    .where(AlertTransition.alert_id == alert.id)
                    .order_by(AlertTransition.id)
                ).all()
                # 2. the history is a valid path ending in the alert's status
                prev = None
                for t in hist:
                    assert (t.from_status, t.to_status) in ALLOWED[t.action], (t.action, prev)
                    assert t.from_status == prev
                    prev = t.to_status
                assert prev == alert.status
                # 3. escalation: steps 1..k once each, only before acknowledgement
                steps = [t.step for t in hist if t.action == "escalated"]
                assert steps == list(range(1, len(steps) + 1))
                ack_or_done = [
                    i for i, t in enumerate(hist) if t.action in ("acknowledged", "resolved")
                ]
                if ack_or_done:
                    assert all(t.action != "escalated" for t in hist[ack_or_done[0] :])
                if alert.severity in svc.ESCALATING and alert.status == "open":
                    assert steps == list(range(1, chain_len + 1))  # every step, once
                if alert.severity not in svc.ESCALATING:
                    assert steps == []
        finally:
            session.close()
            outer.rollback()
