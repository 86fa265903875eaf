"""Pharmacy list versions: store (idempotent), diff, classification and acknowledgement."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from etrs.bsn import is_valid_bsn
from etrs.drafts import ClientListDraft, ItemDraft, Schedule
from etrs.models import ListAcknowledgement, ListItem, ListVersion, ProductClass
from etrs.risk import Classification, RiskPolicy, classify, needs_double_check
from hub import audit
from hub.auth.models import PharmacyClient, User
from hub.auth.service import NotFoundError, require_client_access
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


class ItemFields(Protocol):
    """What the diff reads of an item: a ListItem, a row of its table, or a new row."""

    @property
    def id(self) -> str: ...
    @property
    def source_id(self) -> str: ...
    @property
    def medication_key(self) -> str: ...
    @property
    def medication_name(self) -> str: ...
    @property
    def dose_value(self) -> Decimal | None: ...
    @property
    def dose_low(self) -> Decimal | None: ...
    @property
    def dose_high(self) -> Decimal | None: ...
    @property
    def dose_unit(self) -> str | None: ...
    @property
    def route(self) -> str | None: ...
    @property
    def route_code(self) -> str | None: ...
    @property
    def schedule(self) -> dict[str, Any]: ...
    @property
    def prn(self) -> bool: ...
    @property
    def prn_indication(self) -> str | None: ...
    @property
    def prn_max_per_24h(self) -> Decimal | None: ...
    @property
    def instructions(self) -> str | None: ...
    @property
    def in_gds(self) -> bool: ...
    @property
    def dispenser_managed(self) -> bool: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def stop_reason(self) -> str | None: ...
    @property
    def change_reason(self) -> str | None: ...
    @property
    def period_start(self) -> date | None: ...
    @property
    def period_end(self) -> date | None: ...


class _NewItem:
    """A list item about to be inserted, read like a ListItem (cheaper than an ORM object)."""

    __slots__ = ("row",)

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None


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


# Fields added to the drafts after lists were first stored: left out of the hash while
# empty, so a list stored before they existed keeps its hash (a resend stays a no-op).
_LATER_ITEM_FIELDS = ("change_reason",)
_LATER_SCHEDULE_FIELDS = ("frequency_max", "day_parts")


def _hashable(item: ItemDraft) -> dict[str, Any]:
    data = item.model_dump(mode="json")
    for key in _LATER_ITEM_FIELDS:
        if data.get(key) in (None, []):
            data.pop(key, None)
    schedule = data["schedule"]
    for key in _LATER_SCHEDULE_FIELDS:
        if schedule.get(key) in (None, []):
            schedule.pop(key, None)
    return data


def content_hash(draft: ClientListDraft) -> str:
    """Hash of the list content; item order, issue time and client name do not count."""
    items = sorted(
        json.dumps(_hashable(i), sort_keys=True, separators=(",", ":")) for i in draft.items
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


def _comparable(item: ItemFields) -> dict[str, Any]:
    sched = Schedule.model_validate(item.schedule)
    return {
        "dose": _dose_text(item.dose_value, item.dose_low, item.dose_high, item.dose_unit),
        "time": {
            "times_of_day": sorted(sched.times_of_day),
            "weekdays": sorted(sched.weekdays),
            "frequency": sched.frequency,
            "period_days": _num(sched.period_days),
            **({"frequency_max": sched.frequency_max} if sched.frequency_max else {}),
            **({"day_parts": list(sched.day_parts)} if sched.day_parts else {}),
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


def item_summary(item: ItemFields) -> dict[str, Any]:
    """What a nurse needs to see of an item in a change overview."""
    sched = Schedule.model_validate(item.schedule)
    return {
        "item_id": item.id,
        "medication_key": item.medication_key,
        "name": item.medication_name,
        "dose": _dose_text(item.dose_value, item.dose_low, item.dose_high, item.dose_unit),
        "times": sorted(sched.times_of_day),
        "day_parts": list(sched.day_parts),
        "frequency": sched.frequency,
        "frequency_max": sched.frequency_max,
        "period_days": _num(sched.period_days),
        "route": item.route,
        "prn": item.prn,
        "stopped": item.stopped,
        "change_reason": item.change_reason,
    }


def diff_items(old: Sequence[ItemFields], new: Sequence[ItemFields]) -> dict[str, Any]:
    """Added, stopped and changed (dose/time/route/other) items between two versions."""
    old_by: dict[str, list[ItemFields]] = defaultdict(list)
    new_by: dict[str, list[ItemFields]] = defaultdict(list)
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
        pairs: list[tuple[ItemFields, ItemFields]] = []
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


def _item_row(version_id: str, position: int, d: ItemDraft) -> dict[str, Any]:
    """The etrs_list_items row of a draft item."""
    dose = d.dose
    return {
        "id": _new_id(),
        "version_id": version_id,
        "position": position,
        "source_id": d.source_id,
        "medication_key": _draft_key(d),
        "medication_name": d.medication_name,
        "zi": d.codes.zi,
        "hpk": d.codes.hpk,
        "prk": d.codes.prk,
        "gpk": d.codes.gpk,
        "atc": d.codes.atc,
        "strength": d.strength,
        "form": d.form,
        "dose_value": dose.value if dose else None,
        "dose_low": dose.low if dose else None,
        "dose_high": dose.high if dose else None,
        "dose_unit": dose.unit if dose else None,
        "dose_unit_code": dose.unit_code if dose else None,
        "route": d.route,
        "route_code": d.route_code,
        "schedule": d.schedule.model_dump(mode="json"),
        "prn": d.prn,
        "prn_indication": d.prn_indication,
        "prn_max_per_24h": d.prn_max_per_24h,
        "instructions": d.instructions,
        "in_gds": d.in_gds,
        "dispenser_managed": d.dispenser_managed,
        "high_risk_flag": d.high_risk_flag,
        "exact_time": d.exact_time,
        "stopped": d.stopped,
        "stop_type": d.stop_type,
        "stop_reason": d.stop_reason,
        "change_reason": d.change_reason,
        "period_start": d.period_start,
        "period_end": d.period_end,
    }


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
    try:
        (stored,) = store_list_versions(
            session,
            pharmacy_id=pharmacy_id,
            drafts=[draft],
            actor=actor,
            source=source,
            origin=origin,
            now=now,
        )
    except DraftRefused as exc:
        raise exc.error from None
    version = session.get(ListVersion, stored.version_id)
    assert version is not None
    return StoredList(version, stored.created, stored.diff)


class DraftRefused(Exception):
    """One client's list of a bulk store cannot be stored; nothing of the call is kept."""

    def __init__(self, bsn: str, error: ListError | NotFoundError) -> None:
        super().__init__(str(error))
        self.bsn = bsn
        self.error = error


@dataclass(frozen=True)
class StoredVersion:
    """What storing one client's list did (bulk store)."""

    client_id: str
    version_id: str
    version_no: int
    created: bool
    diff: dict[str, Any]


@dataclass
class _Current:
    id: str
    version_no: int
    content_hash: str
    diff: dict[str, Any]
    items: list[ItemFields] | None = None  # loaded only when a new version needs the diff


_CHUNK = 500  # bound parameters per IN (...) query


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[n : n + _CHUNK] for n in range(0, len(values), _CHUNK)]


def store_list_versions(
    session: Session,
    *,
    pharmacy_id: str,
    drafts: Sequence[ClientListDraft],
    actor: str,
    source: str,
    origin: str = "import",
    now: datetime | None = None,
    on_stored: Callable[[], None] | None = None,
) -> list[StoredVersion]:
    """Store many clients' lists in the caller's transaction, with a few set-wise queries.

    Same result as storing each draft in turn (idempotent per content hash, a new version
    supersedes the latest with its diff, one audit entry per client), but clients, latest
    versions and their items are read in batches and the new rows inserted in bulk: a
    5,000-client upload takes a few dozen statements instead of tens of thousands.
    Raises DraftRefused at the first draft in order that cannot be stored; the caller
    rolls back (nothing has been written by then).
    """
    when = now or datetime.now(UTC)
    bsns = list(dict.fromkeys(d.bsn for d in drafts if is_valid_bsn(d.bsn)))
    client_of: dict[str, str] = {}
    for chunk in _chunks(bsns):
        for client_id, bsn in session.execute(
            select(Client.id, Client.bsn)
            .join(
                PharmacyClient,
                and_(
                    PharmacyClient.client_id == Client.id,
                    PharmacyClient.pharmacy_id == pharmacy_id,
                ),
            )
            .where(Client.bsn.in_(chunk))
        ):
            client_of[str(bsn)] = str(client_id)
    for d in drafts:
        if not is_valid_bsn(d.bsn):
            raise DraftRefused(d.bsn, ListError("the list's BSN fails the elfproef"))
        if d.bsn not in client_of:
            # A pharmacy learns nothing about clients it does not supply.
            raise DraftRefused(
                d.bsn, NotFoundError("no client with this BSN among the pharmacy's clients")
            )

    current: dict[str, _Current] = {}
    for chunk in _chunks(list(dict.fromkeys(client_of.values()))):
        latest = (
            select(ListVersion.client_id, func.max(ListVersion.version_no).label("no"))
            .where(ListVersion.client_id.in_(chunk))
            .group_by(ListVersion.client_id)
            .subquery()
        )
        for row in session.execute(
            select(
                ListVersion.id,
                ListVersion.client_id,
                ListVersion.version_no,
                ListVersion.content_hash,
                ListVersion.diff,
            ).join(
                latest,
                and_(
                    ListVersion.client_id == latest.c.client_id,
                    ListVersion.version_no == latest.c.no,
                ),
            )
        ):
            current[row.client_id] = _Current(row.id, row.version_no, row.content_hash, row.diff)

    digests = [content_hash(d) for d in drafts]
    # items of the versions a new one will be compared with, in one pass
    need = [
        current[client_of[d.bsn]].id
        for d, h in zip(drafts, digests, strict=True)
        if client_of[d.bsn] in current and current[client_of[d.bsn]].content_hash != h
    ]
    old_items: dict[str, list[ItemFields]] = defaultdict(list)
    for chunk in _chunks(list(dict.fromkeys(need))):
        for item_row in session.execute(
            select(*ListItem.__table__.c)
            .where(ListItem.version_id.in_(chunk))
            .order_by(ListItem.version_id, ListItem.position)
        ):
            old_items[item_row.version_id].append(item_row)
    for cur in current.values():
        if cur.id in old_items:
            cur.items = old_items[cur.id]

    out: list[StoredVersion] = []
    version_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    for draft, digest in zip(drafts, digests, strict=True):
        client_id = client_of[draft.bsn]
        prev = current.get(client_id)
        if prev is not None and prev.content_hash == digest:
            audit_rows.append(
                {
                    "actor": actor,
                    "action": "etrs.list.resubmitted",
                    "object_type": "etrs_list_version",
                    "object_id": prev.id,
                    "client_id": client_id,
                    "source": origin,
                    "detail": {"pharmacy_id": pharmacy_id, "format": source},
                }
            )
            out.append(StoredVersion(client_id, prev.id, prev.version_no, False, prev.diff))
            if on_stored is not None:
                on_stored()
            continue
        version_id = _new_id()
        rows = [_item_row(version_id, n, d) for n, d in enumerate(draft.items)]
        new_items: list[ItemFields] = [_NewItem(r) for r in rows]
        diff = diff_items((prev.items or []) if prev else [], new_items)
        version_no = prev.version_no + 1 if prev else 1
        version_rows.append(
            {
                "id": version_id,
                "client_id": client_id,
                "pharmacy_id": pharmacy_id,
                "version_no": version_no,
                "content_hash": digest,
                "supersedes_id": prev.id if prev else None,
                "issued_at": draft.issued_at,
                "received_at": when,
                "received_by": actor,
                "source": source,
                "diff": diff,
            }
        )
        item_rows.extend(rows)
        audit_rows.append(
            {
                "actor": actor,
                "action": "etrs.list.stored",
                "object_type": "etrs_list_version",
                "object_id": version_id,
                "client_id": client_id,
                "source": origin,
                "detail": {
                    "pharmacy_id": pharmacy_id,
                    "format": source,
                    "version_no": version_no,
                    "items": len(rows),
                    "added": len(diff["added"]),
                    "stopped": len(diff["stopped"]),
                    "changed": len(diff["changed"]),
                },
            }
        )
        # a second list for the same client in one upload supersedes this one
        current[client_id] = _Current(version_id, version_no, digest, diff, new_items)
        out.append(StoredVersion(client_id, version_id, version_no, True, diff))
        if on_stored is not None:
            on_stored()
    # Core inserts: the rows are complete, and ORM objects for 20,000 items cost seconds
    if version_rows:
        session.execute(insert(cast(Table, ListVersion.__table__)), version_rows)
    if item_rows:
        session.execute(insert(cast(Table, ListItem.__table__)), item_rows)
    if audit_rows:
        audit.record_many(session, audit_rows, at=when)
    return out


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
