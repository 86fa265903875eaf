"""The running hub checks eTRS for overdue moments on a schedule (hub.runtime wiring)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.models import Alert
from hub.runtime import Runtime
from hub.settings import Settings
from hub.store.db import unit_of_work
from tests.conftest import RunningBroker

pytestmark = pytest.mark.broker


@pytest.mark.timeout(60)
def test_the_runtime_schedules_the_overdue_check(
    broker: RunningBroker, sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path,
        hub_client_id=f"hub-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:6]}",
    )
    engine = sessions.kw["bind"]
    rt = Runtime(settings, engine, sessions, broker.hub, None)  # no rules: only eTRS jobs
    rt.start_ingest()
    try:
        assert rt.scheduler is not None
        (job,) = rt.scheduler.get_jobs()
        assert job.trigger.interval.total_seconds() == 60
        job.func()  # the job itself: an empty eTRS has nothing overdue
        with unit_of_work(sessions) as s:
            assert s.scalar(select(func.count()).select_from(Alert)) == 0
    finally:
        rt.close()  # scheduler, ingest, then the pool (the fixture's engine is reusable)
