"""Pharmacy upload page: choose a file, see the validation report in place."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from etrs.importers import content_type_for, import_bytes
from etrs.importers.report import report_lines
from etrs.importers.routes import HTTP_LIMITS
from etrs.importers.service import UploadRefused, store_upload
from hub.auth.deps import SessionDep, request_source
from hub.web.i18n import lang_of
from hub.web.routes import OptionalUser, login_redirect, render

router = APIRouter(prefix="/pharmacy", include_in_schema=False)


def _pharmacist(request: Request, user: OptionalUser) -> str | Response:
    if user is None:
        return login_redirect(request)
    if user.role != "pharmacist" or not user.pharmacy_id:
        raise HTTPException(404)
    return user.pharmacy_id


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, user: OptionalUser) -> Response:
    ok = _pharmacist(request, user)
    if isinstance(ok, Response):
        return ok
    return render(request, "pharmacy/upload.html", user=user, active="upload", report=None)


@router.post("/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    pharmacy_id = _pharmacist(request, user)
    if isinstance(pharmacy_id, Response):
        return pharmacy_id
    assert user is not None
    lang: Literal["nl", "en"] = "en" if lang_of(request) == "en" else "nl"
    data = await file.read(HTTP_LIMITS.max_bytes + 1)
    name = file.filename or "upload"
    result = await run_in_threadpool(import_bytes, data, content_type_for(name), limits=HTTP_LIMITS)
    report: dict[str, object] = {"file": name, "lines": report_lines(result, lang=lang)}
    if not result.ok:
        report["accepted"] = False
        return render(
            request, "pharmacy/upload.html", user=user, active="upload", report=report, status=422
        )
    try:
        stored = await run_in_threadpool(
            store_upload,
            session,
            pharmacy_id=pharmacy_id,
            result=result,
            actor=user.id,
            origin=request_source(request),
        )
    except UploadRefused as exc:
        session.rollback()
        report["accepted"] = False
        report["lines"] = [
            f"FOUT: {exc}; er is niets opgeslagen"
            if lang == "nl"
            else f"ERROR: {exc}; nothing was stored"
        ]
        return render(
            request, "pharmacy/upload.html", user=user, active="upload", report=report, status=422
        )
    report.update(
        accepted=True,
        created=stored.created,
        unchanged=stored.unchanged,
        versions=stored.versions,
        items=result.item_count,
    )
    return render(request, "pharmacy/upload.html", user=user, active="upload", report=report)
