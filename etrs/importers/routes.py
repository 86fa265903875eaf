"""POST /api/v1/pharmacy/lists: a pharmacy uploads its administration lists (FHIR or CSV)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from etrs.importers import import_bytes
from etrs.importers.limits import Limits
from etrs.importers.report import ImportResult, operation_outcome
from etrs.importers.service import UploadRefused, store_upload
from hub.auth.deps import CurrentUser, SessionDep, SourceDep
from hub.auth.models import User

router = APIRouter(prefix="/api/v1/pharmacy", tags=["pharmacy"])

ACCEPTED = ("application/fhir+xml", "application/fhir+json", "text/csv")
HTTP_LIMITS = Limits(max_bytes=32 * 1024 * 1024, max_entries=50_000, max_rows=100_000)


def pharmacy_of(user: User) -> str:
    """The pharmacy a user uploads for; others may not upload at all."""
    if user.role != "pharmacist" or not user.pharmacy_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only pharmacy staff upload lists")
    return user.pharmacy_id


def problem(result: ImportResult) -> dict[str, Any]:
    """The error answer: an OperationOutcome, plus row/column for CSV people and tools."""
    body = operation_outcome(result)
    if result.format == "csv":
        body["csv_errors"] = [
            {
                "row": i.row,
                "column": i.column,
                "message_nl": i.message_nl,
                "message_en": i.message_en,
            }
            for i in result.errors
        ]
    return body


@router.post("/lists", status_code=201, responses={422: {"description": "OperationOutcome"}})
async def upload_lists(
    request: Request, session: SessionDep, user: CurrentUser, source: SourceDep
) -> JSONResponse:
    """Validate and store an upload: all client lists or none; the same content twice is a no-op."""
    pharmacy_id = pharmacy_of(user)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send one of {', '.join(ACCEPTED)}; got {content_type or 'nothing'}",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > HTTP_LIMITS.max_bytes:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"upload larger than {HTTP_LIMITS.max_bytes} bytes",
        )
    body = await request.body()
    # Parsing a large list takes seconds: off the event loop, so live views keep streaming.
    result = await run_in_threadpool(import_bytes, body, content_type, limits=HTTP_LIMITS)
    if not result.ok:
        return JSONResponse(problem(result), status_code=422, media_type="application/fhir+json")
    try:
        stored = await run_in_threadpool(
            store_upload,
            session,
            pharmacy_id=pharmacy_id,
            result=result,
            actor=user.id,
            origin=source,
        )
    except UploadRefused as exc:
        session.rollback()
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "not-found",
                    "details": {"text": f"Niets opgeslagen. {exc}"},
                    "diagnostics": f"Nothing stored. {exc}",
                }
            ],
        }
        return JSONResponse(outcome, status_code=422, media_type="application/fhir+json")
    return JSONResponse(
        {
            "created": stored.created,
            "unchanged": stored.unchanged,
            "versions": stored.versions,
            "warnings": [i.message_en for i in result.issues if i.severity == "warning"],
        },
        status_code=201,
    )
