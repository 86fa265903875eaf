"""Import every package's models so one metadata holds all tables (for Alembic and tests)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from hub.store.base import Base

# Modules that define models. A package adding tables adds its module here.
MODEL_MODULES: tuple[str, ...] = (
    "hub.store.models",
    "hub.auth.models",
    "etrs.models",
    "hub.rules.models",
    "hub.alerts.models",
    "hub.robots.models",
    "hub.family.models",
    "hub.tasks.models",
    "hub.shards.models",
)


def all_metadata() -> MetaData:
    """The metadata with every model module imported."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata
