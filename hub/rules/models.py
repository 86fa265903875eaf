"""Care plans as stored: one row per client, parameters as JSON (validated by CarePlan)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.base import Base, JSONType


class CarePlanRow(Base):
    """A client's monitoring care plan (zorgplan): rule switches and parameters."""

    __tablename__ = "care_plans"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))
