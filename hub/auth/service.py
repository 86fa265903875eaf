"""Passwords, API tokens and client scoping (who may see which client's data)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.auth.models import ROLES, ApiToken, Pharmacy, PharmacyClient, TeamMember, User
from hub.store.models import Client

_HASHER = PasswordHasher()
# Verified against when the username is unknown, so timing does not reveal valid usernames.
_DUMMY_HASH = _HASHER.hash("carehub-no-such-user")

CARE_ROLES = frozenset({"nurse", "team_lead"})


class NotFoundError(LookupError):
    """The object does not exist or the user may not know it exists (answered as 404)."""


class AuthError(PermissionError):
    """Authentication failed (answered as 401)."""


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash`."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str,
    role: str,
    qualification_level: int = 0,
    team_ids: tuple[str, ...] = (),
    pharmacy_id: str | None = None,
    now: datetime | None = None,
) -> User:
    """Add a user (and team memberships)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    user = User(
        id=uuid.uuid4().hex,
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        qualification_level=qualification_level,
        pharmacy_id=pharmacy_id,
        active=True,
        created_at=now or datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    for team_id in team_ids:
        session.add(TeamMember(user_id=user.id, team_id=team_id))
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The active user with these credentials, or AuthError."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise AuthError("invalid username or password")
    if not verify_password(user.password_hash, password) or not user.active:
        raise AuthError("invalid username or password")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user_id: str,
    name: str = "",
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> str:
    """Create an API token for a user; the plain token is returned once and never stored."""
    when = now or datetime.now(UTC)
    token = "chb_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            id=uuid.uuid4().hex,
            user_id=user_id,
            token_hash=_token_digest(token),
            name=name,
            created_at=when,
            expires_at=when + ttl if ttl else None,
            revoked_at=None,
        )
    )
    session.flush()
    return token


# Built once: SQLAlchemy computes a statement's cache key once per statement object, and
# these run on every request.
_USER_FOR_TOKEN = (
    select(User, ApiToken.revoked_at, ApiToken.expires_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
_CARE_CLIENT = select(Client).where(
    Client.id == bindparam("client_id"),
    Client.team_id.in_(
        select(TeamMember.team_id).where(TeamMember.user_id == bindparam("user_id"))
    ),
)


def user_for_token(session: Session, *, token: str, now: datetime | None = None) -> User:
    """The active user owning a valid token, or AuthError.

    One indexed lookup of the token's SHA-256 (never a password hash per request), with
    the user loaded in the same query.
    """
    when = now or datetime.now(UTC)
    row = session.execute(_USER_FOR_TOKEN, {"digest": _token_digest(token)}).first()
    if row is None:
        raise AuthError("invalid token")
    user, revoked_at, expires_at = row
    if revoked_at is not None:
        raise AuthError("invalid token")
    if expires_at is not None and expires_at <= when:
        raise AuthError("token expired")
    if not user.active:
        raise AuthError("invalid token")
    return user


def revoke_token(session: Session, *, token: str, now: datetime | None = None) -> None:
    """Revoke a token (it stops working at once)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        session.flush()


def team_ids_of(session: Session, *, user: User) -> set[str]:
    """Teams the user belongs to."""
    return set(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))


def visible_client_ids(session: Session, user: User) -> set[str]:
    """Ids of the clients whose data this user may see.

    Nurses and team leads: their teams' clients. Pharmacists: their pharmacy's clients.
    Administrators: all clients. Family and inactive users: none (family never sees
    medication data).
    """
    if not user.active:
        return set()
    if user.role in CARE_ROLES:
        teams = team_ids_of(session, user=user)
        if not teams:
            return set()
        return set(session.scalars(select(Client.id).where(Client.team_id.in_(teams))))
    if user.role == "pharmacist":
        if user.pharmacy_id is None:
            return set()
        return set(
            session.scalars(
                select(PharmacyClient.client_id).where(
                    PharmacyClient.pharmacy_id == user.pharmacy_id
                )
            )
        )
    if user.role == "admin":
        return set(session.scalars(select(Client.id)))
    return set()


def client_in_scope(session: Session, user: User, client_id: str) -> Client | None:
    """The client when it exists and the user may see its data, else None (one query).

    Nurses and team leads: a client of one of their teams. Pharmacists: a client their
    pharmacy supplies. Administrators: any client. Others, and inactive users: none.
    """
    if not user.active:
        return None
    if user.role in CARE_ROLES:
        return session.scalar(_CARE_CLIENT, {"client_id": client_id, "user_id": user.id})
    if user.role == "pharmacist":
        if user.pharmacy_id is None:
            return None
        return session.scalar(
            select(Client)
            .join(PharmacyClient, PharmacyClient.client_id == Client.id)
            .where(Client.id == client_id, PharmacyClient.pharmacy_id == user.pharmacy_id)
        )
    if user.role == "admin":
        return session.get(Client, client_id)
    return None


def can_access_client(session: Session, user: User, client_id: str) -> bool:
    """True when the user may see this client's data."""
    return client_in_scope(session, user, client_id) is not None


def require_client_access(session: Session, user: User, client_id: str) -> Client:
    """The client, or NotFoundError when it does not exist or is outside the user's scope."""
    client = client_in_scope(session, user, client_id)
    if client is None:
        # Same answer as "no such client": outsiders learn nothing about who is cared for.
        raise NotFoundError(f"client {client_id!r} not found")
    return client


def visible_clients(session: Session, user: User) -> list[Client]:
    """The clients whose data this user may see (rows, in id order; see visible_client_ids)."""
    if not user.active:
        return []
    query = select(Client).order_by(Client.id)
    if user.role in CARE_ROLES:
        query = query.where(
            Client.team_id.in_(select(TeamMember.team_id).where(TeamMember.user_id == user.id))
        )
    elif user.role == "pharmacist":
        if user.pharmacy_id is None:
            return []
        query = query.join(PharmacyClient, PharmacyClient.client_id == Client.id).where(
            PharmacyClient.pharmacy_id == user.pharmacy_id
        )
    elif user.role != "admin":
        return []
    return list(session.scalars(query))


def pharmacy_serves(session: Session, *, pharmacy_id: str, client_id: str) -> bool:
    """True when the pharmacy is linked to the client."""
    return session.get(PharmacyClient, (pharmacy_id, client_id)) is not None


def create_pharmacy(
    session: Session, *, pharmacy_id: str, name: str, now: datetime | None = None
) -> Pharmacy:
    """Add a pharmacy."""
    pharmacy = Pharmacy(id=pharmacy_id, name=name, created_at=now or datetime.now(UTC))
    session.add(pharmacy)
    session.flush()
    return pharmacy


def link_pharmacy_client(session: Session, *, pharmacy_id: str, client_id: str) -> None:
    """Let a pharmacy supply (see and upload for) a client."""
    if not pharmacy_serves(session, pharmacy_id=pharmacy_id, client_id=client_id):
        session.add(PharmacyClient(pharmacy_id=pharmacy_id, client_id=client_id))
        session.flush()
