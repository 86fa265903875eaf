"""tasks: follow-up tasks and their completions; alert source keys (eTRS dedup)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_source_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_source_keys_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alert_source_keys")),
    )
    with op.batch_alter_table("alert_source_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_source_keys_alert_id"), ["alert_id"], unique=False
        )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("source_alert_id", sa.Integer(), nullable=True),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tasks_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["source_alert_id"], ["alerts.id"], name=op.f("fk_tasks_source_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_tasks_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_tasks_dedup_key")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tasks_source_alert_id"), ["source_alert_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tasks_team_id"), ["team_id"], unique=False)
    op.create_table(
        "task_completions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_completions_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_completions")),
        sa.UniqueConstraint("task_id", name=op.f("uq_task_completions_task_id")),
    )


def downgrade() -> None:
    op.drop_table("task_completions")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_team_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_source_alert_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_created_at"))
        batch_op.drop_index(batch_op.f("ix_tasks_client_id"))
    op.drop_table("tasks")
    with op.batch_alter_table("alert_source_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_source_keys_alert_id"))
    op.drop_table("alert_source_keys")
