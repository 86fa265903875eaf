"""alerts: alerts, alert transitions, escalation steps, care plans

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("home_id", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_key", sa.String(length=128), nullable=True),
        sa.Column("subject", sa.String(length=128), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_to", sa.String(length=128), nullable=True),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_alerts_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alerts_open_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_client_rule", ["client_id", "rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            "ix_alerts_status_next_escalation", ["status", "next_escalation_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alerts_team_id"), ["team_id"], unique=False)

    op.create_table(
        "alert_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_transitions_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_transitions")),
        sa.UniqueConstraint("alert_id", "action", "step", name="uq_alert_transitions_step"),
    )
    with op.batch_alter_table("alert_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_transitions_alert_id"), ["alert_id"], unique=False
        )

    op.create_table(
        "alert_escalation_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("after_min", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_alert_escalation_steps_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_escalation_steps")),
        sa.UniqueConstraint("team_id", "level", name="uq_alert_escalation_steps_level"),
    )
    with op.batch_alter_table("alert_escalation_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_escalation_steps_team_id"), ["team_id"], unique=False
        )

    op.create_table(
        "care_plans",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_care_plans_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_care_plans")),
    )


def downgrade() -> None:
    op.drop_table("care_plans")
    with op.batch_alter_table("alert_escalation_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_escalation_steps_team_id"))
    op.drop_table("alert_escalation_steps")
    with op.batch_alter_table("alert_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_transitions_alert_id"))
    op.drop_table("alert_transitions")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_team_id"))
        batch_op.drop_index("ix_alerts_status_next_escalation")
        batch_op.drop_index(batch_op.f("ix_alerts_created_at"))
        batch_op.drop_index("ix_alerts_client_rule")
    op.drop_table("alerts")
