"""Logging: plain text for a terminal, or one JSON object per line for a log collector.

A JSON line has `ts` (RFC 3339, UTC), `level`, `logger`, `message`, and `request_id` /
`event_id` when the code runs inside a request or handles an event (context variables,
so they follow the work across threads started with a copied context, e.g. FastAPI's
thread pool). Fields passed with `extra={...}` are kept; an exception adds `exc`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("carehub_request_id", default=None)
event_id_var: ContextVar[str | None] = ContextVar("carehub_event_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
# A caller's request id is echoed into logs and headers: accept only short, harmless ones
# (no spaces, quotes or control characters that could forge log lines or headers).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, event_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as a single line of JSON."""
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        event_id = getattr(record, "event_id", None) or event_id_var.get()
        if event_id:
            out["event_id"] = event_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # default=str: an odd extra value must never make logging itself fail.
        return json.dumps(out, ensure_ascii=False, default=str)


class ContextTextFormatter(logging.Formatter):
    """The plain format, with [request_id] / [event_id] appended when they are set."""

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as text."""
        line = super().format(record)
        tags = [
            f"{name}={value}"
            for name, value in (
                ("request_id", request_id_var.get()),
                ("event_id", event_id_var.get()),
            )
            if value
        ]
        return f"{line} [{' '.join(tags)}]" if tags else line


def configure_logging(
    *, level: str = "INFO", json_lines: bool = False, stream: TextIO | None = None
) -> None:
    """Route all logging (uvicorn's included) to one stderr handler, JSON or text."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else ContextTextFormatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers get their own handlers only when uvicorn.run has a log_config;
    # with log_config=None they propagate here and are formatted like everything else.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
        lg.setLevel(logging.NOTSET)  # an earlier uvicorn.run may have set its own level


@contextmanager
def bind_event_id(event_id: str | None) -> Iterator[None]:
    """Tag log lines written inside the block with `event_id` (ingest, rules, eTRS hooks)."""
    token = event_id_var.set(event_id)
    try:
        yield
    finally:
        event_id_var.reset(token)


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's X-Request-ID if it is safe to echo, else a fresh one."""
    if value is not None and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    """ASGI middleware: X-Request-ID in (or a new one) → context variable → X-Request-ID out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name.decode("latin-1").lower() == REQUEST_ID_HEADER:
                incoming = value.decode("latin-1")
                break
        request_id = accept_request_id(incoming)
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() != REQUEST_ID_HEADER
                ]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
