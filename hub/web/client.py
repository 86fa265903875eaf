"""The client page: list changes to acknowledge, active list, PRN, history and daily rhythm."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from etrs import lists, service
from etrs.models import ListItem
from etrs.routes import NowDep
from etrs.schedule import AMSTERDAM
from etrs.service import SignOffRefused
from hub import audit
from hub.auth.deps import SessionDep, request_source
from hub.auth.service import NotFoundError, require_client_access
from hub.store.models import Client, Event
from hub.web.charts import Mark, heatmap_svg, timeline_svg
from hub.web.i18n import lang_of, translator
from hub.web.round import (
    FORMATS,
    Care,
    CareDep,
    CareUser,
    administration_view,
    hm,
    parse_amount,
    reason_choices,
    see_other,
    signed_off,
)
from hub.web.routes import render

router = APIRouter(prefix="/clients", include_in_schema=False)

RHYTHM_DAYS = 14
ACTIVITY_TYPES = ("motion", "contact", "occupancy")
DOSE_EVENTS = {"dose.taken": "dose", "dose.missed": "missed"}


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=AMSTERDAM)


def rhythm(
    session: Session, *, client: Client, now: datetime, t: Any
) -> tuple[dict[tuple[date, int], int], list[date], list[Mark]]:
    """Activity counts per local day and hour over 14 days, and today's marks."""
    today = now.astimezone(AMSTERDAM).date()
    days = [today - timedelta(days=n) for n in range(RHYTHM_DAYS - 1, -1, -1)]
    counts: Counter[tuple[date, int]] = Counter()
    marks: list[Mark] = []
    if client.home_id is None:
        return dict(counts), days, marks
    start = _local_midnight(days[0])
    rows = session.execute(
        select(Event.ts, Event.type, Event.data)
        .where(Event.home_id == client.home_id, Event.ts >= start, Event.ts <= now)
        .order_by(Event.ts)
    )
    today_start = _local_midnight(today)
    for ts, kind, data in rows:
        local = ts.astimezone(AMSTERDAM)
        if kind in ACTIVITY_TYPES:
            counts[(local.date(), local.hour)] += 1
        if ts < today_start:
            continue
        if kind == "motion":
            marks.append(Mark(ts, t(f"room.{data.get('room')}"), t("event.motion"), "room"))
        elif kind == "contact" and data.get("state") == "open":
            marks.append(Mark(ts, t(f"door.{data.get('door')}"), t("event.open"), "door"))
        elif kind == "occupancy" and data.get("state") == "occupied":
            marks.append(Mark(ts, t(f"place.{data.get('place')}"), t("event.occupied"), "room"))
        elif kind in DOSE_EVENTS:
            marks.append(Mark(ts, t("lane.dispenser"), t(f"event.{kind}"), DOSE_EVENTS[kind]))
    return dict(counts), days, marks


def _page(c: Care, client_id: str, *, error: str | None = None, status: int = 200) -> Response:
    session, user, now, source = c.session, c.user, c.now, c.source
    try:
        client = require_client_access(session, user, client_id)
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    t = translator(lang_of(c.request))
    try:
        current = lists.list_changes(
            session, user=user, client_id=client_id, source=source, now=now
        )
    except NotFoundError:
        current = None  # no list yet: the rhythm is still worth seeing
    prn_items: list[ListItem] = []
    if current is not None:
        prn_items = [
            i
            for i in lists.items_of(session, version_id=current["version_id"])
            if i.prn and not i.stopped
        ]
    today = now.astimezone(AMSTERDAM).date()
    moments = service.moments_for(
        session, user=user, day=today, source=source, client_id=client_id, now=now, policy=c.policy
    )
    history = service.client_history(
        session,
        user=user,
        client_id=client_id,
        start=now - timedelta(days=7),
        end=now + timedelta(minutes=1),
        source=source,
        now=now,
        policy=c.policy,
    )
    counts, days, marks = rhythm(session, client=client, now=now, t=t)
    audit.record(
        session,
        actor=user.id,
        action="web.rhythm.read",
        object_type="client",
        object_id=client_id,
        client_id=client_id,
        source=source,
        detail={"days": RHYTHM_DAYS, "activity": sum(counts.values()), "today": len(marks)},
        at=now,
    )
    lane = t("lane.doses")
    for m in moments:
        if m.status in ("given", "awaiting_check"):
            at = (m.administration.actual_at if m.administration else None) or m.planned_at
            marks.append(Mark(at, lane, f"{m.medication_name} {t('status.' + m.status)}", "dose"))
        elif m.status in ("not_given", "overdue", "check_rejected", "check_expired"):
            marks.append(
                Mark(m.planned_at, lane, f"{m.medication_name} {t('status.' + m.status)}", "missed")
            )
        elif m.status == "open":
            marks.append(
                Mark(m.planned_at, lane, f"{m.medication_name} {t('status.open')}", "planned")
            )
    day_names = [t(f"day.{n}") for n in range(7)]
    return render(
        c.request,
        "client/client.html",
        user=user,
        **FORMATS,
        active="round",
        client=client,
        current=current,
        prn_items=prn_items,
        moments=moments,
        history=history,
        heatmap=heatmap_svg(counts, days, label=t("rhythm.heatmap"), day_names=day_names),
        timeline=timeline_svg(marks, label=t("rhythm.timeline"), now=now),
        error=error,
        status=status,
    )


@router.get("/{client_id}", response_class=HTMLResponse)
def client_page(client_id: str, c: CareDep) -> Response:
    return _page(c, client_id)


@router.post("/{client_id}/acknowledge", response_class=HTMLResponse)
def acknowledge(
    client_id: str,
    request: Request,
    session: SessionDep,
    user: CareUser,
    now: NowDep,
    version_id: Annotated[str, Form()],
) -> Response:
    try:
        lists.acknowledge_changes(
            session,
            user=user,
            client_id=client_id,
            version_id=version_id,
            source=request_source(request),
            now=now,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    return see_other(session, f"/clients/{client_id}?acknowledged=1")


@router.post("/{client_id}/prn", response_class=HTMLResponse)
def give_prn(
    client_id: str,
    c: CareDep,
    item_id: Annotated[str, Form()],
    amount: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        value = parse_amount(amount)
        if value is None:
            raise SignOffRefused("the amount given must be positive")
        view = service.give_prn(
            c.session,
            user=c.user,
            client_id=client_id,
            item_id=item_id,
            amount=value,
            reason=reason,
            source=c.source,
            now=c.now,
            policy=c.policy,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except (SignOffRefused, PermissionError) as exc:
        return _page(c, client_id, error=c.refusal(exc), status=409)
    return signed_off(c, view, f"/clients/{client_id}?prn=1#history")


# --- corrections: a new record pointing at the wrong one (MP9 159691000146109) ----------


def _correction_page(
    c: Care,
    client_id: str,
    administration_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    record = administration_view(c, administration_id)
    if record.client_id != client_id:
        raise HTTPException(404)
    client = c.session.get(Client, client_id)
    t = translator(lang_of(c.request))
    return render(
        c.request,
        "client/correct.html",
        user=c.user,
        **FORMATS,
        active="round",
        client=client,
        record=record,
        reasons=reason_choices(t),
        default_time=hm(record.actual_at or record.planned_at or c.now),
        error=error or (t("correct.done") if record.corrected_by_id else None),
        status=status,
    )


def _given_at(raw: str, *, day_of: datetime) -> datetime | None:
    """ "HH:MM" on the Amsterdam calendar day of the original moment (None when empty)."""
    text = raw.strip()
    if not text:
        return None
    try:
        hour, minute = (int(x) for x in text.replace(".", ":").split(":"))
        return datetime.combine(
            day_of.astimezone(AMSTERDAM).date(), time(hour, minute), tzinfo=AMSTERDAM
        )
    except ValueError as exc:
        raise SignOffRefused("the time given is not a time of day (HH:MM)") from exc


@router.get("/{client_id}/correct/{administration_id}", response_class=HTMLResponse)
def correction_form(client_id: str, administration_id: str, c: CareDep) -> Response:
    return _correction_page(c, client_id, administration_id)


@router.post("/{client_id}/correct/{administration_id}", response_class=HTMLResponse)
def correct(
    client_id: str,
    administration_id: str,
    c: CareDep,
    outcome: Annotated[Literal["given", "not_given", "entered_in_error"], Form()],
    actual_time: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    reason_text: Annotated[str, Form()] = "",
) -> Response:
    """Record the correction (never an update of the old record) and show the history."""
    original = administration_view(c, administration_id)
    if original.client_id != client_id:
        raise HTTPException(404)
    try:
        view = service.correct_administration(
            c.session,
            user=c.user,
            administration_id=administration_id,
            outcome=outcome,
            source=c.source,
            actual_at=(
                _given_at(actual_time, day_of=original.planned_at or original.actual_at or c.now)
                if outcome == "given"
                else None
            ),
            amount=parse_amount(amount) if outcome == "given" else None,
            reason_code=(reason_code or None) if outcome == "not_given" else None,
            reason_text=reason_text.strip() or None,
            now=c.now,
            policy=c.policy,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except (SignOffRefused, PermissionError) as exc:
        return _correction_page(c, client_id, administration_id, error=c.refusal(exc), status=409)
    # "given after all" of a high-risk item needs its second person like any other
    return signed_off(c, view, f"/clients/{client_id}?corrected=1#history")
