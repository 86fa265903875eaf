"""Store a validated upload: every client's list in the caller's one transaction, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from etrs.importers.report import ImportResult
from etrs.lists import ListError, store_list_version
from hub.auth.service import NotFoundError


class UploadRefused(ValueError):
    """A client list of the upload could not be stored; the caller rolls everything back."""

    def __init__(self, bsn: str, reason: str) -> None:
        masked = f"{bsn[:3]}…{bsn[-2:]}" if len(bsn) >= 5 else "?"
        super().__init__(f"BSN {masked}: {reason}")
        self.bsn_masked = masked
        self.reason = reason


@dataclass
class StoredUpload:
    """What an accepted upload did."""

    created: int = 0
    unchanged: int = 0
    versions: list[dict[str, Any]] = field(default_factory=list)


def store_upload(
    session: Session,
    *,
    pharmacy_id: str,
    result: ImportResult,
    actor: str,
    origin: str,
    on_stored: Callable[[], None] | None = None,
) -> StoredUpload:
    """Store each client's draft as a list version (idempotent per content hash).

    Raises UploadRefused at the first client that cannot be stored; the caller's unit of
    work then rolls back the whole upload (a half-imported list is dangerous).
    """
    if not result.ok:
        raise ValueError("store_upload needs a result without errors")
    fmt = "csv" if result.format == "csv" else "fhir"
    out = StoredUpload()
    for draft in result.drafts:
        try:
            stored = store_list_version(
                session,
                pharmacy_id=pharmacy_id,
                draft=draft,
                actor=actor,
                source=fmt,
                origin=origin,
            )
        except (ListError, NotFoundError) as exc:
            raise UploadRefused(draft.bsn, str(exc)) from None
        out.created += stored.created
        out.unchanged += not stored.created
        diff = stored.diff or {}
        out.versions.append(
            {
                "bsn": f"{draft.bsn[:3]}…{draft.bsn[-2:]}",
                "version": stored.version.version_no,
                "created": stored.created,
                "changes": {k: len(v) for k, v in diff.items() if isinstance(v, list)},
            }
        )
    return out
