"""Who may see which alerts: the clients of her teams, and at night the night team's alerts.

A nurse or team lead sees the alerts of the clients of her teams (like all client data,
hub.auth); a member of a night team also sees, during the night hours, the alerts that
routing gave to her night team (`Alert.team_id`). Administrators see everything; other
roles (pharmacist, family) see no alerts here. The list is filtered in SQL; the SSE stream
checks each change against the same scope, reloaded now and then so a long-lived dashboard
follows team changes.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.models import Alert
from hub.alerts.service import Routing
from hub.auth.deps import current_user
from hub.auth.models import User
from hub.auth.service import CARE_ROLES, team_ids_of
from hub.rules.localtime import in_window, parse_hhmm
from hub.store.db import unit_of_work
from hub.store.models import Client, Team

RELOAD_S = 60.0


@dataclass(frozen=True, slots=True)
class AlertScope:
    """The alerts one user may see; `everything` for administrators (and tests)."""

    everything: bool = False
    client_ids: frozenset[str] = frozenset()
    night_team_ids: frozenset[str] = frozenset()
    routing: Routing = field(default_factory=Routing)
    actor: str = "system"
    reload: Callable[[], AlertScope] | None = field(default=None, compare=False)
    loaded_at: float = field(default_factory=_time.monotonic, compare=False)

    def is_night(self, now: datetime) -> bool:
        """True when the night team is on duty at `now`."""
        r = self.routing
        return in_window(now, parse_hhmm(r.night_start), parse_hhmm(r.night_end))

    def allows(self, alert: Alert | dict[str, Any], now: datetime | None = None) -> bool:
        """True when this user may see the alert (an ORM row or the SSE JSON form)."""
        if self.everything:
            return True
        if isinstance(alert, Alert):
            client_id: object = alert.client_id
            team_id: object = alert.team_id
        else:
            client_id, team_id = alert.get("client_id"), alert.get("team_id")
        if client_id in self.client_ids:
            return True
        return (
            isinstance(team_id, str)
            and team_id in self.night_team_ids
            and self.is_night(now or datetime.now(UTC))
        )

    def where(self, now: datetime | None = None) -> ColumnElement[bool]:
        """The same test as a SQL condition on `alerts`."""
        if self.everything:
            return true()
        conds: list[ColumnElement[bool]] = []
        if self.client_ids:
            conds.append(Alert.client_id.in_(sorted(self.client_ids)))
        if self.night_team_ids and self.is_night(now or datetime.now(UTC)):
            conds.append(Alert.team_id.in_(sorted(self.night_team_ids)))
        return or_(*conds) if conds else false()

    def stale(self) -> bool:
        """True when the scope should be reloaded (team changes, new clients)."""
        return self.reload is not None and _time.monotonic() - self.loaded_at > RELOAD_S


EVERYTHING = AlertScope(everything=True)


def scope_of(session: Session, user: User, *, routing: Routing | None = None) -> AlertScope:
    """The alert scope of a signed-in user."""
    r = routing or Routing()
    actor = f"user:{user.id}"
    if not user.active:
        return AlertScope(routing=r, actor=actor)
    if user.role == "admin":
        return AlertScope(everything=True, routing=r, actor=actor)
    if user.role not in CARE_ROLES:
        return AlertScope(routing=r, actor=actor)
    teams = team_ids_of(session, user=user)
    if not teams:
        return AlertScope(routing=r, actor=actor)
    clients = frozenset(session.scalars(select(Client.id).where(Client.team_id.in_(teams))))
    night_kind = set(session.scalars(select(Team.id).where(Team.kind == "night")))
    # The configured night team counts as one even if its kind says otherwise.
    night = frozenset(t for t in teams if t in night_kind or t == r.night_team_id)
    return AlertScope(client_ids=clients, night_team_ids=night, routing=r, actor=actor)


def alert_routing(request: Request) -> Routing:
    """The organisation's routing setting of this app (`app.state.alert_routing`)."""
    routing: Routing | None = getattr(request.app.state, "alert_routing", None)
    return routing or Routing()


def user_scope(request: Request) -> AlertScope:
    """FastAPI dependency: the signed-in user's alert scope, reloadable for SSE streams.

    It reads in a short session of its own rather than the request's unit of work: an SSE
    response lives for hours and must not hold a database connection (or transaction).
    """
    routing = alert_routing(request)
    factory: sessionmaker[Session] | None = getattr(request.app.state, "sessionmaker", None)
    if factory is None:
        raise RuntimeError("app.state.sessionmaker is not set")
    with unit_of_work(factory) as session:
        user = current_user(request, session)
        user_id = user.id
        scope = scope_of(session, user, routing=routing)

    def reload() -> AlertScope:
        with unit_of_work(factory) as s:
            fresh = s.get(User, user_id)
            if fresh is None:
                return _with_reload(AlertScope(routing=routing, actor=f"user:{user_id}"), reload)
            return _with_reload(scope_of(s, fresh, routing=routing), reload)

    return _with_reload(scope, reload)


def _with_reload(scope: AlertScope, reload: Callable[[], AlertScope]) -> AlertScope:
    return AlertScope(
        everything=scope.everything,
        client_ids=scope.client_ids,
        night_team_ids=scope.night_team_ids,
        routing=scope.routing,
        actor=scope.actor,
        reload=reload,
    )
