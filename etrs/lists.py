"""Pharmacy list versions: store (idempotent), diff, classification and acknowledgement."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from etrs.bsn import is_valid_bsn
from etrs.drafts import ClientListDraft, ItemDraft, Schedule
from etrs.models import ListAcknowledgement, ListItem, ListVersion, ProductClass
from etrs.risk import Classification, RiskPolicy, classify, needs_double_check
from hub import audit
from hub.auth.models import User
from hub.auth.service import NotFoundError, pharmacy_serves, require_client_access
from hub.store.models import Client

CODE_SYSTEMS = ("gpk", "prk", "hpk", "zi")


class ListError(ValueError):
    """A list upload that cannot be stored (message says why)."""


@dataclass(frozen=True)
class StoredList:
    """Result of storing a list: the version in force and whether it is new."""

    version: ListVersion
    created: bool
    diff: dict[str, Any]


def _new_id() -> str:
    return uuid.uuid4().hex


def medication_key(
    codes_gpk: str | None, prk: str | None, hpk: str | None, zi: str | None, name: str
) -> str:
    """Identity of a medication across list versions: the most generic code, else the name."""
    for system, code in (("gpk", codes_gpk), ("prk", prk), ("hpk", hpk), ("zi", zi)):
        if code:
            return f"{system}:{code.strip()}"
    return "name:" + " ".join(name.lower().split())[:190]


def _draft_key(item: ItemDraft) -> str:
    c = item.codes
    return medication_key(c.gpk, c.prk, c.hpk, c.zi, item.medication_name)


def content_hash(draft: ClientListDraft) -> str:
    """Hash of the list content; item order, issue time and client name do not count."""
    items = sorted(
        json.dumps(i.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        for i in draft.items
    )
    body = json.dumps([draft.bsn, items], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _dose_text(
    value: Decimal | None, low: Decimal | None, high: Decimal | None, unit: str | None
) -> str | None:
    if value is not None:
        return f"{value.normalize():f} {unit or ''}".strip()
    if low is not None or high is not None:
        lo = f"{low.normalize():f}" if low is not None else "?"
        hi = f"{high.normalize():f}" if high is not None else "?"
        return f"{lo}-{hi} {unit or ''}".strip()
    return None


def _num(v: Decimal | None) -> str | None:
    return None if v is None else f"{Decimal(v).normalize():f}"


def _comparable(item: ListItem) -> dict[str, Any]:
    sched = Schedule.model_validate(item.schedule)
    return {
        "dose": _dose_text(item.dose_value, item.dose_low, item.dose_high, item.dose_unit),
        "time": {
            "times_of_day": sorted(sched.times_of_day),
            "weekdays": sorted(sched.weekdays),
            "frequency": sched.frequency,
            "period_days": _num(sched.period_days),
            "interval_days": sched.interval_days,
            "cycle": [sched.cycle_length_days, sched.cycle_on_days],
            "start": sched.start.isoformat() if sched.start else None,
            "end": sched.end.isoformat() if sched.end else None,
            "period": [
                item.period_start.isoformat() if item.period_start else None,
                item.period_end.isoformat() if item.period_end else None,
            ],
        },
        "route": item.route_code or item.route,
        "prn": [item.prn, _num(item.prn_max_per_24h), item.prn_indication],
        "instructions": item.instructions,
        "packaging": [item.in_gds, item.dispenser_managed],
    }


def item_summary(item: ListItem) -> dict[str, Any]:
    """What a nurse needs to see of an item in a change overview."""
    sched = Schedule.model_validate(item.schedule)
    return {
        "item_id": item.id,
        "medication_key": item.medication_key,
        "name": item.medication_name,
        "dose": _dose_text(item.dose_value, item.dose_low, item.dose_high, item.dose_unit),
        "times": sorted(sched.times_of_day),
        "route": item.route,
        "prn": item.prn,
        "stopped": item.stopped,
    }


def diff_items(old: list[ListItem], new: list[ListItem]) -> dict[str, Any]:
    """Added, stopped and changed (dose/time/route/other) items between two versions."""
    old_by: dict[str, list[ListItem]] = defaultdict(list)
    new_by: dict[str, list[ListItem]] = defaultdict(list)
    for i in old:
        if not i.stopped:
            old_by[i.medication_key].append(i)
    for i in new:
        new_by[i.medication_key].append(i)
    added: list[dict[str, Any]] = []
    stopped: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for key in sorted(set(old_by) | set(new_by)):
        olds = list(old_by.get(key, []))
        news = list(new_by.get(key, []))
        pairs: list[tuple[ListItem, ListItem]] = []
        # Pair by the pharmacy's own id first, then in list order.
        for n in list(news):
            match = next((o for o in olds if o.source_id == n.source_id), None)
            if match is not None:
                pairs.append((match, n))
                olds.remove(match)
                news.remove(n)
        pairs.extend(zip(olds, news, strict=False))
        paired_old = {id(o) for o, _ in pairs}
        paired_new = {id(n) for _, n in pairs}
        for o, n in pairs:
            if n.stopped:
                stopped.append(item_summary(n) | {"reason": n.stop_reason})
                continue
            before, after = _comparable(o), _comparable(n)
            fields = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
            if fields:
                changed.append(
                    item_summary(n)
                    | {"changes": sorted(fields), "before": item_summary(o), "detail": fields}
                )
            else:
                unchanged += 1
        for o in olds:
            if id(o) not in paired_old:
                stopped.append(item_summary(o) | {"reason": "not on the new list"})
        for n in news:
            if id(n) not in paired_new:
                (stopped if n.stopped else added).append(item_summary(n))
    return {"added": added, "stopped": stopped, "changed": changed, "unchanged": unchanged}


def _item_from_draft(version_id: str, position: int, d: ItemDraft) -> ListItem:
    dose = d.dose
    return ListItem(
        id=_new_id(),
        version_id=version_id,
        position=position,
        source_id=d.source_id,
        medication_key=_draft_key(d),
        medication_name=d.medication_name,
        zi=d.codes.zi,
        hpk=d.codes.hpk,
        prk=d.codes.prk,
        gpk=d.codes.gpk,
        atc=d.codes.atc,
        strength=d.strength,
        form=d.form,
        dose_value=dose.value if dose else None,
        dose_low=dose.low if dose else None,
        dose_high=dose.high if dose else None,
        dose_unit=dose.unit if dose else None,
        dose_unit_code=dose.unit_code if dose else None,
        route=d.route,
        route_code=d.route_code,
        schedule=d.schedule.model_dump(mode="json"),
        prn=d.prn,
        prn_indication=d.prn_indication,
        prn_max_per_24h=d.prn_max_per_24h,
        instructions=d.instructions,
        in_gds=d.in_gds,
        dispenser_managed=d.dispenser_managed,
        high_risk_flag=d.high_risk_flag,
        exact_time=d.exact_time,
        stopped=d.stopped,
        stop_type=d.stop_type,
        stop_reason=d.stop_reason,
        period_start=d.period_start,
        period_end=d.period_end,
    )


def latest_version(session: Session, *, client_id: str) -> ListVersion | None:
    """The client's newest list version (the one in force)."""
    return session.scalar(
        select(ListVersion)
        .where(ListVersion.client_id == client_id)
        .order_by(ListVersion.version_no.desc())
        .limit(1)
    )


def items_of(session: Session, *, version_id: str) -> list[ListItem]:
    """A version's items in list order."""
    return list(
        session.scalars(
            select(ListItem).where(ListItem.version_id == version_id).order_by(ListItem.position)
        )
    )


def store_list_version(
    session: Session,
    *,
    pharmacy_id: str,
    draft: ClientListDraft,
    actor: str,
    source: str,
    origin: str = "import",
    now: datetime | None = None,
) -> StoredList:
    """Store a pharmacy's list as a new immutable version, or return the equal current one."""
    when = now or datetime.now(UTC)
    if not is_valid_bsn(draft.bsn):
        raise ListError("the list's BSN fails the elfproef")
    client = session.scalar(select(Client).where(Client.bsn == draft.bsn))
    if client is None or not pharmacy_serves(session, pharmacy_id=pharmacy_id, client_id=client.id):
        # A pharmacy learns nothing about clients it does not supply.
        raise NotFoundError("no client with this BSN among the pharmacy's clients")
    digest = content_hash(draft)
    current = latest_version(session, client_id=client.id)
    if current is not None and current.content_hash == digest:
        audit.record(
            session,
            actor=actor,
            action="etrs.list.resubmitted",
            object_type="etrs_list_version",
            object_id=current.id,
            client_id=client.id,
            source=origin,
            detail={"pharmacy_id": pharmacy_id, "format": source},
            at=when,
        )
        return StoredList(current, False, current.diff)
    version = ListVersion(
        id=_new_id(),
        client_id=client.id,
        pharmacy_id=pharmacy_id,
        version_no=(current.version_no + 1) if current else 1,
        content_hash=digest,
        supersedes_id=current.id if current else None,
        issued_at=draft.issued_at,
        received_at=when,
        received_by=actor,
        source=source,
        diff={},
    )
    items = [_item_from_draft(version.id, n, d) for n, d in enumerate(draft.items)]
    old_items = items_of(session, version_id=current.id) if current else []
    version.diff = diff_items(old_items, items)
    session.add(version)
    session.flush()
    session.add_all(items)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="etrs.list.stored",
        object_type="etrs_list_version",
        object_id=version.id,
        client_id=client.id,
        source=origin,
        detail={
            "pharmacy_id": pharmacy_id,
            "format": source,
            "version_no": version.version_no,
            "items": len(items),
            "added": len(version.diff["added"]),
            "stopped": len(version.diff["stopped"]),
            "changed": len(version.diff["changed"]),
        },
        at=when,
    )
    return StoredList(version, True, version.diff)


# --- classification ------------------------------------------------------------------------


def table_class_for(session: Session, item: ListItem) -> str | None:
    """The product table's class for the item's most specific known code."""
    keys = [(system, getattr(item, system)) for system in ("hpk", "prk", "gpk", "zi")]
    keys = [(system, code) for system, code in keys if code]
    if not keys:
        return None
    rows = {
        (r.code_system, r.code): r.risk_class
        for r in session.scalars(
            select(ProductClass).where(
                or_(
                    *(
                        and_(ProductClass.code_system == sy, ProductClass.code == c)
                        for sy, c in keys
                    )
                )
            )
        )
    }
    for key in keys:
        if key in rows:
            return rows[key]
    return None


def classify_item(session: Session, item: ListItem, policy: RiskPolicy) -> Classification:
    """The item's risk classification from ATC, pharmacy flag and product table."""
    return classify(
        atc=item.atc,
        pharmacy_flag=item.high_risk_flag,
        table_class=table_class_for(session, item),
        policy=policy,
    )


def item_needs_double_check(session: Session, item: ListItem, policy: RiskPolicy) -> bool:
    """True when administering this item needs a second person (evaluated now)."""
    return needs_double_check(
        classify_item(session, item, policy), in_gds=item.in_gds, policy=policy
    )


def _require_pharmacist(user: User) -> None:
    if user.role not in ("pharmacist", "admin") or not user.active:
        raise PermissionError("only a pharmacist or administrator maintains the product table")


def set_product_class(
    session: Session,
    *,
    user: User,
    code_system: str,
    code: str,
    risk_class: str,
    source: str,
    now: datetime | None = None,
) -> ProductClass:
    """Classify a product (risk class or "none"); the organisation pharmacist's decision."""
    _require_pharmacist(user)
    if code_system not in CODE_SYSTEMS:
        raise ValueError(f"code system must be one of {', '.join(CODE_SYSTEMS)}")
    code = code.strip()
    risk_class = risk_class.strip().lower()
    if not code or not risk_class:
        raise ValueError("code and class are required")
    when = now or datetime.now(UTC)
    row = session.get(ProductClass, (code_system, code))
    before = row.risk_class if row else None
    if row is None:
        row = ProductClass(
            code_system=code_system, code=code, risk_class=risk_class, set_by=user.id, set_at=when
        )
        session.add(row)
    else:
        row.risk_class, row.set_by, row.set_at = risk_class, user.id, when
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="etrs.product_class.set",
        object_type="etrs_product_class",
        object_id=f"{code_system}:{code}",
        source=source,
        detail={"before": before, "after": risk_class},
        at=when,
    )
    return row


def import_product_classes_csv(
    session: Session, *, user: User, text: str, source: str, now: datetime | None = None
) -> int:
    """Import `code_system,code,class` rows (header required); returns the rows applied."""
    _require_pharmacist(user)
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or {"code_system", "code", "class"} - set(reader.fieldnames):
        raise ValueError("CSV header must contain code_system,code,class")
    rows = list(reader)
    for n, row in enumerate(rows, start=2):
        if (row.get("code_system") or "").strip().lower() not in CODE_SYSTEMS:
            raise ValueError(f"line {n}: unknown code system {row.get('code_system')!r}")
        if not (row.get("code") or "").strip() or not (row.get("class") or "").strip():
            raise ValueError(f"line {n}: code and class are required")
    for row in rows:
        set_product_class(
            session,
            user=user,
            code_system=(row["code_system"]).strip().lower(),
            code=row["code"],
            risk_class=row["class"],
            source=source,
            now=now,
        )
    return len(rows)


# --- acknowledgement of changes -------------------------------------------------------------


def has_acknowledged(session: Session, *, user_id: str, version_id: str) -> bool:
    """True when the user acknowledged this list version."""
    return (
        session.scalar(
            select(ListAcknowledgement.id).where(
                ListAcknowledgement.user_id == user_id,
                ListAcknowledgement.version_id == version_id,
            )
        )
        is not None
    )


def list_changes(
    session: Session, *, user: User, client_id: str, source: str, now: datetime | None = None
) -> dict[str, Any]:
    """The client's current list with its changes and whether this user acknowledged them."""
    require_client_access(session, user, client_id)
    version = latest_version(session, client_id=client_id)
    view: dict[str, Any] | None = None
    if version is not None:
        view = {
            "version_id": version.id,
            "version_no": version.version_no,
            "received_at": version.received_at.isoformat(),
            "changes": version.diff,
            "acknowledged": has_acknowledged(session, user_id=user.id, version_id=version.id),
            "items": [item_summary(i) for i in items_of(session, version_id=version.id)],
        }
    audit.record(
        session,
        actor=user.id,
        action="etrs.list.read",
        object_type="etrs_list_version",
        object_id=version.id if version else "-",
        client_id=client_id,
        source=source,
        at=now,
    )
    if view is None:
        raise NotFoundError("this client has no administration list")
    return view


def acknowledge_changes(
    session: Session,
    *,
    user: User,
    client_id: str,
    version_id: str,
    source: str,
    now: datetime | None = None,
) -> ListAcknowledgement:
    """Record that the user saw the changes of this list version (idempotent)."""
    require_client_access(session, user, client_id)
    version = session.get(ListVersion, version_id)
    if version is None or version.client_id != client_id:
        raise NotFoundError("no such list version for this client")
    if user.role not in ("nurse", "team_lead"):
        raise PermissionError("only carers acknowledge list changes")
    existing = session.scalar(
        select(ListAcknowledgement).where(
            ListAcknowledgement.user_id == user.id, ListAcknowledgement.version_id == version_id
        )
    )
    if existing is not None:
        return existing
    when = now or datetime.now(UTC)
    ack = ListAcknowledgement(
        id=_new_id(),
        client_id=client_id,
        version_id=version_id,
        user_id=user.id,
        acknowledged_at=when,
        source=source,
    )
    session.add(ack)
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="etrs.list.acknowledged",
        object_type="etrs_list_version",
        object_id=version_id,
        client_id=client_id,
        source=source,
        detail={"version_no": version.version_no},
        at=when,
    )
    return ack
