"""Pages: login, logout, language and the start page. Other pages plug in beside these."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.auth.service import AuthError, authenticate
from hub.web import session as web_session
from hub.web.i18n import LANGS, lang_of, translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The signed-in user, or None (pages redirect to the login page)."""
    try:
        return web_session.cookie_authenticator(request, session)
    except AuthError:
        return None


OptionalUser = Annotated[User | None, Depends(optional_user)]


def render(
    request: Request, name: str, *, user: User | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page with the language, translator and user every page needs."""
    lang = lang_of(request)
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"lang": lang, "t": translator(lang), "user": user, **context},
        status_code=status,
    )


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the login page, coming back here afterwards."""
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect would let a phishing link log nurses in elsewhere.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: OptionalUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", user=None, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    t = translator(lang_of(request))
    try:
        user = authenticate(session, username=username, password=password)
    except AuthError:
        return render(
            request,
            "login.html",
            user=None,
            status=401,
            next=_safe_next(next),
            username=username,
            error=t("login.failed"),
        )
    token = web_session.start(session, user=user)
    from hub import audit

    audit.record(
        session,
        actor=user.id,
        action="session.login",
        object_type="user",
        object_id=user.id,
        source=request_source(request),
    )
    # Commit before answering: FastAPI closes the request's session only after the
    # response is sent, and the browser follows the redirect at once.
    session.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(
        web_session.COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(web_session.SESSION_TTL.total_seconds()),
    )
    return resp


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(web_session.COOKIE)
    if token:
        web_session.end(session, token=token)
        session.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(web_session.COOKIE)
    return resp


@router.get("/lang/{lang}")
def set_language(request: Request, lang: str) -> Response:
    back = request.headers.get("referer") or "/"
    resp = RedirectResponse(back if lang in LANGS else "/", status_code=303)
    if lang in LANGS:
        resp.set_cookie("lang", lang, samesite="lax", max_age=365 * 24 * 3600)
    return resp


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: OptionalUser) -> Response:
    if user is None:
        return login_redirect(request)
    if user.role == "family":
        return RedirectResponse("/family", status_code=303)  # family have their own pages
    return render(request, "home.html", user=user)
