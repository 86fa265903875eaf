"""Migration 0002 creates exactly what the eTRS and auth models describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Index, Table, UniqueConstraint

import etrs.models  # noqa: F401  (registers the tables)
import hub.auth.models  # noqa: F401
from hub.store.base import Base

MINE = {
    "etrs_list_versions",
    "etrs_list_items",
    "etrs_product_classes",
    "etrs_administrations",
    "etrs_double_checks",
    "etrs_check_requests",
    "etrs_list_acks",
    "users",
    "team_members",
    "api_tokens",
    "pharmacies",
    "pharmacy_clients",
}


def _table_of(diff: Any) -> str | None:
    """The table a compare_metadata diff is about."""
    if isinstance(diff, list):  # modify_* diffs come grouped per column
        return _table_of(diff[0])
    op, *args = diff
    if op in ("add_table", "remove_table"):
        return str(args[0].name)
    if op in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = args[0]
        if isinstance(obj, (Index, UniqueConstraint)) and isinstance(obj.table, Table):
            return str(obj.table.name)
    if op in ("add_column", "remove_column"):
        return str(args[1])
    if op.startswith("modify_"):
        return str(args[1])
    if op in ("add_fk", "remove_fk"):
        return str(args[0].parent.name)
    return None


def test_models_and_migration_agree(etrs_engine: Engine) -> None:
    assert MINE <= set(Base.metadata.tables)
    with etrs_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if _table_of(d) in MINE] == []
    # Sanity: a table the migration does not create is reported.
    extra = Table("etrs_not_migrated", Base.metadata.__class__(), *[])
    assert _table_of(("add_table", extra)) == "etrs_not_migrated"
