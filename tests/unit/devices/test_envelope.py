"""The event envelope: strict decoding of raw MQTT payloads and the topic/kind checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from devices import payloads as p
from devices.envelope import MAX_PAYLOAD_BYTES, Envelope, InvalidPayload, check_allowed, decode
from devices.kinds import COMMAND_SCHEMAS, EVENT_SCHEMAS, KINDS, Kind
from tests.unit.devices.devices_strategies import (
    PAYLOADS,
    event_bytes,
    event_types,
    kinds_and_events,
)

_FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_reason(raw: bytes) -> Envelope | str:
    """Decode; an InvalidPayload becomes its reason, anything else propagates (test fails)."""
    try:
        return decode(raw)
    except InvalidPayload as exc:
        reason = exc.reason
    assert reason  # a dead letter always gets a reason
    assert len(reason) < 1000
    return reason


def _valid(event_type: str = "battery", **data: Any) -> dict[str, Any]:
    return {
        "id": "mot-4f2a9c:1042",
        "device_id": "mot-4f2a9c",
        "ts": "2026-03-30T08:22:00+02:00",
        "seq": 1042,
        "type": event_type,
        "data": data or {"level_pct": 18},
    }


def _same(a: BaseModel, b: BaseModel) -> bool:
    # Compared in wire form: PEP 495 makes a datetime in the repeated hour of a DST change
    # unequal to every datetime in another zone, even at the same instant.
    return type(a) is type(b) and a.model_dump(mode="json") == b.model_dump(mode="json")


def _raw(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_strategies_cover_every_contract_model() -> None:
    models = {*EVENT_SCHEMAS.values(), *COMMAND_SCHEMAS.values(), p.Status, p.Ack}
    assert models <= set(PAYLOADS), "add a strategy to devices_strategies.PAYLOADS"


# --- valid input --------------------------------------------------------------------------


@_FAST
@given(event=event_bytes())
def test_decode_accepts_every_valid_event(event: tuple[str, str, BaseModel, bytes]) -> None:
    event_type, device_id, data, raw = event
    env = decode(raw)
    assert env.type == event_type
    assert env.device_id == device_id
    assert _same(EVENT_SCHEMAS[event_type].model_validate(env.data), data)


@pytest.mark.parametrize("event_type", sorted(EVENT_SCHEMAS))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_decode_accepts_valid_events_of_each_type(event_type: str, data: st.DataObject) -> None:
    _, _, model, raw = data.draw(event_bytes(event_type))
    assert _same(EVENT_SCHEMAS[event_type].model_validate(decode(raw).data), model)


def test_payload_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    raw = _raw(_valid())
    padded = raw + b" " * (MAX_PAYLOAD_BYTES - len(raw))  # JSON allows trailing whitespace
    assert decode(padded).seq == 1042
    with pytest.raises(InvalidPayload, match="oversized"):
        decode(padded + b" ")


# --- arbitrary and hostile input -----------------------------------------------------------


@_FAST
@given(raw=st.binary(max_size=2048))
def test_decode_raises_only_invalid_payload_on_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(_decode_or_reason(raw), str)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@_FAST
@given(value=json_values)
def test_decode_raises_only_invalid_payload_on_arbitrary_json(value: object) -> None:
    assert isinstance(_decode_or_reason(json.dumps(value).encode()), str)


@_FAST
@given(field=st.sampled_from(sorted(_valid())), value=json_values)
def test_envelope_field_of_the_wrong_type_is_refused(field: str, value: object) -> None:
    obj = _valid()
    assume(value != obj[field])
    obj[field] = value
    result = _decode_or_reason(_raw(obj))
    if isinstance(result, Envelope):
        # Only another valid value may pass (e.g. a different valid id or seq).
        assert getattr(result, field) == value


@_FAST
@given(event=event_bytes(), field=st.text(max_size=20), value=json_values)
def test_data_with_an_extra_or_replaced_field_is_valid_or_refused_cleanly(
    event: tuple[str, str, BaseModel, bytes], field: str, value: object
) -> None:
    event_type, _, _, raw = event
    obj = json.loads(raw)
    obj["data"][field] = value
    result = _decode_or_reason(_raw(obj))
    if isinstance(result, Envelope):
        model = EVENT_SCHEMAS[event_type]
        assert field in model.model_fields  # extra fields are never accepted
        model.model_validate(result.data)


@_FAST
@given(
    event=event_bytes(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    mode=st.sampled_from(["replace", "insert", "delete"]),
)
def test_decode_of_corrupted_valid_events_raises_only_invalid_payload(
    event: tuple[str, str, BaseModel, bytes], edits: list[tuple[int, int]], mode: str
) -> None:
    buf = bytearray(event[3])
    for pos, byte in edits:
        i = pos % len(buf)
        if mode == "replace":
            buf[i] = byte
        elif mode == "insert":
            buf.insert(i, byte)
        elif len(buf) > 1:
            del buf[i]
    _decode_or_reason(bytes(buf))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "envelope"),
        (b"\xff\xfe\x00", "envelope"),
        (_raw(_valid()).replace(b"mot-4f2a9c:1042", b"mot-4f2a9c:\xff\xfe42"), "envelope"),
        (b"[" * 100_000, "oversized"),
        (b"[" * 5000 + b"]" * 5000, "envelope"),
        (b'{"a":' * 2000 + b"1" + b"}" * 2000, "envelope"),
        (_raw(_valid(nested=json.loads("[" * 150 + "]" * 150))), "data"),
        (_raw(_valid()).replace(b"1042,", b"9" * 5000 + b","), "envelope"),
        (_raw(_valid()).replace(b"1042,", str(2**63).encode() + b","), "seq"),
        (_raw(_valid()).replace(b"1042,", b"-1,"), "seq"),
        (_raw(_valid()).replace(b"1042,", b"1e400,"), "seq"),
        (_raw(_valid(level_pct=10**30)), "level_pct"),
        (_raw(_valid()).replace(b'"level_pct": 18', b'"level_pct": 1e400'), "level_pct"),
        (_raw(_valid()).replace(b'"level_pct": 18', b'"level_pct": NaN'), "level_pct"),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "oversized"),
        (b'"just a string"', "envelope"),
        (b"null", "envelope"),
        (_raw([_valid()]), "envelope"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else str(v),
)
def test_hostile_payloads_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        decode(raw)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"seq": "1042"}, "seq"),  # a numeric string is no sequence number
        ({"seq": True}, "seq"),
        ({"seq": 1042.0}, "seq"),
        ({"ts": 1774851720}, "ts"),  # unix time is not RFC 3339
        ({"ts": "2026-03-30T08:22:00"}, "ts"),  # no offset
        ({"ts": "9999-12-31T23:59:59-23:00"}, "ts"),  # cannot be stored as UTC
        ({"ts": "0001-01-01T00:00:00+01:00"}, "ts"),
        ({"data": {"level_pct": True}}, "level_pct"),  # `true` is no battery level
        ({"data": {"level_pct": "18"}}, "level_pct"),
        ({"data": {"level_pct": 101}}, "level_pct"),
        ({"data": {"level_pct": 18, "volts": 3.1}}, "volts"),
        ({"data": []}, "data"),
        ({"type": "Battery"}, "type"),
        ({"type": "temperature"}, "unknown event type"),
        ({"device_id": "MOT-1"}, "device_id"),
        ({"id": "short"}, "id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_wrong_types_and_values_are_refused(change: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidPayload, match=where):
        decode(_raw(_valid() | change))


def test_missing_field_is_refused() -> None:
    for field in _valid():
        obj = _valid()
        del obj[field]
        with pytest.raises(InvalidPayload, match=field):
            decode(_raw(obj))


def test_invalid_payload_is_a_value_error_with_its_reason() -> None:
    with pytest.raises(ValueError, match="oversized") as info:
        decode(b"{}", max_bytes=1)
    assert isinstance(info.value, InvalidPayload)
    assert info.value.reason == "oversized: 2 bytes > 1"


# --- check_allowed --------------------------------------------------------------------------


def _env(device_id: str, event_type: str) -> Envelope:
    return Envelope(
        id=f"{device_id}:1",
        device_id=device_id,
        ts=datetime(2026, 3, 30, 6, 22, tzinfo=UTC),
        seq=1,
        type=event_type,
        data={},
    )


@_FAST
@given(pair=kinds_and_events)
def test_check_allowed_accepts_matching_topic_and_kind(pair: tuple[Kind, str]) -> None:
    kind, event_type = pair
    env = _env("dev-4f2a9c", event_type)
    check_allowed(env, kind=kind, topic_device_id="dev-4f2a9c", topic_type=event_type)


@_FAST
@given(pair=kinds_and_events, other_type=event_types, other_kind=st.sampled_from(Kind))
def test_check_allowed_refuses_every_mismatch(
    pair: tuple[Kind, str], other_type: str, other_kind: Kind
) -> None:
    kind, event_type = pair
    env = _env("dev-4f2a9c", event_type)
    with pytest.raises(InvalidPayload, match="does not match topic device"):
        check_allowed(env, kind=kind, topic_device_id="dev-000000", topic_type=event_type)
    if other_type != event_type:
        with pytest.raises(InvalidPayload, match="does not match topic type"):
            check_allowed(env, kind=kind, topic_device_id="dev-4f2a9c", topic_type=other_type)
    if event_type not in KINDS[other_kind].events:
        with pytest.raises(InvalidPayload, match=f"not one a {other_kind.value} device sends"):
            check_allowed(env, kind=other_kind, topic_device_id="dev-4f2a9c", topic_type=event_type)


def test_a_motion_sensor_may_not_report_a_taken_dose() -> None:
    env = _env("mot-4f2a9c", "dose.taken")
    with pytest.raises(InvalidPayload, match="not one a motion device sends"):
        check_allowed(env, kind=Kind.MOTION, topic_device_id="mot-4f2a9c", topic_type="dose.taken")
