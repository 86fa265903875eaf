"""Cross-site request forgery defence for cookie-authenticated requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

from hub.web.session import COOKIE, same_origin

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def csrf_guard(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Refuse a state-changing request that carries our session cookie but not our Origin.

    The cookie is SameSite=Strict already; this is the second lock (OWASP: verify origin).
    Requests with a bearer token are not cookie-driven and pass.
    """
    if (
        request.method in UNSAFE
        and COOKIE in request.cookies
        and "authorization" not in request.headers
        and not same_origin(request)
    ):
        return PlainTextResponse("cross-site request refused", status_code=403)
    return await call_next(request)
