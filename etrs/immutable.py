"""Refuse UPDATE and DELETE of append-only eTRS rows at the ORM level.

The database refuses them too (triggers in migration 0002); this layer fails earlier
with a clear message and also catches bulk `update()`/`delete()` statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper, ORMExecuteState, Session

from etrs.models import (
    Administration,
    CheckRequest,
    DoubleCheck,
    ListAcknowledgement,
    ListItem,
    ListVersion,
)

APPEND_ONLY = (
    Administration,
    DoubleCheck,
    CheckRequest,
    ListAcknowledgement,
    ListItem,
    ListVersion,
)


class AppendOnlyViolation(RuntimeError):
    """An attempt to change or remove a record that may only be added to."""


def _refuse(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    raise AppendOnlyViolation(
        f"{type(target).__name__} rows are append-only: record a correction instead"
    )


for _cls in APPEND_ONLY:
    event.listen(_cls, "before_update", _refuse)
    event.listen(_cls, "before_delete", _refuse)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    for mapper in state.all_mappers:
        if mapper.class_ in APPEND_ONLY:
            raise AppendOnlyViolation(
                f"bulk change of append-only {mapper.class_.__name__} rows refused"
            )
