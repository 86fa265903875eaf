"""Structured logs: one JSON object per line with request/event ids; X-Request-ID in and out."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.logging_setup import (
    JsonFormatter,
    RequestIdMiddleware,
    accept_request_id,
    bind_event_id,
    configure_logging,
    event_id_var,
    request_id_var,
)

HEX32 = re.compile(r"[0-9a-f]{32}")


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("hub.test", logging.WARNING, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uv = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
        for n in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate) in uv.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def test_json_line_has_the_fixed_fields_and_the_ids_in_context() -> None:
    fmt = JsonFormatter()
    token = request_id_var.set("req-1")
    try:
        with bind_event_id("mot-1-0001"):
            line = fmt.format(record("stored %d events", 3, device_id="mot-1"))
        after = json.loads(fmt.format(record("outside")))
    finally:
        request_id_var.reset(token)
    out = json.loads(line)
    assert out["level"] == "WARNING"
    assert out["logger"] == "hub.test"
    assert out["message"] == "stored 3 events"
    assert out["request_id"] == "req-1"
    assert out["event_id"] == "mot-1-0001"
    assert out["device_id"] == "mot-1"
    ts = datetime.fromisoformat(out["ts"])
    assert ts.utcoffset() == timedelta(0)
    # Leaving bind_event_id removes the event id; the request id is still set there.
    assert "event_id" not in after
    assert after["request_id"] == "req-1"
    assert event_id_var.get() is None


def test_json_line_without_context_has_no_id_fields_and_carries_the_exception() -> None:
    fmt = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord("hub.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(fmt.format(rec))
    assert "request_id" not in out
    assert "event_id" not in out
    assert "ValueError: boom" in out["exc"]
    assert "\n" not in fmt.format(rec)


@settings(max_examples=60)
@given(message=st.text(), extra=st.one_of(st.none(), st.text(), st.integers(), st.binary()))
def test_any_message_is_exactly_one_parseable_json_line(message: str, extra: object) -> None:
    line = JsonFormatter().format(record("%s", message, note=extra))
    assert "\n" not in line
    assert "\r" not in line
    out = json.loads(line)
    assert out["message"] == message
    assert "note" in out


@settings(max_examples=60)
@given(value=st.text(max_size=200))
def test_request_ids_are_echoed_only_when_harmless(value: str) -> None:
    got = accept_request_id(value)
    if re.fullmatch(r"[A-Za-z0-9._:@/+=-]{1,128}", value):
        assert got == value
    else:
        assert HEX32.fullmatch(got)


def test_no_incoming_request_id_gives_a_fresh_one() -> None:
    assert HEX32.fullmatch(accept_request_id(None))
    assert accept_request_id(None) != accept_request_id(None)


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)
    log = logging.getLogger("hub.api.test")

    @app.get("/who")
    def who() -> dict[str, str | None]:
        log.warning("handling who")
        return {"request_id": request_id_var.get()}

    return app


def test_middleware_echoes_a_given_request_id_and_logs_carry_it(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json_lines=True, stream=stream)
    client = TestClient(_app())
    resp = client.get("/who", headers={"X-Request-ID": "trace-abc.123"})
    assert resp.headers["x-request-id"] == "trace-abc.123"
    assert resp.json() == {"request_id": "trace-abc.123"}
    lines = [json.loads(ln) for ln in stream.getvalue().splitlines()]
    handled = [ln for ln in lines if ln["message"] == "handling who"]
    assert handled
    assert handled[0]["request_id"] == "trace-abc.123"
    assert request_id_var.get() is None  # reset after the request


def test_middleware_replaces_an_unsafe_or_missing_request_id() -> None:
    client = TestClient(_app())
    resp = client.get("/who", headers={"X-Request-ID": "two words"})
    rid = resp.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert resp.json() == {"request_id": rid}
    first = client.get("/who").headers["x-request-id"]
    second = client.get("/who").headers["x-request-id"]
    assert HEX32.fullmatch(first)
    assert first != second


def test_text_mode_appends_the_ids(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", json_lines=False, stream=stream)
    with bind_event_id("evt-9"):
        logging.getLogger("hub.t").info("plain %s", "line")
    logging.getLogger("uvicorn.access").info("uvicorn line")
    text = stream.getvalue()
    assert "INFO hub.t: plain line [event_id=evt-9]" in text
    assert "uvicorn line" in text  # uvicorn's loggers now reach the one handler
    assert logging.getLogger().level == logging.DEBUG
