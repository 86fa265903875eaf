"""eTRS tables: list versions and items, administrations, double checks, acknowledgements.

Everything a nurse or pharmacy signs is append-only (see etrs.immutable and the
triggers in migration 0002); only the product classification table is maintained.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

import hub.auth.models  # noqa: F401  (users and pharmacies are referenced by foreign keys)
from hub.store.base import Base, JSONType

Amount = Numeric(14, 4)


class ListVersion(Base):
    """One immutable version of a pharmacy's administration list for a client."""

    __tablename__ = "etrs_list_versions"
    __table_args__ = (
        UniqueConstraint("client_id", "version_no", name="uq_etrs_list_versions_client_no"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    pharmacy_id: Mapped[str] = mapped_column(ForeignKey("pharmacies.id"), index=True)
    version_no: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("etrs_list_versions.id"))
    issued_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    received_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))  # fhir | csv | manual
    # Changes against the superseded version, computed once when the version arrives.
    diff: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ListItem(Base):
    """One line of a list version (a toedieningsafspraak), frozen with its version."""

    __tablename__ = "etrs_list_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("etrs_list_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str] = mapped_column(String(200))
    medication_key: Mapped[str] = mapped_column(String(200))  # identity across versions
    medication_name: Mapped[str] = mapped_column(String(500))
    zi: Mapped[str | None] = mapped_column(String(16))
    hpk: Mapped[str | None] = mapped_column(String(16))
    prk: Mapped[str | None] = mapped_column(String(16))
    gpk: Mapped[str | None] = mapped_column(String(16))
    atc: Mapped[str | None] = mapped_column(String(16))
    strength: Mapped[str | None] = mapped_column(String(100))
    form: Mapped[str | None] = mapped_column(String(100))
    dose_value: Mapped[Decimal | None] = mapped_column(Amount)
    dose_low: Mapped[Decimal | None] = mapped_column(Amount)
    dose_high: Mapped[Decimal | None] = mapped_column(Amount)
    dose_unit: Mapped[str | None] = mapped_column(String(50))
    dose_unit_code: Mapped[str | None] = mapped_column(String(16))
    route: Mapped[str | None] = mapped_column(String(100))
    route_code: Mapped[str | None] = mapped_column(String(16))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONType)  # etrs.drafts.Schedule dump
    prn: Mapped[bool] = mapped_column(Boolean)
    prn_indication: Mapped[str | None] = mapped_column(Text)
    prn_max_per_24h: Mapped[Decimal | None] = mapped_column(Amount)
    instructions: Mapped[str | None] = mapped_column(Text)
    in_gds: Mapped[bool] = mapped_column(Boolean)
    dispenser_managed: Mapped[bool] = mapped_column(Boolean)
    high_risk_flag: Mapped[bool | None] = mapped_column(Boolean)
    exact_time: Mapped[bool] = mapped_column(Boolean)
    stopped: Mapped[bool] = mapped_column(Boolean)
    stop_type: Mapped[str | None] = mapped_column(String(16))
    stop_reason: Mapped[str | None] = mapped_column(Text)
    # the pharmacy's reason for this change (MP9 ReasonModificationOrDiscontinuation);
    # added in migration 0008
    change_reason: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)


class ProductClass(Base):
    """The organisation pharmacist's classification of a product (GPK/PRK/HPK/ZI)."""

    __tablename__ = "etrs_product_classes"

    code_system: Mapped[str] = mapped_column(String(8), primary_key=True)  # gpk|prk|hpk|zi
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    # a high-risk class (etrs.risk.HIGH_RISK_CLASSES) or "none" for "classified, not high-risk"
    risk_class: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime]


class Administration(Base):
    """An append-only administration record; a correction is a new row pointing back."""

    __tablename__ = "etrs_administrations"
    __table_args__ = (
        # One original record per planned moment (corrections point at it instead).
        Index(
            "uq_etrs_administrations_moment",
            "moment_key",
            unique=True,
            sqlite_where=text("corrects_id IS NULL AND moment_key IS NOT NULL"),
            postgresql_where=text("corrects_id IS NULL AND moment_key IS NOT NULL"),
        ),
        Index("ix_etrs_administrations_client_at", "client_id", "recorded_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    version_id: Mapped[str] = mapped_column(ForeignKey("etrs_list_versions.id"))
    item_id: Mapped[str] = mapped_column(ForeignKey("etrs_list_items.id"), index=True)
    medication_key: Mapped[str] = mapped_column(String(200), index=True)
    moment_key: Mapped[str | None] = mapped_column(String(100))  # None for PRN
    planned_at: Mapped[datetime | None]
    # given | not_given | entered_in_error (only on a correction: nothing was given)
    outcome: Mapped[str] = mapped_column(String(20))
    given_by: Mapped[str] = mapped_column(String(12))  # person | dispenser
    prn: Mapped[bool] = mapped_column(Boolean)
    prn_reason: Mapped[str | None] = mapped_column(Text)
    actual_at: Mapped[datetime | None]
    amount: Mapped[Decimal | None] = mapped_column(Amount)
    amount_unit: Mapped[str | None] = mapped_column(String(50))
    reason_code: Mapped[str | None] = mapped_column(String(32))  # MP9 deviation reason
    reason_text: Mapped[str | None] = mapped_column(Text)
    double_check_required: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(128))  # user id or dispenser:<device>
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(128))
    corrects_id: Mapped[str | None] = mapped_column(
        ForeignKey("etrs_administrations.id"), unique=True
    )
    source_event_id: Mapped[str | None] = mapped_column(String(64))


class DoubleCheck(Base):
    """The second person's decision on an administration (once, never changed)."""

    __tablename__ = "etrs_double_checks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    administration_id: Mapped[str] = mapped_column(
        ForeignKey("etrs_administrations.id"), unique=True
    )
    checker_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(8))  # confirm | reject
    method: Mapped[str] = mapped_column(String(12))  # same_device | remote
    client_id: Mapped[str] = mapped_column(String(64))
    medication_key: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal | None] = mapped_column(Amount)
    moment_key: Mapped[str | None] = mapped_column(String(100))
    remark: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(128))


class CheckRequest(Base):
    """A request for a remote double check (appears in the qualified colleagues' inbox)."""

    __tablename__ = "etrs_check_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    administration_id: Mapped[str] = mapped_column(
        ForeignKey("etrs_administrations.id"), index=True
    )
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))  # None: anyone
    requested_at: Mapped[datetime]


class ListAcknowledgement(Base):
    """A nurse saw the changes of a list version for a client before signing against it."""

    __tablename__ = "etrs_list_acks"
    __table_args__ = (
        UniqueConstraint("version_id", "user_id", name="uq_etrs_list_acks_version_user"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("etrs_list_versions.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(128))


APPEND_ONLY_TABLES = (
    "etrs_list_versions",
    "etrs_list_items",
    "etrs_administrations",
    "etrs_double_checks",
    "etrs_check_requests",
    "etrs_list_acks",
)

# The ORM guard must be active whenever these models are; imported last to avoid a cycle.
from etrs import immutable as _immutable  # noqa: E402, F401
