"""eTRS list items: the pharmacy's reason for a change (MP9 ReasonModificationOrDiscontinuation)

Day parts (timing `when`) and the maximum frequency live in the item's schedule JSON and
need no column. A plain ADD COLUMN keeps the append-only triggers of migration 0002 (a
batch table rebuild on SQLite would drop them).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("etrs_list_items", sa.Column("change_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 and PostgreSQL drop a column in place (no rebuild, triggers stay)
    op.execute("ALTER TABLE etrs_list_items DROP COLUMN change_reason")
