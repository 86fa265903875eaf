"""eTRS services: moments, sign-off, PRN, corrections, four-eyes checks, overdue detection.

Every function takes the session as a keyword and never commits; every read or change
of client data leaves an entry in the hash-chained access log (hub.audit).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import bindparam, exists, func, or_, select, tuple_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from etrs.drafts import Schedule
from etrs.lists import (
    has_acknowledged,
    item_needs_double_check,
    latest_version,
)
from etrs.models import (
    Administration,
    CheckRequest,
    DoubleCheck,
    ListAcknowledgement,
    ListItem,
    ListVersion,
    ProductClass,
)
from etrs.risk import Classification, RiskPolicy, classify, needs_double_check
from etrs.schedule import AMSTERDAM, day_of_moment_key, local_day_bounds, moment_key, planned_times
from etrs.schemas import (
    NOT_GIVEN_REASONS,
    AdministrationView,
    CheckFacts,
    CheckRequestView,
    CheckView,
    EtrsAlert,
    MomentStatus,
    MomentView,
)
from hub import audit
from hub.auth.models import User
from hub.auth.service import (
    NotFoundError,
    can_access_client,
    require_client_access,
    visible_client_ids,
    visible_clients,
)
from hub.store.base import UTCDateTime
from hub.store.models import Client


class SignOffRefused(ValueError):
    """A sign-off, correction or check that the care rules do not allow (message says why)."""


@dataclass(frozen=True)
class EtrsPolicy:
    """Organisation settings for sign-off, checks and overdue detection."""

    risk: RiskPolicy = field(default_factory=RiskPolicy)
    overdue_after: timedelta = timedelta(minutes=60)
    overdue_after_exact: timedelta = timedelta(minutes=15)
    check_window: timedelta = timedelta(minutes=60)
    sign_ahead: timedelta = timedelta(hours=2)
    overdue_lookback: timedelta = timedelta(hours=24)
    administer_roles: frozenset[str] = frozenset({"nurse", "team_lead"})
    checker_roles: frozenset[str] = frozenset({"nurse", "team_lead"})
    administer_min_level: int = 1
    checker_min_level: int = 2


DEFAULT_POLICY = EtrsPolicy()


def _new_id() -> str:
    return uuid.uuid4().hex


_INSERTS: dict[tuple[str, str], Any] = {}


def _insert(session: Session, row: object, *, conflict: str) -> None:
    """Insert one row; a unique-constraint race (two tablets at once) becomes a refusal.

    On PostgreSQL and SQLite one `INSERT ... ON CONFLICT DO NOTHING`: the loser of a race
    inserts nothing and is refused, and its transaction stays usable without a savepoint
    (which would cost two more statements on every sign-off). The row then joins the
    session as a stored object. Elsewhere: a savepoint around the insert.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError as exc:
            raise SignOffRefused(conflict) from exc
        return
    mapper = sa_inspect(type(row))
    values = {attr.columns[0].name: getattr(row, attr.key) for attr in mapper.column_attrs}
    stmt = _INSERTS.get((dialect, mapper.local_table.name))
    if stmt is None:
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert_(mapper.local_table).on_conflict_do_nothing()
        # built once: SQLAlchemy computes a statement's cache key once per object
        _INSERTS[(dialect, mapper.local_table.name)] = stmt
    result = session.execute(stmt, values)
    if getattr(result, "rowcount", 1) == 0:
        raise SignOffRefused(conflict)
    make_transient_to_detached(row)
    session.add(row)


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


# --- moments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moment:
    key: str
    client_id: str
    version: ListVersion
    item: ListItem
    day: date
    hhmm: str
    planned_at: datetime
    dst: str
    time_assumed: bool


@dataclass(frozen=True)
class _Span:
    """A list version with its items and the span [since, until) it was in force."""

    version: ListVersion
    since: datetime
    until: datetime | None
    items: list[ListItem]


def _spans_for_window(
    session: Session, *, client_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[_Span]]:
    """Per client, the versions in force during [start, end) with their items: one query.

    A version is in force from its arrival until the next version arrives.
    """
    out: dict[str, list[_Span]] = {cid: [] for cid in client_ids}
    for chunk in _chunks(list(client_ids)):
        spans = (
            select(
                ListVersion.id.label("id"),
                func.lead(ListVersion.received_at, type_=UTCDateTime())
                .over(partition_by=ListVersion.client_id, order_by=ListVersion.version_no)
                .label("until"),
            )
            .where(ListVersion.client_id.in_(chunk), ListVersion.received_at < end)
            .subquery()
        )
        rows = session.execute(
            select(ListVersion, spans.c.until, ListItem)
            .join(spans, spans.c.id == ListVersion.id)
            .outerjoin(ListItem, ListItem.version_id == ListVersion.id)
            .where(or_(spans.c.until.is_(None), spans.c.until > start))
            .order_by(ListVersion.client_id, ListVersion.version_no, ListItem.position)
        )
        for version, until, item in rows:
            spans_of = out[version.client_id]
            if not spans_of or spans_of[-1].version.id != version.id:
                spans_of.append(_Span(version, version.received_at, until, []))
            if item is not None:
                spans_of[-1].items.append(item)
    return out


_CHUNK = 500  # bound parameters per IN (...) query


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[n : n + _CHUNK] for n in range(0, len(values), _CHUNK)]


def _ordinals(items: list[ListItem]) -> dict[str, int]:
    seen: dict[str, int] = defaultdict(int)
    out: dict[str, int] = {}
    for item in items:
        out[item.id] = seen[item.medication_key]
        seen[item.medication_key] += 1
    return out


def _moments_of(
    client_id: str, day: date, spans: list[_Span], *, only_key: str | None = None
) -> list[_Moment]:
    """Planned moments of a client on a local day, each from the version then in force.

    With `only_key`, just the moment with that key (items whose key cannot match are not
    expanded).
    """
    only_hhmm = only_key.partition("T")[2][:5] if only_key is not None else None
    out: list[_Moment] = []
    for span in spans:
        ordinals = _ordinals(span.items)
        for item in span.items:
            if item.prn or item.stopped:
                continue
            if only_key is not None and only_hhmm is not None:
                # the key of this item's moment at that time, computed as for every moment
                probe = moment_key(
                    client_id=client_id,
                    medication_key=item.medication_key,
                    ordinal=ordinals[item.id],
                    day=day,
                    hhmm=only_hhmm,
                )
                if probe != only_key:
                    continue
            for pt in planned_times(
                Schedule.model_validate(item.schedule),
                day,
                period_start=item.period_start,
                period_end=item.period_end,
            ):
                # A moment belongs to the version in force at its planned time.
                if pt.planned_at < span.since or (
                    span.until is not None and pt.planned_at >= span.until
                ):
                    continue
                key = moment_key(
                    client_id=client_id,
                    medication_key=item.medication_key,
                    ordinal=ordinals[item.id],
                    day=day,
                    hhmm=pt.hhmm,
                )
                if only_key is not None and key != only_key:
                    continue
                out.append(
                    _Moment(
                        key,
                        client_id,
                        span.version,
                        item,
                        day,
                        pt.hhmm,
                        pt.planned_at,
                        pt.dst,
                        pt.time_assumed,
                    )
                )
    out.sort(key=lambda m: (m.planned_at, m.item.position))
    return out


def client_moments(session: Session, *, client_id: str, day: date) -> list[_Moment]:
    """Planned moments of one client on a local day, each from the version then in force."""
    start, end = local_day_bounds(day)
    spans = _spans_for_window(session, client_ids=[client_id], start=start, end=end)
    return _moments_of(client_id, day, spans[client_id])


# --- records and status --------------------------------------------------------------------


def _dose_text(item: ListItem) -> str | None:
    if item.dose_value is not None:
        return f"{Decimal(item.dose_value).normalize():f} {item.dose_unit or ''}".strip()
    if item.dose_low is not None or item.dose_high is not None:
        lo = f"{Decimal(item.dose_low).normalize():f}" if item.dose_low is not None else "?"
        hi = f"{Decimal(item.dose_high).normalize():f}" if item.dose_high is not None else "?"
        return f"{lo}-{hi} {item.dose_unit or ''}".strip()
    return None


def _check_for(session: Session, administration_id: str) -> DoubleCheck | None:
    return session.scalar(
        select(DoubleCheck).where(DoubleCheck.administration_id == administration_id)
    )


def _checks_for(session: Session, administration_ids: list[str]) -> dict[str, DoubleCheck]:
    out: dict[str, DoubleCheck] = {}
    for chunk in _chunks(list(dict.fromkeys(administration_ids))):
        for c in session.scalars(
            select(DoubleCheck).where(DoubleCheck.administration_id.in_(chunk))
        ):
            out[c.administration_id] = c
    return out


def _corrected_by(session: Session, administration_id: str) -> Administration | None:
    return session.scalar(
        select(Administration).where(Administration.corrects_id == administration_id)
    )


def record_status(
    rec: Administration,
    check: DoubleCheck | None,
    corrected: bool,
    *,
    now: datetime,
    policy: EtrsPolicy,
) -> MomentStatus:
    """The derived state of a record (records are never changed; state is computed)."""
    if rec.outcome == "entered_in_error":
        return "entered_in_error"
    if rec.outcome == "not_given":
        return "not_given"
    if not rec.double_check_required:
        return "given"
    if check is None:
        if not corrected and now > rec.recorded_at + policy.check_window:
            return "check_expired"
        return "awaiting_check"
    return "given" if check.decision == "confirm" else "check_rejected"


def _view(
    session: Session,
    rec: Administration,
    *,
    now: datetime,
    policy: EtrsPolicy,
    check: DoubleCheck | None = None,
    check_known: bool = False,
    corrected: bool | None = None,
    item: ListItem | None = None,
) -> AdministrationView:
    """The record as API data; preloaded check/correction/item save queries in bulk reads."""
    the_check = check if check_known else _check_for(session, rec.id)
    corrector = None
    if corrected is None:
        corrector = _corrected_by(session, rec.id)
        corrected = corrector is not None
    elif corrected:
        corrector = _corrected_by(session, rec.id)
    the_item = item if item is not None else session.get(ListItem, rec.item_id)
    return AdministrationView(
        id=rec.id,
        client_id=rec.client_id,
        item_id=rec.item_id,
        version_id=rec.version_id,
        medication_key=rec.medication_key,
        medication_name=the_item.medication_name if the_item else "",
        moment_key=rec.moment_key,
        planned_at=rec.planned_at,
        outcome=rec.outcome,
        given_by=rec.given_by,
        prn=rec.prn,
        prn_reason=rec.prn_reason,
        actual_at=rec.actual_at,
        amount=rec.amount,
        amount_unit=rec.amount_unit,
        reason_code=rec.reason_code,
        reason_text=rec.reason_text,
        double_check_required=rec.double_check_required,
        recorded_by=rec.recorded_by,
        recorded_at=rec.recorded_at,
        corrects_id=rec.corrects_id,
        corrected_by_id=corrector.id if corrector else None,
        check=(
            CheckView(
                id=the_check.id,
                checker_id=the_check.checker_id,
                decision="confirm" if the_check.decision == "confirm" else "reject",
                method=the_check.method,
                checked_at=the_check.checked_at,
                remark=the_check.remark,
            )
            if the_check
            else None
        ),
        status=record_status(rec, the_check, corrected, now=now, policy=policy),
    )


def _heads_by_moment(session: Session, keys: list[str]) -> dict[str, Administration]:
    """The latest record (the one no correction points at) per moment key."""
    recs: list[Administration] = []
    for chunk in _chunks(list(dict.fromkeys(keys))):
        recs += session.scalars(select(Administration).where(Administration.moment_key.in_(chunk)))
    corrected = {r.corrects_id for r in recs if r.corrects_id}
    return {r.moment_key: r for r in recs if r.id not in corrected and r.moment_key}


def _table_classes(session: Session, items: list[ListItem]) -> dict[str, str | None]:
    """Per item, the product table's class for its most specific known code (one query).

    The same precedence as etrs.lists.table_class_for (HPK, PRK, GPK, ZI), for many items.
    """
    wanted = {
        (system, code)
        for item in items
        for system in _CODE_PRECEDENCE
        if (code := getattr(item, system))
    }
    known: dict[tuple[str, str], str] = {}
    pairs = sorted(wanted)
    for n in range(0, len(pairs), _CHUNK):
        chunk = pairs[n : n + _CHUNK]
        for row in session.scalars(
            select(ProductClass).where(
                tuple_(ProductClass.code_system, ProductClass.code).in_(chunk)
            )
        ):
            known[(row.code_system, row.code)] = row.risk_class
    out: dict[str, str | None] = {}
    for item in items:
        out[item.id] = next(
            (
                known[(system, code)]
                for system in _CODE_PRECEDENCE
                if (code := getattr(item, system)) and (system, code) in known
            ),
            None,
        )
    return out


_CODE_PRECEDENCE = ("hpk", "prk", "gpk", "zi")  # most specific first (etrs.lists)


def _classify_items(
    session: Session, items: list[ListItem], policy: RiskPolicy
) -> dict[str, Classification]:
    """Each item's risk classification, as etrs.lists.classify_item gives it, in one query."""
    unique = list({item.id: item for item in items}.values())
    tables = _table_classes(session, unique)
    return {
        item.id: classify(
            atc=item.atc,
            pharmacy_flag=item.high_risk_flag,
            table_class=tables[item.id],
            policy=policy,
        )
        for item in unique
    }


def _needs_double_check(session: Session, item: ListItem, policy: EtrsPolicy) -> bool:
    """item_needs_double_check, without the product-table query when it cannot matter.

    An item in the GDS roll needs no double check whatever its class unless the policy
    says high-risk items in the roll do (etrs.risk.needs_double_check).
    """
    if item.in_gds and not policy.risk.high_risk_in_gds_needs_check:
        return False
    return item_needs_double_check(session, item, policy.risk)


def _overdue_window(item: ListItem, policy: EtrsPolicy) -> timedelta:
    return policy.overdue_after_exact if item.exact_time else policy.overdue_after


def _audit_read(
    session: Session,
    *,
    user: User,
    client_id: str,
    what: str,
    source: str,
    now: datetime,
    detail: dict[str, object] | None = None,
) -> None:
    audit.record(
        session,
        actor=user.id,
        action=f"etrs.{what}.read",
        object_type="client",
        object_id=client_id,
        client_id=client_id,
        source=source,
        detail=dict(detail or {}),
        at=now,
    )


def _acknowledged(session: Session, *, user_id: str, version_ids: list[str]) -> set[str]:
    """The versions among these that the user acknowledged (one query)."""
    out: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(version_ids))):
        out.update(
            session.scalars(
                select(ListAcknowledgement.version_id).where(
                    ListAcknowledgement.user_id == user_id,
                    ListAcknowledgement.version_id.in_(chunk),
                )
            )
        )
    return out


def moments_for(
    session: Session,
    *,
    user: User,
    day: date,
    source: str,
    client_id: str | None = None,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> list[MomentView]:
    """The day's moments for the user's clients (or one client), with their state."""
    when = _now(now)
    if client_id is not None:
        clients = [require_client_access(session, user, client_id)]
    else:
        clients = visible_clients(session, user)
    # Everything the view needs, loaded set-wise: versions with items, records, checks,
    # acknowledgements and classifications take one query each, not one per client.
    start, end = local_day_bounds(day)
    spans = _spans_for_window(session, client_ids=[c.id for c in clients], start=start, end=end)
    moments_by_client = {c.id: _moments_of(c.id, day, spans[c.id]) for c in clients}
    every = [m for ms in moments_by_client.values() for m in ms]
    heads = _heads_by_moment(session, [m.key for m in every])
    checks = _checks_for(session, [h.id for h in heads.values()])
    acked = _acknowledged(session, user_id=user.id, version_ids=[m.version.id for m in every])
    classified = _classify_items(session, [m.item for m in every], policy.risk)
    out: list[MomentView] = []
    reads: list[tuple[str, int]] = []
    for client in clients:
        cid = client.id
        moments = moments_by_client[cid]
        reads.append((cid, len(moments)))
        for m in moments:
            head = heads.get(m.key)
            admin_view = (
                _view(
                    session,
                    head,
                    now=when,
                    policy=policy,
                    check=checks.get(head.id),
                    check_known=True,
                    corrected=False,
                    item=m.item,
                )
                if head
                else None
            )
            if admin_view is not None:
                status: MomentStatus = admin_view.status
            elif when > m.planned_at + _overdue_window(m.item, policy):
                status = "overdue"
            else:
                status = "open"
            classification = classified[m.item.id]
            out.append(
                MomentView(
                    key=m.key,
                    client_id=cid,
                    client_name=client.display_name,
                    version_id=m.version.id,
                    version_no=m.version.version_no,
                    item_id=m.item.id,
                    medication_key=m.item.medication_key,
                    medication_name=m.item.medication_name,
                    dose=_dose_text(m.item),
                    dose_value=m.item.dose_value,
                    dose_unit=m.item.dose_unit,
                    route=m.item.route,
                    instructions=m.item.instructions,
                    day=m.day,
                    time=m.hhmm,
                    planned_at=m.planned_at,
                    dst=m.dst,
                    time_assumed=m.time_assumed,
                    exact_time=m.item.exact_time,
                    dispenser_managed=m.item.dispenser_managed,
                    double_check_required=needs_double_check(
                        classification, in_gds=m.item.in_gds, policy=policy.risk
                    ),
                    risk=classification.risk_class or classification.status,
                    list_acknowledged=m.version.id in acked,
                    status=status,
                    administration=admin_view,
                )
            )
    # Logged last: the audit chain lock is then held only until this request commits.
    for cid, count in reads:
        _audit_read(
            session,
            user=user,
            client_id=cid,
            what="moments",
            source=source,
            now=when,
            detail={"day": day.isoformat(), "moments": count},
        )
    return out


# --- sign-off ------------------------------------------------------------------------------


def _require_administer(user: User, policy: EtrsPolicy) -> None:
    if (
        not user.active
        or user.role not in policy.administer_roles
        or user.qualification_level < policy.administer_min_level
    ):
        raise SignOffRefused("your role or qualification does not allow signing off medication")


def _require_ack(session: Session, *, user: User, version: ListVersion) -> None:
    if not has_acknowledged(session, user_id=user.id, version_id=version.id):
        raise _refuse_unacknowledged(version)


def _validate_outcome(
    item: ListItem,
    *,
    outcome: str,
    amount: Decimal | None,
    reason_code: str | None,
    reason_text: str | None,
) -> Decimal | None:
    """The amount to record; raises SignOffRefused for an incomplete or inconsistent entry."""
    if outcome == "given":
        if amount is None:
            if item.dose_value is None:
                raise SignOffRefused("the list gives a dose range: enter the amount given")
            amount = Decimal(item.dose_value)
        if amount <= 0:
            raise SignOffRefused("the amount given must be positive")
        if reason_code is not None and reason_code not in NOT_GIVEN_REASONS:
            raise SignOffRefused(f"unknown reason code {reason_code!r}")
        return amount
    if outcome == "not_given":
        if reason_code not in NOT_GIVEN_REASONS:
            raise SignOffRefused(
                "not given needs an MP9 reason: " + ", ".join(sorted(NOT_GIVEN_REASONS))
            )
        if reason_code == "other" and not (reason_text or "").strip():
            raise SignOffRefused("reason 'other' needs a text")
        return None
    if outcome == "entered_in_error":
        return None
    raise SignOffRefused(f"unknown outcome {outcome!r}")


def _audit_change(
    session: Session,
    *,
    actor: str,
    rec: Administration,
    action: str,
    source: str,
    now: datetime,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="etrs_administration",
        object_id=rec.id,
        client_id=rec.client_id,
        source=source,
        detail={
            "outcome": rec.outcome,
            "medication_key": rec.medication_key,
            "moment_key": rec.moment_key,
            "amount": None if rec.amount is None else str(rec.amount),
            "corrects_id": rec.corrects_id,
        },
        at=now,
    )


def find_moment(session: Session, *, client_id: str, key: str) -> _Moment:
    """The planned moment with this key, or NotFoundError."""
    try:
        day = day_of_moment_key(key)
    except ValueError as exc:
        raise NotFoundError("no such moment") from exc
    for m in client_moments(session, client_id=client_id, day=day):
        if m.key == key:
            return m
    raise NotFoundError("no such moment on this client's list")


@dataclass(frozen=True)
class _SigningFacts:
    moment: _Moment
    acknowledged: bool  # the user acknowledged the moment's list version
    signed: bool  # the moment already has a record


def _signing_facts_statement() -> Any:
    """The query behind _signing_facts, built once (its cache key is then computed once)."""
    spans = (
        select(
            ListVersion.id.label("id"),
            func.lead(ListVersion.received_at, type_=UTCDateTime())
            .over(order_by=ListVersion.version_no)
            .label("until"),
        )
        .where(
            ListVersion.client_id == bindparam("client_id"),
            ListVersion.received_at < bindparam("end", type_=UTCDateTime()),
        )
        .subquery()
    )
    acked = (
        exists()
        .where(
            ListAcknowledgement.version_id == ListVersion.id,
            ListAcknowledgement.user_id == bindparam("user_id"),
        )
        .label("acked")
    )
    # Every chain of records starts with an original (corrects_id NULL), which the
    # partial unique index on moment_key finds.
    signed = (
        exists()
        .where(Administration.moment_key == bindparam("key"), Administration.corrects_id.is_(None))
        .label("signed")
    )
    return (
        select(ListVersion, spans.c.until, ListItem, acked, signed)
        .join(spans, spans.c.id == ListVersion.id)
        .outerjoin(ListItem, ListItem.version_id == ListVersion.id)
        .where(
            or_(spans.c.until.is_(None), spans.c.until > bindparam("start", type_=UTCDateTime()))
        )
        .order_by(ListVersion.version_no, ListItem.position)
    )


_SIGNING_FACTS = _signing_facts_statement()


def _signing_facts(session: Session, *, user_id: str, client_id: str, key: str) -> _SigningFacts:
    """The moment with this key, whether its list version was acknowledged by the user and
    whether it was signed already: one query (the versions in force that day with their
    items, each row flagged), or NotFoundError.
    """
    try:
        day = day_of_moment_key(key)
    except ValueError as exc:
        raise NotFoundError("no such moment") from exc
    start, end = local_day_bounds(day)
    spans: list[_Span] = []
    flags: dict[str, tuple[bool, bool]] = {}
    for version, until, item, is_acked, is_signed in session.execute(
        _SIGNING_FACTS,
        {"client_id": client_id, "start": start, "end": end, "user_id": user_id, "key": key},
    ):
        if not spans or spans[-1].version.id != version.id:
            spans.append(_Span(version, version.received_at, until, []))
            flags[version.id] = (bool(is_acked), bool(is_signed))
        if item is not None:
            spans[-1].items.append(item)
    found = _moments_of(client_id, day, spans, only_key=key)
    if not found:
        raise NotFoundError("no such moment on this client's list")
    moment = found[0]
    is_acked, is_signed = flags[moment.version.id]
    return _SigningFacts(moment, is_acked, is_signed)


def _refuse_unacknowledged(version: ListVersion) -> SignOffRefused:
    return SignOffRefused(
        f"the administration list changed (version {version.version_no}, received "
        f"{version.received_at.astimezone(AMSTERDAM):%d-%m-%Y %H:%M}): review and "
        "acknowledge the changes before signing off"
    )


def sign_off(
    session: Session,
    *,
    user: User,
    client_id: str,
    moment_key: str,
    outcome: Literal["given", "not_given"],
    source: str,
    actual_at: datetime | None = None,
    amount: Decimal | None = None,
    reason_code: str | None = None,
    reason_text: str | None = None,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> AdministrationView:
    """Sign off a planned moment: given (time, amount) or not given with an MP9 reason."""
    when = _now(now)
    require_client_access(session, user, client_id)
    _require_administer(user, policy)
    facts = _signing_facts(session, user_id=user.id, client_id=client_id, key=moment_key)
    moment = facts.moment
    if not facts.acknowledged:
        raise _refuse_unacknowledged(moment.version)
    if moment.planned_at - when > policy.sign_ahead:
        raise SignOffRefused("this moment is too far ahead to sign off")
    if facts.signed:
        raise SignOffRefused("this moment is already signed off; record a correction instead")
    given_at = (actual_at or when).astimezone(UTC) if outcome == "given" else None
    if given_at is not None and given_at > when + timedelta(minutes=5):
        raise SignOffRefused("the administration time lies in the future")
    recorded_amount = _validate_outcome(
        moment.item,
        outcome=outcome,
        amount=amount,
        reason_code=reason_code,
        reason_text=reason_text,
    )
    rec = Administration(
        id=_new_id(),
        client_id=client_id,
        version_id=moment.version.id,
        item_id=moment.item.id,
        medication_key=moment.item.medication_key,
        moment_key=moment_key,
        planned_at=moment.planned_at,
        outcome=outcome,
        given_by="person",
        prn=False,
        prn_reason=None,
        actual_at=given_at,
        amount=recorded_amount,
        amount_unit=moment.item.dose_unit,
        reason_code=reason_code,
        reason_text=reason_text,
        double_check_required=outcome == "given"
        and _needs_double_check(session, moment.item, policy),
        recorded_by=user.id,
        recorded_at=when,
        source=source,
        corrects_id=None,
        source_event_id=None,
    )
    _insert(session, rec, conflict="this moment was just signed off by someone else; refresh")
    # Built before the audit entry: the audit chain lock is held until commit.
    view = _view(session, rec, now=when, policy=policy, check_known=True, corrected=False)
    _audit_change(
        session,
        actor=user.id,
        rec=rec,
        action="etrs.administration.create",
        source=source,
        now=when,
    )
    return view


# --- PRN -----------------------------------------------------------------------------------


def _effective(session: Session, recs: list[Administration]) -> list[Administration]:
    ids = [r.id for r in recs]
    if not ids:
        return []
    corrected = set(
        session.scalars(
            select(Administration.corrects_id).where(Administration.corrects_id.in_(ids))
        )
    )
    return [r for r in recs if r.id not in corrected]


def prn_given_within(
    session: Session, *, client_id: str, medication_key: str, start: datetime, end: datetime
) -> list[tuple[datetime, Decimal]]:
    """Effective PRN doses (time, amount) of a medication in [start, end]."""
    recs = list(
        session.scalars(
            select(Administration).where(
                Administration.client_id == client_id,
                Administration.medication_key == medication_key,
                Administration.prn.is_(True),
            )
        )
    )
    # Corrections are found over all records so a correction outside the window still counts.
    out = []
    for r in _effective(session, recs):
        if r.outcome == "given" and r.actual_at is not None and r.amount is not None:
            if start <= r.actual_at <= end:
                out.append((r.actual_at, Decimal(r.amount)))
    return out


def max_in_any_24h(doses: list[tuple[datetime, Decimal]]) -> Decimal:
    """The largest total of doses inside any 24-hour window."""
    ordered = sorted(doses)
    best = Decimal(0)
    for n, (t, _) in enumerate(ordered):
        total = sum((a for s, a in ordered[n:] if s < t + timedelta(hours=24)), start=Decimal(0))
        best = max(best, total)
    return best


def give_prn(
    session: Session,
    *,
    user: User,
    client_id: str,
    item_id: str,
    amount: Decimal,
    reason: str,
    source: str,
    actual_at: datetime | None = None,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> AdministrationView:
    """Record an as-needed dose with its reason, refused above the list's maximum per 24 h."""
    when = _now(now)
    require_client_access(session, user, client_id)
    _require_administer(user, policy)
    version = latest_version(session, client_id=client_id)
    item = session.get(ListItem, item_id)
    if version is None or item is None or item.version_id != version.id:
        raise NotFoundError("no such item on the client's current list")
    if not item.prn or item.stopped:
        raise SignOffRefused("this item is not an as-needed (PRN) medication on the current list")
    _require_ack(session, user=user, version=version)
    if not reason.strip():
        raise SignOffRefused("an as-needed dose needs the reason it was given")
    if amount <= 0:
        raise SignOffRefused("the amount given must be positive")
    given_at = (actual_at or when).astimezone(UTC)
    if given_at > when + timedelta(minutes=5):
        raise SignOffRefused("the administration time lies in the future")
    if item.prn_max_per_24h is not None:
        doses = prn_given_within(
            session,
            client_id=client_id,
            medication_key=item.medication_key,
            start=given_at - timedelta(hours=24),
            end=given_at + timedelta(hours=24),
        )
        limit = Decimal(item.prn_max_per_24h)
        total = max_in_any_24h([*doses, (given_at, amount)])
        if total > limit:
            raise SignOffRefused(
                f"maximum {limit.normalize():f} {item.dose_unit or ''} per 24 hours would be "
                f"exceeded ({total.normalize():f}); consult the prescriber"
            )
    rec = Administration(
        id=_new_id(),
        client_id=client_id,
        version_id=version.id,
        item_id=item.id,
        medication_key=item.medication_key,
        moment_key=None,
        planned_at=None,
        outcome="given",
        given_by="person",
        prn=True,
        prn_reason=reason.strip(),
        actual_at=given_at,
        amount=amount,
        amount_unit=item.dose_unit,
        reason_code=None,
        reason_text=None,
        double_check_required=item_needs_double_check(session, item, policy.risk),
        recorded_by=user.id,
        recorded_at=when,
        source=source,
        corrects_id=None,
        source_event_id=None,
    )
    _insert(session, rec, conflict="this dose was just recorded; refresh")
    # Built before the audit entry: the audit chain lock is held until commit.
    view = _view(session, rec, now=when, policy=policy, check_known=True, corrected=False)
    _audit_change(
        session,
        actor=user.id,
        rec=rec,
        action="etrs.administration.create",
        source=source,
        now=when,
    )
    return view


# --- corrections ---------------------------------------------------------------------------


def _get_record(session: Session, *, user: User, administration_id: str) -> Administration:
    rec = session.get(Administration, administration_id)
    if rec is None or not can_access_client(session, user, rec.client_id):
        raise NotFoundError("no such administration")
    return rec


def correct_administration(
    session: Session,
    *,
    user: User,
    administration_id: str,
    outcome: Literal["given", "not_given", "entered_in_error"],
    source: str,
    actual_at: datetime | None = None,
    amount: Decimal | None = None,
    reason_code: str | None = None,
    reason_text: str | None = None,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> AdministrationView:
    """Correct a record by adding a new one that points at it (MP9: wrong registration)."""
    when = _now(now)
    rec = _get_record(session, user=user, administration_id=administration_id)
    _require_administer(user, policy)
    if _corrected_by(session, rec.id) is not None:
        raise SignOffRefused("this record was already corrected; correct the latest record")
    item = session.get(ListItem, rec.item_id)
    if item is None:
        raise NotFoundError("no such administration")
    recorded_amount = _validate_outcome(
        item,
        outcome=outcome,
        amount=amount if amount is not None else rec.amount,
        reason_code=reason_code,
        reason_text=reason_text,
    )
    given_at = None
    if outcome == "given":
        given_at = (actual_at or rec.actual_at or when).astimezone(UTC)
        if given_at > when + timedelta(minutes=5):
            raise SignOffRefused("the administration time lies in the future")
    new = Administration(
        id=_new_id(),
        client_id=rec.client_id,
        version_id=rec.version_id,
        item_id=rec.item_id,
        medication_key=rec.medication_key,
        moment_key=rec.moment_key,
        planned_at=rec.planned_at,
        outcome=outcome,
        given_by="person",
        prn=rec.prn,
        prn_reason=rec.prn_reason,
        actual_at=given_at,
        amount=recorded_amount,
        amount_unit=rec.amount_unit,
        reason_code=reason_code,
        reason_text=reason_text,
        double_check_required=outcome == "given"
        and item_needs_double_check(session, item, policy.risk),
        recorded_by=user.id,
        recorded_at=when,
        source=source,
        corrects_id=rec.id,
        source_event_id=None,
    )
    _insert(session, new, conflict="this record was just corrected by someone else; refresh")
    # Built before the audit entry: the audit chain lock is held until commit.
    view = _view(session, new, now=when, policy=policy, check_known=True, corrected=False)
    _audit_change(
        session,
        actor=user.id,
        rec=new,
        action="etrs.administration.correct",
        source=source,
        now=when,
    )
    return view


# --- four-eyes -----------------------------------------------------------------------------


def _is_qualified_checker(user: User, policy: EtrsPolicy) -> bool:
    return (
        user.active
        and user.role in policy.checker_roles
        and user.qualification_level >= policy.checker_min_level
    )


def _awaiting(session: Session, rec: Administration, *, now: datetime, policy: EtrsPolicy) -> None:
    if not (rec.double_check_required and rec.outcome == "given"):
        raise SignOffRefused("this administration does not need a double check")
    if _corrected_by(session, rec.id) is not None:
        raise SignOffRefused("this record was corrected; check the latest record")
    if _check_for(session, rec.id) is not None:
        raise SignOffRefused("this administration was already checked")
    if now > rec.recorded_at + policy.check_window:
        raise SignOffRefused(
            "the double-check window has passed; record a correction and start again"
        )


def request_check(
    session: Session,
    *,
    user: User,
    administration_id: str,
    source: str,
    to_user_id: str | None = None,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> CheckRequest:
    """Ask for a remote double check (to one colleague or any qualified one)."""
    when = _now(now)
    rec = _get_record(session, user=user, administration_id=administration_id)
    if rec.recorded_by != user.id:
        raise SignOffRefused("only the person who signed off asks for the double check")
    _awaiting(session, rec, now=when, policy=policy)
    if to_user_id is not None:
        target = session.get(User, to_user_id)
        if (
            target is None
            or target.id == user.id
            or not _is_qualified_checker(target, policy)
            or not can_access_client(session, target, rec.client_id)
        ):
            raise SignOffRefused("that colleague cannot do this double check")
    req = CheckRequest(
        id=_new_id(),
        administration_id=rec.id,
        client_id=rec.client_id,
        requested_by=user.id,
        to_user_id=to_user_id,
        requested_at=when,
    )
    session.add(req)
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="etrs.check.requested",
        object_type="etrs_administration",
        object_id=rec.id,
        client_id=rec.client_id,
        source=source,
        detail={"request_id": req.id, "to_user_id": to_user_id},
        at=when,
    )
    return req


def check_inbox(
    session: Session,
    *,
    user: User,
    source: str,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> list[CheckRequestView]:
    """Open remote check requests this user may answer."""
    when = _now(now)
    if not _is_qualified_checker(user, policy):
        return []
    clients = visible_client_ids(session, user)
    if not clients:
        return []
    reqs = session.scalars(
        select(CheckRequest)
        .where(
            CheckRequest.client_id.in_(clients),
            CheckRequest.requested_by != user.id,
            CheckRequest.requested_at >= when - policy.check_window,
        )
        .order_by(CheckRequest.requested_at)
    )
    out: list[CheckRequestView] = []
    seen_admin: set[str] = set()
    for req in reqs:
        if req.to_user_id not in (None, user.id) or req.administration_id in seen_admin:
            continue
        rec = session.get(Administration, req.administration_id)
        if rec is None or rec.recorded_by == user.id:
            continue
        view = _view(session, rec, now=when, policy=policy)
        if view.status != "awaiting_check" or view.corrected_by_id is not None:
            continue
        seen_admin.add(rec.id)
        out.append(
            CheckRequestView(
                id=req.id,
                administration=view,
                requested_by=req.requested_by,
                requested_at=req.requested_at,
                to_user_id=req.to_user_id,
                expires_at=rec.recorded_at + policy.check_window,
            )
        )
    for view_ in out:
        _audit_read(
            session,
            user=user,
            client_id=view_.administration.client_id,
            what="check_request",
            source=source,
            now=when,
            detail={"request_id": view_.id},
        )
    return out


@dataclass(frozen=True)
class CheckOutcome:
    """A double-check decision, and an alert when the check was rejected."""

    administration: AdministrationView
    alert: EtrsAlert | None


def decide_check(
    session: Session,
    *,
    checker: User,
    administration_id: str,
    decision: Literal["confirm", "reject"],
    seen: CheckFacts,
    method: Literal["same_device", "remote"],
    source: str,
    remark: str | None = None,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> CheckOutcome:
    """The second person's confirm or reject; refused unless every four-eyes rule holds."""
    when = _now(now)
    rec = _get_record(session, user=checker, administration_id=administration_id)
    if checker.id == rec.recorded_by:
        raise SignOffRefused("a double check must be done by a second, different person")
    if not _is_qualified_checker(checker, policy):
        raise SignOffRefused("your role or qualification does not allow double checks")
    _awaiting(session, rec, now=when, policy=policy)
    if method == "remote":
        open_request = session.scalar(
            select(CheckRequest.id).where(
                CheckRequest.administration_id == rec.id,
                (CheckRequest.to_user_id.is_(None)) | (CheckRequest.to_user_id == checker.id),
            )
        )
        if open_request is None:
            raise SignOffRefused("no remote check was requested from you for this administration")
    if decision == "confirm":
        mismatches = []
        if seen.client_id != rec.client_id:
            mismatches.append("client")
        if seen.medication_key != rec.medication_key:
            mismatches.append("medication")
        if seen.amount is None or rec.amount is None or Decimal(seen.amount) != Decimal(rec.amount):
            mismatches.append("dose")
        if seen.moment_key != rec.moment_key:
            mismatches.append("moment")
        if mismatches:
            raise SignOffRefused(
                "the check does not match the administration ("
                + ", ".join(mismatches)
                + "): confirm only what you verified, or reject"
            )
    elif not (remark or "").strip():
        raise SignOffRefused("a rejection needs a remark saying what was wrong")
    check = DoubleCheck(
        id=_new_id(),
        administration_id=rec.id,
        checker_id=checker.id,
        decision=decision,
        method=method,
        client_id=seen.client_id,
        medication_key=seen.medication_key,
        amount=seen.amount,
        moment_key=seen.moment_key,
        remark=remark,
        checked_at=when,
        source=source,
    )
    _insert(
        session, check, conflict="this administration was just checked by someone else; refresh"
    )
    view = _view(session, rec, now=when, policy=policy)
    alert = None
    if decision == "reject":
        client = session.get(Client, rec.client_id)
        alert = EtrsAlert(
            kind="etrs.check_rejected",
            client_id=rec.client_id,
            team_id=client.team_id if client else None,
            dedup_key=f"check:{rec.id}",
            severity="high",
            title="Double check rejected",
            at=when,
            detail={
                "administration_id": rec.id,
                "medication_key": rec.medication_key,
                "remark": remark,
            },
            follow_up="Review the administration with the checker and record a correction",
        )
    audit.record(
        session,
        actor=checker.id,
        action=f"etrs.check.{decision}",
        object_type="etrs_administration",
        object_id=rec.id,
        client_id=rec.client_id,
        source=source,
        detail={"method": method, "check_id": check.id},
        at=when,
    )
    return CheckOutcome(view, alert)


# --- history and overdue -------------------------------------------------------------------


def client_history(
    session: Session,
    *,
    user: User,
    client_id: str,
    start: datetime,
    end: datetime,
    source: str,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> list[AdministrationView]:
    """All records (with corrections) of a client recorded in [start, end)."""
    when = _now(now)
    require_client_access(session, user, client_id)
    recs = session.scalars(
        select(Administration)
        .where(
            Administration.client_id == client_id,
            Administration.recorded_at >= start,
            Administration.recorded_at < end,
        )
        .order_by(Administration.recorded_at, Administration.id)
    )
    views = [_view(session, r, now=when, policy=policy) for r in recs]
    _audit_read(
        session,
        user=user,
        client_id=client_id,
        what="history",
        source=source,
        now=when,
        detail={"start": start.isoformat(), "end": end.isoformat(), "records": len(views)},
    )
    return views


def overdue_decisions(
    session: Session, *, now: datetime | None = None, policy: EtrsPolicy = DEFAULT_POLICY
) -> list[EtrsAlert]:
    """Moments not signed in time and checks not done in time, as alert decisions.

    Dispenser-managed items are left out: the dispenser reports its own missed doses.
    This is system processing, not a person viewing data, so it is not access-logged.
    """
    when = _now(now)
    since = when - policy.overdue_lookback
    days = sorted({since.astimezone(AMSTERDAM).date(), when.astimezone(AMSTERDAM).date()})
    client_ids = sorted(set(session.scalars(select(ListVersion.client_id).distinct())))
    out: list[EtrsAlert] = []
    for cid in client_ids:
        client = session.get(Client, cid)
        team_id = client.team_id if client else None
        moments = [m for d in days for m in client_moments(session, client_id=cid, day=d)]
        heads = _heads_by_moment(session, [m.key for m in moments])
        for m in moments:
            if m.item.dispenser_managed or m.key in heads or m.planned_at < since:
                continue
            late = when - m.planned_at
            if late <= _overdue_window(m.item, policy):
                continue
            needs_check = item_needs_double_check(session, m.item, policy.risk)
            out.append(
                EtrsAlert(
                    kind="etrs.moment_overdue",
                    client_id=cid,
                    team_id=team_id,
                    dedup_key=f"moment:{m.key}",
                    severity="high" if (m.item.exact_time or needs_check) else "medium",
                    title=f"Medication not signed off: {m.item.medication_name} {m.hhmm}",
                    at=when,
                    detail={
                        "moment_key": m.key,
                        "planned_at": m.planned_at.isoformat(),
                        "minutes_late": int(late.total_seconds() // 60),
                        "item_id": m.item.id,
                    },
                )
            )
    # Administrations still waiting for their second person after the window.
    pending = session.scalars(
        select(Administration).where(
            Administration.double_check_required.is_(True),
            Administration.outcome == "given",
            Administration.recorded_at >= since,
            Administration.recorded_at < when - policy.check_window,
        )
    )
    for rec in pending:
        if _check_for(session, rec.id) is not None or _corrected_by(session, rec.id) is not None:
            continue
        client = session.get(Client, rec.client_id)
        out.append(
            EtrsAlert(
                kind="etrs.check_missing",
                client_id=rec.client_id,
                team_id=client.team_id if client else None,
                dedup_key=f"check:{rec.id}",
                severity="high",
                title="High-risk administration without double check",
                at=when,
                detail={"administration_id": rec.id, "medication_key": rec.medication_key},
                follow_up="Have a second qualified person check, or record a correction",
            )
        )
    return out
