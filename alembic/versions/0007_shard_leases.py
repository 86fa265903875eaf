"""several hubs: shard leases, hub membership, per-shard event feed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shard_leases",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("ticked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticked_position", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_shard_leases")),
    )
    op.create_table(
        "shard_members",
        sa.Column("hub_id", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hub_id", name=op.f("pk_shard_members")),
    )
    op.create_table(
        "shard_feed",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shard_feed")),
    )
    with op.batch_alter_table("shard_feed", schema=None) as batch_op:
        batch_op.create_index("ix_shard_feed_shard_tx", ["shard", "tx"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shard_feed", schema=None) as batch_op:
        batch_op.drop_index("ix_shard_feed_shard_tx")
    op.drop_table("shard_feed")
    op.drop_table("shard_members")
    op.drop_table("shard_leases")
