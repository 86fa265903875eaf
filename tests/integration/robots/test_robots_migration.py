"""Migration 0004 builds exactly the robots/family tables the models describe, and goes back."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import hub.family.models
import hub.robots.models
from alembic import command
from hub.store.base import Base
from hub.store.db import make_engine
from hub.store.migrate import alembic_config, upgrade

MINE = {
    "robot_schedules",
    "robot_messages",
    "robot_status_log",
    "family_links",
    "family_notifications",
}


def _table_of(diff: Any) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(part, str) and part in MINE:
            return part
        if name in MINE:
            return str(name)
    return None


def test_migrated_robots_family_schema_matches_the_models(db_url: str) -> None:
    assert hub.robots.models.ClientSchedule.__tablename__ in MINE
    assert hub.family.models.FamilyLink.__tablename__ in MINE
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert MINE <= set(inspect(conn).get_table_names())
    engine.dispose()
    mine = [d for d in diff if _table_of(d) in MINE]
    assert mine == [], f"robots/family models and migration 0004 differ: {mine}"


def test_downgrading_0004_removes_only_robots_and_family_tables(db_url: str) -> None:
    # Relative to 0004, so the other heads (eTRS, alerts) stay where they are.
    command.downgrade(alembic_config(db_url), "0004-1")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert not (tables & MINE)
    assert {"users", "clients", "events", "device_acks"} <= tables
    upgrade(db_url)
