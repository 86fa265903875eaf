"""Follow-up tasks: created by the alert pipeline, listed per team, completed once.

Append-only: a task row is never updated; completing it adds its one `task_completions`
row (a second completion is refused). Services never commit; every change and every read
by a person is audit-logged (NEN 7513).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import audit
from hub.tasks.models import Task, TaskCompletion

SOURCE = "hub.tasks"
StatusFilter = Literal["open", "done", "all"]


class TaskNotFound(LookupError):
    """No task with that id (or not one the user may see)."""


class TaskError(ValueError):
    """A request the task's state does not allow (e.g. done twice)."""


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task with its completion, if any."""

    task: Task
    completion: TaskCompletion | None


def create_task(
    session: Session,
    *,
    client_id: str,
    team_id: str | None,
    kind: str,
    title: str,
    dedup_key: str,
    actor: str,
    detail: dict[str, Any] | None = None,
    source_alert_id: int | None = None,
    source_event_id: str | None = None,
    now: datetime | None = None,
) -> Task | None:
    """Add a task unless one with this dedup key exists (then None); audit-logged."""
    at = now or datetime.now(UTC)
    row: dict[str, Any] = {
        "client_id": client_id,
        "team_id": team_id,
        "kind": kind,
        "title": title[:200],
        "detail": detail or {},
        "source_alert_id": source_alert_id,
        "source_event_id": source_event_id,
        "dedup_key": dedup_key[:200],
        "created_at": at,
        "created_by": actor,
    }
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(Task).on_conflict_do_nothing(index_elements=["dedup_key"])
    else:
        stmt = sqlite_insert(Task).on_conflict_do_nothing(index_elements=["dedup_key"])
    new_id = session.execute(stmt.values(**row).returning(Task.id)).scalar_one_or_none()
    if new_id is None:
        return None
    task = session.get(Task, new_id)
    assert task is not None
    audit.record(
        session,
        actor=actor,
        action="task.create",
        object_type="task",
        object_id=str(task.id),
        source=SOURCE,
        client_id=client_id,
        detail={"kind": kind, "source_alert_id": source_alert_id, "team_id": team_id},
        at=at,
    )
    return task


def list_tasks(
    session: Session,
    *,
    where: ColumnElement[bool] | None = None,
    status: StatusFilter = "open",
    client_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[TaskView]:
    """Tasks, newest first, with their completion; `where` is the user's scope."""
    q = select(Task, TaskCompletion).outerjoin(TaskCompletion, TaskCompletion.task_id == Task.id)
    q = q.where(where if where is not None else true())
    if status == "open":
        q = q.where(TaskCompletion.id.is_(None))
    elif status == "done":
        q = q.where(TaskCompletion.id.is_not(None))
    if client_id is not None:
        q = q.where(Task.client_id == client_id)
    q = q.order_by(Task.id.desc()).limit(limit).offset(offset)
    return [TaskView(t, c) for t, c in session.execute(q)]


def get_task(session: Session, *, task_id: int) -> TaskView:
    """One task with its completion; TaskNotFound if there is none."""
    task = session.get(Task, task_id)
    if task is None:
        raise TaskNotFound(task_id)
    done = session.scalar(select(TaskCompletion).where(TaskCompletion.task_id == task_id))
    return TaskView(task, done)


def complete_task(
    session: Session,
    *,
    task_id: int,
    actor: str,
    source: str = SOURCE,
    note: str | None = None,
    now: datetime | None = None,
) -> TaskView:
    """Mark a task done (once): a new completion record, audit-logged."""
    at = now or datetime.now(UTC)
    view = get_task(session, task_id=task_id)
    if view.completion is not None:
        raise TaskError(
            f"task {task_id} was already done by {view.completion.done_by} "
            f"at {view.completion.done_at.isoformat()}"
        )
    done = TaskCompletion(task_id=task_id, done_at=at, done_by=actor, note=note)
    if session.get_bind().dialect.name == "sqlite":
        session.add(done)
        session.flush()
    else:
        try:
            with session.begin_nested():  # two nurses at once: the unique task_id decides
                session.add(done)
                session.flush()
        except IntegrityError:
            raise TaskError(f"task {task_id} was just done by someone else") from None
    audit.record(
        session,
        actor=actor,
        action="task.done",
        object_type="task",
        object_id=str(task_id),
        source=source,
        client_id=view.task.client_id,
        detail={"kind": view.task.kind, "note": bool(note)},
        at=at,
    )
    return TaskView(view.task, done)


def log_view(session: Session, *, actor: str, source: str, views: Sequence[TaskView]) -> None:
    """Access-log a person's read of tasks."""
    clients = sorted({v.task.client_id for v in views})
    audit.record(
        session,
        actor=actor,
        action="tasks.view",
        object_type="task",
        object_id="*",
        source=source,
        client_id=clients[0] if len(clients) == 1 else None,
        detail={"clients": clients, "count": len(views)},
    )
