"""docs/asyncapi.yaml: in step with the pydantic schemas, well-formed, and true to the wire."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from devices import asyncapi
from devices import payloads as p
from devices.envelope import decode
from devices.kinds import COMMAND_SCHEMAS, EVENT_SCHEMAS
from devices.topics import PREFIX
from tests.unit.devices.devices_strategies import PAYLOADS, event_bytes

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
DOC_URI = "urn:carehub:asyncapi"
REGENERATE = "run `python -m devices.asyncapi > docs/asyncapi.yaml`"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FORMATS = FormatChecker()


def _is_rfc3339(value: object) -> bool:
    # jsonschema checks `date-time` only with an optional package; RFC 3339 §5.6, with offset.
    if not isinstance(value, str):
        return True
    return bool(_RFC3339.fullmatch(value)) and datetime.fromisoformat(value).tzinfo is not None


_FORMATS.checks("date-time")(_is_rfc3339)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _validator(doc: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` whose `$ref`s resolve inside the document."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=_FORMATS
    )


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local refs expected, got {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"dangling $ref {ref}"
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# --- drift ----------------------------------------------------------------------------------


def test_committed_document_matches_the_schemas() -> None:
    committed = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    generated = asyncapi.render()
    if committed != generated:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    generated.splitlines(keepends=True),
                    "docs/asyncapi.yaml (committed)",
                    "generated from devices/",
                )
            )[:40]
        )
        pytest.fail(f"docs/asyncapi.yaml is out of date: {REGENERATE}\n{diff}", pytrace=False)


def test_rendering_is_deterministic_and_round_trips_through_yaml() -> None:
    text = asyncapi.render()
    assert text == asyncapi.render()
    assert yaml.safe_load(text) == json.loads(json.dumps(asyncapi.build()))
    assert "&id" not in text  # no YAML anchors/aliases


def test_main_writes_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncapi.main([]) == 0
    assert capsys.readouterr().out == asyncapi.render()
    target = tmp_path / "asyncapi.yaml"
    assert asyncapi.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == asyncapi.render()


def test_a_new_event_type_without_an_example_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_SCHEMAS, "fall.detected", p.Motion)
    with pytest.raises(LookupError, match="fall.detected"):
        asyncapi.build()


# --- structure ------------------------------------------------------------------------------


def test_document_header(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert isinstance(doc["info"]["title"], str)
    assert doc["info"]["title"]
    assert isinstance(doc["info"]["version"], str)
    assert "device" in doc["info"]["description"].lower()
    assert "perspective" in doc["info"]["description"].lower()


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = list(_refs(doc))
    assert len(refs) > 30
    for ref in refs:
        _pointer(doc, ref)


def test_operations_reference_existing_channels_and_their_messages(doc: dict[str, Any]) -> None:
    used_channels = set()
    for name, op in doc["operations"].items():
        assert op["action"] in ("send", "receive"), name
        channel_ref = op["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/"), name
        channel_id = channel_ref.removeprefix("#/channels/")
        assert channel_id in doc["channels"], f"{name} uses a missing channel {channel_id}"
        used_channels.add(channel_id)
        assert op["messages"], name
        for msg in op["messages"]:
            # AsyncAPI 3: an operation's messages must be messages of its channel.
            assert msg["$ref"].startswith(f"{channel_ref}/messages/"), (name, msg)
            _pointer(doc, msg["$ref"])
    assert used_channels == set(doc["channels"]), "a channel no operation uses"


def test_channel_addresses_and_parameters_agree(doc: dict[str, Any]) -> None:
    for channel_id, channel in doc["channels"].items():
        address = channel["address"]
        assert address.startswith(PREFIX + "/{device_id}/"), channel_id
        placeholders = set(re.findall(r"\{([^}]+)\}", address))
        assert placeholders == set(channel.get("parameters", {})), channel_id


def test_every_event_type_and_command_has_a_message(doc: dict[str, Any]) -> None:
    event = doc["channels"]["event"]
    assert set(event["messages"]) == set(EVENT_SCHEMAS)
    assert event["parameters"]["event_type"]["enum"] == sorted(EVENT_SCHEMAS)
    command = doc["channels"]["command"]
    assert set(command["messages"]) == set(COMMAND_SCHEMAS)
    assert command["parameters"]["command"]["enum"] == sorted(COMMAND_SCHEMAS)
    for event_type in EVENT_SCHEMAS:
        message = _pointer(doc, event["messages"][event_type]["$ref"])
        assert message["name"] == event_type
        assert message["payload"]["properties"]["type"]["const"] == event_type


def test_mqtt_bindings_qos_retain_and_last_will(doc: dict[str, Any]) -> None:
    ops = doc["operations"]
    assert {name: op["bindings"]["mqtt"]["qos"] for name, op in ops.items()} == dict.fromkeys(
        ops, 1
    )
    assert ops["sendStatus"]["bindings"]["mqtt"]["retain"] is True
    assert ops["sendEvent"]["bindings"]["mqtt"]["retain"] is False
    will = doc["servers"]["embedded"]["bindings"]["mqtt"]["lastWill"]
    assert will["topic"] == doc["channels"]["status"]["address"]
    assert will["retain"] is True
    assert p.Status.model_validate_json(will["message"]).state == "offline"


def test_security_is_per_device_user_password_with_the_acl(doc: dict[str, Any]) -> None:
    server = doc["servers"]["embedded"]
    (sec,) = server["security"]
    scheme = _pointer(doc, sec["$ref"])
    assert scheme["type"] == "userPassword"
    assert f"{PREFIX}/{{device_id}}/#" in scheme["description"]
    assert f"{PREFIX}/{{device_id}}/cmd/#" in scheme["description"]


# --- payload schemas against real payloads ----------------------------------------------------


def _message_pointer(doc: dict[str, Any], channel: str, name: str) -> str:
    ref: str = doc["channels"][channel]["messages"][name]["$ref"]
    return ref.removeprefix("#") + "/payload"


def test_every_documented_example_validates_and_is_accepted_by_the_hub(
    doc: dict[str, Any],
) -> None:
    for channel_id, channel in doc["channels"].items():
        for name, ref in channel["messages"].items():
            message = _pointer(doc, ref["$ref"])
            assert message["examples"], f"{channel_id}/{name} has no example"
            validator = _validator(doc, _message_pointer(doc, channel_id, name))
            for example in message["examples"]:
                validator.validate(example["payload"])
                if channel_id == "event":
                    env = decode(json.dumps(example["payload"]).encode())
                    assert env.type == name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=event_bytes())
def test_event_schemas_accept_generated_valid_events(
    doc: dict[str, Any], event: tuple[str, str, BaseModel, bytes]
) -> None:
    event_type, _, _, raw = event
    _validator(doc, _message_pointer(doc, "event", event_type)).validate(json.loads(raw))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_command_status_and_ack_schemas_accept_generated_bodies(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    channel, name, model = data.draw(
        st.sampled_from(
            [("command", c, m) for c, m in sorted(COMMAND_SCHEMAS.items())]
            + [("status", "status", p.Status), ("ack", "ack", p.Ack)]
        )
    )
    body = data.draw(PAYLOADS[model]).model_dump(mode="json")
    _validator(doc, _message_pointer(doc, channel, name)).validate(body)


def test_event_schema_refuses_what_the_hub_refuses(doc: dict[str, Any]) -> None:
    example = asyncapi.example_envelope("battery")
    validator = _validator(doc, _message_pointer(doc, "event", "battery"))
    assert validator.is_valid(example)
    wrong = [
        example | {"type": "motion"},  # the message's own type only
        example | {"extra": 1},
        example | {"data": {"level_pct": 101}},
        example | {"data": {"room": "kitchen"}},
        example | {"ts": "2026-03-30T08:22:00"},  # no offset
        example | {"seq": "1042"},
        {k: v for k, v in example.items() if k != "id"},
    ]
    for payload in wrong:
        assert not validator.is_valid(payload), payload
