"""eTRS into the alert pipeline: overdue moments and rejected checks raise alerts once."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from scoped_world import make_world
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from etrs.drafts import ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule
from etrs.lists import store_list_version
from etrs.schemas import EtrsAlert
from hub.alerts import service as svc
from hub.alerts.etrs_bridge import EtrsAlertSink, check_overdue
from hub.alerts.models import Alert, AlertSourceKey
from hub.api.app import create_app
from hub.auth.models import Pharmacy, PharmacyClient
from hub.store.db import unit_of_work
from hub.store.models import Client
from hub.tasks.models import Task

LIST_AT = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)
LATE = datetime(2026, 3, 21, 9, 30, tzinfo=UTC)  # 10:30 CET: the 08:00 moment is 150 min late


def _item(source_id: str, name: str, *, atc: str | None, in_gds: bool) -> ItemDraft:
    return ItemDraft(
        source_id=source_id,
        medication_name=name,
        codes=ProductCodes(gpk=f"9{zlib.crc32(name.encode()) % 10**6:06d}", atc=atc),
        dose=Dose(value=Decimal("1"), unit="stuk"),
        route="oraal",
        schedule=Schedule(times_of_day=["08:00"]),
        in_gds=in_gds,
    )


@pytest.fixture
def sessions_with_list(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Client ca (team A) with a list: a coumarin, loose (high risk) at 08:00."""
    make_world(sessions)
    with unit_of_work(sessions) as s:
        client = s.get(Client, "ca")
        assert client is not None
        client.bsn = "111222333"
        s.add(Pharmacy(id="apo", name="Apotheek (fictief)", created_at=LIST_AT))
        s.flush()
        s.add(PharmacyClient(pharmacy_id="apo", client_id="ca"))
        s.flush()
        store_list_version(
            s,
            pharmacy_id="apo",
            draft=ClientListDraft(
                bsn="111222333",
                items=[_item("a", "Acenocoumarol 1mg", atc="B01AA07", in_gds=False)],
            ),
            actor="pharmacy:apo",
            source="test",
            now=LIST_AT,
        )
    return sessions


def test_an_overdue_moment_raises_one_routed_escalating_alert(
    sessions_with_list: sessionmaker[Session],
) -> None:
    sessions = sessions_with_list
    first = check_overdue(sessions, now=LATE)
    assert [(c.action, c.alert["rule"], c.alert["client_id"]) for c in first] == [
        ("raised", "medication_overdue", "ca")
    ]
    alert = first[0].alert
    assert alert["team_id"] == "team-a"  # the client's team by day
    assert alert["severity"] == "high"  # needs a double check
    assert alert["next_escalation_at"] is not None
    # Every later check finds the same moment overdue: no new alert, no repeat.
    assert check_overdue(sessions, now=LATE + timedelta(minutes=1)) == []
    assert check_overdue(sessions, now=LATE + timedelta(minutes=30)) == []
    with unit_of_work(sessions) as s:
        row = svc.get_alert(s, alert_id=first[0].alert_id)
        assert row.count == 1
        svc.escalate_due(s, now=LATE + timedelta(minutes=11))
        assert row.escalation_level == 1
        svc.resolve(s, alert_id=row.id, actor="user:u-anna", outcome="real_incident")
    # Resolved: the same overdue moment still does not come back.
    assert check_overdue(sessions, now=LATE + timedelta(hours=1)) == []
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        assert s.scalar(select(func.count()).select_from(AlertSourceKey)) == 1


def test_a_rejected_check_through_the_sink_raises_an_alert_and_a_task(
    sessions: sessionmaker[Session],
) -> None:
    make_world(sessions)
    app = create_app(sessions)
    sink = app.state.etrs_alert_sink
    assert isinstance(sink, EtrsAlertSink)
    rejected = EtrsAlert(
        kind="etrs.check_rejected",
        client_id="cb",
        team_id="team-b",
        dedup_key="check:adm-1",
        severity="high",
        title="Double check rejected",
        at=datetime.now(UTC),
        detail={"administration_id": "adm-1", "remark": "wrong dose"},
        follow_up="Review the administration with the checker and record a correction",
    )
    sink([rejected])
    sink([rejected])  # the same rejection reported twice
    sink.drain()
    with unit_of_work(sessions) as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert (alert.rule, alert.client_id, alert.team_id, alert.count) == (
            "check_rejected",
            "cb",
            "team-b",
            1,
        )
        (task,) = s.scalars(select(Task)).all()
        assert (task.kind, task.client_id, task.team_id, task.source_alert_id) == (
            "check_follow_up",
            "cb",
            "team-b",
            alert.id,
        )
