"""HTTP API of follow-up tasks: my teams' tasks, and marking one done.

Team-scoped like all client data: a user sees the tasks of the clients of her teams
(administrators: all); any other task is answered 404. Reads are access-logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, false, true

from hub.alerts.scope import AlertScope, scope_of
from hub.auth.deps import CurrentUser, SessionDep, SourceDep
from hub.tasks import service as svc
from hub.tasks.models import Task

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


class TaskOut(BaseModel):
    """A task as the API shows it; `status` is done once a completion is recorded."""

    id: int
    client_id: str
    team_id: str | None
    kind: str
    title: str
    detail: dict[str, Any]
    source_alert_id: int | None
    source_event_id: str | None
    created_at: datetime
    created_by: str
    status: Literal["open", "done"]
    done_at: datetime | None
    done_by: str | None
    note: str | None

    @classmethod
    def of(cls, view: svc.TaskView) -> TaskOut:
        """From the service's view."""
        t, c = view.task, view.completion
        return cls(
            id=t.id,
            client_id=t.client_id,
            team_id=t.team_id,
            kind=t.kind,
            title=t.title,
            detail=t.detail,
            source_alert_id=t.source_alert_id,
            source_event_id=t.source_event_id,
            created_at=t.created_at,
            created_by=t.created_by,
            status="open" if c is None else "done",
            done_at=c.done_at if c else None,
            done_by=c.done_by if c else None,
            note=c.note if c else None,
        )


class DoneIn(BaseModel):
    """Body of marking a task done (optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000, description="What was done, for the team")


def _where(scope: AlertScope) -> ColumnElement[bool]:
    if scope.everything:
        return true()
    if not scope.client_ids:
        return false()
    return Task.client_id.in_(sorted(scope.client_ids))


@router.get("", response_model=list[TaskOut])
def list_tasks(
    session: SessionDep,
    user: CurrentUser,
    source: SourceDep,
    status_: Annotated[
        Literal["open", "done", "all"], Query(alias="status", description="open, done or all")
    ] = "open",
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TaskOut]:
    """Tasks of my teams' clients, newest first (open ones by default)."""
    views = svc.list_tasks(
        session,
        where=_where(scope_of(session, user)),
        status=status_,
        client_id=client_id,
        limit=limit,
        offset=offset,
    )
    svc.log_view(session, actor=user.id, source=source, views=views)
    return [TaskOut.of(v) for v in views]


@router.post("/{task_id}/done", response_model=TaskOut)
def mark_done(
    task_id: int,
    session: SessionDep,
    user: CurrentUser,
    source: SourceDep,
    body: DoneIn | None = None,
) -> TaskOut:
    """Record that the task was done (once; a second time is answered 409)."""
    scope = scope_of(session, user)
    try:
        view = svc.get_task(session, task_id=task_id)
    except svc.TaskNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id} not found") from None
    if not (scope.everything or view.task.client_id in scope.client_ids):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id} not found")
    try:
        done = svc.complete_task(
            session,
            task_id=task_id,
            actor=f"user:{user.id}",
            source=source,
            note=body.note if body else None,
        )
    except svc.TaskError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return TaskOut.of(done)
