"""Store a validated upload: every client's list in the caller's one transaction, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from etrs.importers.report import ImportResult
from etrs.lists import DraftRefused, store_list_versions


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
    work then rolls back the whole upload (a half-imported list is dangerous). `on_stored`
    is called once per client (progress bars).
    """
    if not result.ok:
        raise ValueError("store_upload needs a result without errors")
    fmt = "csv" if result.format == "csv" else "fhir"
    try:
        stored = store_list_versions(
            session,
            pharmacy_id=pharmacy_id,
            drafts=result.drafts,
            actor=actor,
            source=fmt,
            origin=origin,
            on_stored=on_stored,
        )
    except DraftRefused as exc:
        raise UploadRefused(exc.bsn, str(exc.error)) from None
    out = StoredUpload()
    for draft, version in zip(result.drafts, stored, strict=True):
        out.created += version.created
        out.unchanged += not version.created
        out.versions.append(
            {
                "bsn": f"{draft.bsn[:3]}…{draft.bsn[-2:]}",
                "version": version.version_no,
                "created": version.created,
                "changes": {k: len(v) for k, v in version.diff.items() if isinstance(v, list)},
            }
        )
    return out
