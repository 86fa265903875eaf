"""robots and family: robot schedules, messages, status history, family links, notifications

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23

Depends on 0002 because family links and notifications reference `users`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "robot_schedules",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("published_device_id", sa.String(length=64), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_robot_schedules_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_robot_schedules")),
    )
    op.create_table(
        "robot_messages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.String(length=5), nullable=False),
        sa.Column("recurrence", sa.String(length=16), nullable=False),
        sa.Column("weekdays", JSON, nullable=True),
        sa.Column("on_date", sa.String(length=10), nullable=True),
        sa.Column("question", sa.Boolean(), nullable=False),
        sa.Column("repeat_if_unanswered_min", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_robot_messages_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_messages")),
    )
    with op.batch_alter_table("robot_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_robot_messages_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "robot_status_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_status_log")),
    )
    with op.batch_alter_table("robot_status_log", schema=None) as batch_op:
        batch_op.create_index("ix_robot_status_log_device_at", ["device_id", "at"], unique=False)

    op.create_table(
        "family_links",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("relation", sa.String(length=100), nullable=False),
        sa.Column("day_overview", sa.Boolean(), nullable=False),
        sa.Column("robot_messages", sa.Boolean(), nullable=False),
        sa.Column("notify", JSON, nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_family_links_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_family_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_family_links")),
    )
    with op.batch_alter_table("family_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_links_client_id"), ["client_id"], unique=False)

    op.create_table(
        "family_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliver_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_family_notifications_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_family_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_notifications")),
        sa.UniqueConstraint("user_id", "dedup_key", name="uq_family_notifications_key"),
    )
    with op.batch_alter_table("family_notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_family_notifications_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_notifications_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("family_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_notifications_user_id"))
        batch_op.drop_index(batch_op.f("ix_family_notifications_client_id"))
    op.drop_table("family_notifications")
    with op.batch_alter_table("family_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_links_client_id"))
    op.drop_table("family_links")
    with op.batch_alter_table("robot_status_log", schema=None) as batch_op:
        batch_op.drop_index("ix_robot_status_log_device_at")
    op.drop_table("robot_status_log")
    with op.batch_alter_table("robot_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_messages_client_id"))
    op.drop_table("robot_messages")
    op.drop_table("robot_schedules")
