"""etrs: users, teams, tokens, pharmacies, list versions, administrations, double checks

Append-only tables get BEFORE UPDATE/DELETE triggers on SQLite and PostgreSQL so that
nothing, not even raw SQL, edits or removes a signed record.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept in step with etrs.models.APPEND_ONLY_TABLES (migrations never import from the app).
APPEND_ONLY_TABLES = (
    "etrs_list_versions",
    "etrs_list_items",
    "etrs_administrations",
    "etrs_double_checks",
    "etrs_check_requests",
    "etrs_list_acks",
)


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION etrs_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION etrs_refuse_change()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {action} refused'); "
                    "END"
                )


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS etrs_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def upgrade() -> None:
    op.create_table(
        "etrs_product_classes",
        sa.Column("code_system", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("risk_class", sa.String(length=32), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code_system", "code", name=op.f("pk_etrs_product_classes")),
    )
    op.create_table(
        "pharmacies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pharmacies")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("qualification_level", sa.Integer(), nullable=False),
        sa.Column("pharmacy_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pharmacy_id"], ["pharmacies.id"], name=op.f("fk_users_pharmacy_id_pharmacies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_pharmacy_id"), ["pharmacy_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "team_members",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "team_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_team_id"), ["team_id"], unique=False)

    op.create_table(
        "etrs_list_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("pharmacy_id", sa.String(length=64), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("supersedes_id", sa.String(length=32), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column(
            "diff",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_etrs_list_versions_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["pharmacy_id"],
            ["pharmacies.id"],
            name=op.f("fk_etrs_list_versions_pharmacy_id_pharmacies"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["etrs_list_versions.id"],
            name=op.f("fk_etrs_list_versions_supersedes_id_etrs_list_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etrs_list_versions")),
        sa.UniqueConstraint("client_id", "version_no", name="uq_etrs_list_versions_client_no"),
    )
    with op.batch_alter_table("etrs_list_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_etrs_list_versions_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_etrs_list_versions_pharmacy_id"), ["pharmacy_id"], unique=False
        )

    op.create_table(
        "pharmacy_clients",
        sa.Column("pharmacy_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_pharmacy_clients_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["pharmacy_id"],
            ["pharmacies.id"],
            name=op.f("fk_pharmacy_clients_pharmacy_id_pharmacies"),
        ),
        sa.PrimaryKeyConstraint("pharmacy_id", "client_id", name=op.f("pk_pharmacy_clients")),
    )
    with op.batch_alter_table("pharmacy_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pharmacy_clients_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "etrs_list_acks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_etrs_list_acks_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_etrs_list_acks_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["etrs_list_versions.id"],
            name=op.f("fk_etrs_list_acks_version_id_etrs_list_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etrs_list_acks")),
        sa.UniqueConstraint("version_id", "user_id", name="uq_etrs_list_acks_version_user"),
    )
    with op.batch_alter_table("etrs_list_acks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_etrs_list_acks_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "etrs_list_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("medication_key", sa.String(length=200), nullable=False),
        sa.Column("medication_name", sa.String(length=500), nullable=False),
        sa.Column("zi", sa.String(length=16), nullable=True),
        sa.Column("hpk", sa.String(length=16), nullable=True),
        sa.Column("prk", sa.String(length=16), nullable=True),
        sa.Column("gpk", sa.String(length=16), nullable=True),
        sa.Column("atc", sa.String(length=16), nullable=True),
        sa.Column("strength", sa.String(length=100), nullable=True),
        sa.Column("form", sa.String(length=100), nullable=True),
        sa.Column("dose_value", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("dose_low", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("dose_high", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("dose_unit", sa.String(length=50), nullable=True),
        sa.Column("dose_unit_code", sa.String(length=16), nullable=True),
        sa.Column("route", sa.String(length=100), nullable=True),
        sa.Column("route_code", sa.String(length=16), nullable=True),
        sa.Column(
            "schedule",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("prn", sa.Boolean(), nullable=False),
        sa.Column("prn_indication", sa.Text(), nullable=True),
        sa.Column("prn_max_per_24h", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("in_gds", sa.Boolean(), nullable=False),
        sa.Column("dispenser_managed", sa.Boolean(), nullable=False),
        sa.Column("high_risk_flag", sa.Boolean(), nullable=True),
        sa.Column("exact_time", sa.Boolean(), nullable=False),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("stop_type", sa.String(length=16), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["etrs_list_versions.id"],
            name=op.f("fk_etrs_list_items_version_id_etrs_list_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etrs_list_items")),
    )
    with op.batch_alter_table("etrs_list_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_etrs_list_items_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "etrs_administrations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("medication_key", sa.String(length=200), nullable=False),
        sa.Column("moment_key", sa.String(length=100), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("given_by", sa.String(length=12), nullable=False),
        sa.Column("prn", sa.Boolean(), nullable=False),
        sa.Column("prn_reason", sa.Text(), nullable=True),
        sa.Column("actual_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("amount_unit", sa.String(length=50), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("double_check_required", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("corrects_id", sa.String(length=32), nullable=True),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_etrs_administrations_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["etrs_administrations.id"],
            name=op.f("fk_etrs_administrations_corrects_id_etrs_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["etrs_list_items.id"],
            name=op.f("fk_etrs_administrations_item_id_etrs_list_items"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["etrs_list_versions.id"],
            name=op.f("fk_etrs_administrations_version_id_etrs_list_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etrs_administrations")),
        sa.UniqueConstraint("corrects_id", name=op.f("uq_etrs_administrations_corrects_id")),
    )
    with op.batch_alter_table("etrs_administrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_etrs_administrations_client_at", ["client_id", "recorded_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_etrs_administrations_item_id"), ["item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_etrs_administrations_medication_key"), ["medication_key"], unique=False
        )
        batch_op.create_index(
            "uq_etrs_administrations_moment",
            ["moment_key"],
            unique=True,
            sqlite_where=sa.text("corrects_id IS NULL AND moment_key IS NOT NULL"),
            postgresql_where=sa.text("corrects_id IS NULL AND moment_key IS NOT NULL"),
        )

    op.create_table(
        "etrs_check_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("administration_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("to_user_id", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["etrs_administrations.id"],
            name=op.f("fk_etrs_check_requests_administration_id_etrs_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_etrs_check_requests_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_etrs_check_requests_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"], ["users.id"], name=op.f("fk_etrs_check_requests_to_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etrs_check_requests")),
    )
    with op.batch_alter_table("etrs_check_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_etrs_check_requests_administration_id"),
            ["administration_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_etrs_check_requests_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "etrs_double_checks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("administration_id", sa.String(length=32), nullable=False),
        sa.Column("checker_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("medication_key", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("moment_key", sa.String(length=100), nullable=True),
        sa.Column("remark", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["etrs_administrations.id"],
            name=op.f("fk_etrs_double_checks_administration_id_etrs_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["checker_id"], ["users.id"], name=op.f("fk_etrs_double_checks_checker_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etrs_double_checks")),
        sa.UniqueConstraint(
            "administration_id", name=op.f("uq_etrs_double_checks_administration_id")
        ),
    )
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table("etrs_double_checks")
    with op.batch_alter_table("etrs_check_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etrs_check_requests_client_id"))
        batch_op.drop_index(batch_op.f("ix_etrs_check_requests_administration_id"))

    op.drop_table("etrs_check_requests")
    with op.batch_alter_table("etrs_administrations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_etrs_administrations_moment",
            sqlite_where=sa.text("corrects_id IS NULL AND moment_key IS NOT NULL"),
            postgresql_where=sa.text("corrects_id IS NULL AND moment_key IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_etrs_administrations_medication_key"))
        batch_op.drop_index(batch_op.f("ix_etrs_administrations_item_id"))
        batch_op.drop_index("ix_etrs_administrations_client_at")

    op.drop_table("etrs_administrations")
    with op.batch_alter_table("etrs_list_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etrs_list_items_version_id"))

    op.drop_table("etrs_list_items")
    with op.batch_alter_table("etrs_list_acks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etrs_list_acks_client_id"))

    op.drop_table("etrs_list_acks")
    with op.batch_alter_table("pharmacy_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pharmacy_clients_client_id"))

    op.drop_table("pharmacy_clients")
    with op.batch_alter_table("etrs_list_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etrs_list_versions_pharmacy_id"))
        batch_op.drop_index(batch_op.f("ix_etrs_list_versions_client_id"))

    op.drop_table("etrs_list_versions")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_members_team_id"))

    op.drop_table("team_members")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_pharmacy_id"))

    op.drop_table("users")
    op.drop_table("pharmacies")
    op.drop_table("etrs_product_classes")
