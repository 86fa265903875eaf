"""The event envelope every device publishes, and strict decoding of raw MQTT payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import to_json

from devices.kinds import EVENT_SCHEMAS, KINDS, Kind
from devices.payloads import WireDatetime
from devices.topics import DEVICE_ID_RE, NAME_RE

MAX_PAYLOAD_BYTES = 16 * 1024
"""Largest event payload the hub accepts; larger ones are dead-lettered as oversized."""

EventId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Envelope(BaseModel):
    """What every device event looks like on the wire (JSON, UTF-8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId = Field(description="Unique per event; the hub stores each id once")
    device_id: str = Field(pattern=DEVICE_ID_RE.pattern)
    ts: WireDatetime = Field(description="Device time of the event, RFC 3339 with offset")
    seq: int = Field(ge=0, le=2**63 - 1, description="Per-device sequence number")
    type: str = Field(pattern=NAME_RE.pattern)
    data: dict[str, Any]


class InvalidPayload(ValueError):
    """A payload that breaks the contract. `reason` is short and fit for a dead-letter row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def decode(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Envelope:
    """Decode and validate an event payload (envelope and typed `data`).

    Raises only InvalidPayload, whatever the bytes.
    """
    if len(payload) > max_bytes:
        raise InvalidPayload(f"oversized: {len(payload)} bytes > {max_bytes}")
    # Strict JSON validation: the wire types are the documented ones (docs/asyncapi.yaml), so
    # `true` is no battery level, "5" no sequence number and 1700000000 no RFC 3339 time.
    try:
        env = Envelope.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        raise InvalidPayload(f"envelope: {_summarise(exc)}") from None
    except (ValueError, RecursionError) as exc:  # defensive: the parser itself gave up
        raise InvalidPayload(f"envelope: {type(exc).__name__}") from None
    schema = EVENT_SCHEMAS.get(env.type)
    if schema is None:
        raise InvalidPayload(f"unknown event type {env.type!r}")
    try:
        # `data` is validated as JSON too (strict Python mode would refuse enum values given as
        # strings); non-finite floats become null so they fail as wrong types, not as bad JSON.
        schema.model_validate_json(to_json(env.data, inf_nan_mode="null"), strict=True)
    except ValidationError as exc:
        raise InvalidPayload(f"data ({env.type}): {_summarise(exc)}") from None
    return env


def check_allowed(env: Envelope, *, kind: Kind, topic_device_id: str, topic_type: str) -> None:
    """Check the envelope against its topic and the device's kind; raise InvalidPayload."""
    if env.device_id != topic_device_id:
        raise InvalidPayload(
            f"device_id {env.device_id!r} does not match topic device {topic_device_id!r}"
        )
    if env.type != topic_type:
        raise InvalidPayload(f"type {env.type!r} does not match topic type {topic_type!r}")
    if env.type not in KINDS[kind].events:
        raise InvalidPayload(f"event type {env.type!r} is not one a {kind.value} device sends")


def encode(*, id: str, device_id: str, ts: datetime, seq: int, type: str, data: BaseModel) -> bytes:
    """Build the wire form of an event (used by simulators and tests)."""
    env = Envelope(
        id=id, device_id=device_id, ts=ts, seq=seq, type=type, data=data.model_dump(mode="json")
    )
    return env.model_dump_json().encode()
