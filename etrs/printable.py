"""Printable pages: a backup list of the day's rounds (for downtime) and a MAR per client."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from etrs.schedule import AMSTERDAM
from etrs.schemas import NOT_GIVEN_REASONS
from etrs.service import DEFAULT_POLICY, EtrsPolicy, client_history, moments_for
from hub.auth.models import User
from hub.store.models import Client

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _fmt(at: datetime | None) -> str:
    return at.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M") if at else ""


def backup_list_html(
    session: Session,
    *,
    user: User,
    day: date,
    source: str,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> str:
    """Today's rounds for the user's clients as a printable page (each read is logged)."""
    when = now or datetime.now(UTC)
    moments = moments_for(session, user=user, day=day, source=source, now=when, policy=policy)
    per_client: dict[str, list[dict[str, object]]] = {}
    heads: dict[str, dict[str, object]] = {}
    for m in moments:
        heads.setdefault(m.client_id, {"name": m.client_name, "version_no": m.version_no})
        per_client.setdefault(m.client_id, []).append(
            m.model_dump() | {"planned_local": _fmt(m.planned_at)}
        )
    clients = [heads[cid] | {"moments": rows} for cid, rows in per_client.items()]
    return _ENV.get_template("backup_list.html").render(
        day=day.strftime("%d-%m-%Y"),
        printed=_fmt(when),
        user=user.display_name,
        clients=clients,
    )


def mar_html(
    session: Session,
    *,
    user: User,
    client_id: str,
    start: datetime,
    end: datetime,
    source: str,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> str:
    """A client's administration record over a period as a printable page."""
    when = now or datetime.now(UTC)
    records = client_history(
        session,
        user=user,
        client_id=client_id,
        start=start,
        end=end,
        source=source,
        now=when,
        policy=policy,
    )
    client = session.get(Client, client_id)
    names: dict[str, str] = {}

    def who(actor: str) -> str:
        if actor not in names:
            u = session.get(User, actor)
            names[actor] = u.display_name if u else actor
        return names[actor]

    rows = []
    for r in records:
        amount = f"{Decimal(r.amount).normalize():f} {r.amount_unit or ''}" if r.amount else ""
        check = ""
        if r.check is not None:
            check = f"{r.check.decision} door {who(r.check.checker_id)} {_fmt(r.check.checked_at)}"
        rows.append(
            {
                "planned": _fmt(r.planned_at) if r.planned_at else ("zo nodig" if r.prn else ""),
                "actual": _fmt(r.actual_at),
                "medication": r.medication_name,
                "amount": amount.strip(),
                "status": r.status,
                "reason": r.prn_reason
                or r.reason_text
                or (NOT_GIVEN_REASONS.get(r.reason_code or "", "") if r.reason_code else ""),
                "by": who(r.recorded_by),
                "check": check,
                "recorded": _fmt(r.recorded_at),
                "corrected": r.corrected_by_id is not None,
                "correction": r.corrects_id is not None,
            }
        )
    return _ENV.get_template("mar.html").render(
        client=client.display_name if client else client_id,
        start=_fmt(start),
        end=_fmt(end),
        printed=_fmt(when),
        user=user.display_name,
        rows=rows,
    )
