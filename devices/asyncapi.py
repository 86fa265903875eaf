"""Generate the AsyncAPI 3.0.0 document of the device MQTT API from the contract in `devices/`.

The document is derived, never hand-edited: `python -m devices.asyncapi > docs/asyncapi.yaml`
(or `python -m devices.asyncapi docs/asyncapi.yaml`). A unit test regenerates it and fails when
the committed file and the pydantic schemas drift apart.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from devices import payloads as p
from devices.envelope import MAX_PAYLOAD_BYTES, Envelope
from devices.kinds import COMMAND_SCHEMAS, DEVICE_ID_PREFIX, EVENT_SCHEMAS, KINDS, Kind
from devices.topics import DEVICE_ID_RE, NAME_RE, PREFIX

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.0.0"  # the `v1` in the topic prefix; bump both together
MQTT_BINDING_VERSION = "0.2.0"
OFFLINE_PAYLOAD = '{"state":"offline"}'

_AMS = ZoneInfo("Europe/Amsterdam")
# Examples sit on the morning after the spring DST change, so offsets show +02:00.
_MORNING = datetime(2026, 3, 30, 8, 0, tzinfo=_AMS)


def _at(hour: int, minute: int = 0) -> datetime:
    return _MORNING.replace(hour=hour, minute=minute)


EVENT_EXAMPLES: dict[str, BaseModel] = {
    "motion": p.Motion(room=p.Room.BATHROOM),
    "contact": p.Contact(door=p.Door.FRONT_DOOR, state="open"),
    "occupancy": p.Occupancy(place=p.Place.BED, state="vacant"),
    "dose.due": p.DoseDue(dose_id="d-2026-03-30-0800", scheduled_for=_at(8)),
    "dose.reminder": p.DoseReminder(dose_id="d-2026-03-30-0800", scheduled_for=_at(8), attempt=2),
    "dose.taken": p.DoseTaken(
        dose_id="d-2026-03-30-0800", scheduled_for=_at(8), taken_at=_at(8, 21)
    ),
    "dose.missed": p.DoseMissed(dose_id="d-2026-03-30-0800", scheduled_for=_at(8), window_min=45),
    "refill.low": p.RefillLow(doses_left=6),
    "message.spoken": p.MessageSpoken(
        message_id="m-koffie",
        schedule_version=12,
        scheduled_for=_at(10, 30),
        text="Goedemorgen Ans, heeft u al koffie gedronken?",
        question=True,
    ),
    "question.answered": p.QuestionAnswered(
        message_id="m-koffie", schedule_version=12, scheduled_for=_at(10, 30), answer=p.Answer.YES
    ),
    "heartbeat": p.Heartbeat(uptime_s=86_400, rssi_dbm=-67),
    "battery": p.Battery(level_pct=18),
}
"""A realistic `data` per event type, shown in the document and checked by the tests."""

COMMAND_EXAMPLES: dict[str, BaseModel] = {
    "dose_plan": p.DosePlan(
        version=7,
        doses=[
            p.PlannedDose(dose_id="ochtend", time="08:00", label="ontbijt"),
            p.PlannedDose(dose_id="avond", time="20:00", weekdays=[1, 3, 5], label="avondeten"),
        ],
    ),
    "schedule": p.RobotSchedule(
        version=12,
        messages=[
            p.RobotMessage(
                message_id="m-koffie",
                text="Goedemorgen Ans, heeft u al koffie gedronken?",
                at="10:30",
                question=True,
                repeat_if_unanswered_min=15,
            ),
            p.RobotMessage(
                message_id="m-kapper", text="Vanmiddag komt de kapper.", at="11:00", on="2026-04-02"
            ),
        ],
    ),
}
"""A realistic body per command, shown in the document and checked by the tests."""


# When each example event happens (device time); the rest happen at 08:22.
_EXAMPLE_TS: dict[str, datetime] = {
    "dose.due": _at(8),
    "dose.reminder": _at(8, 15),
    "dose.taken": _at(8, 21),
    "dose.missed": _at(8, 45),
    "message.spoken": _at(10, 30),
    "question.answered": _at(10, 31),
}


def example_device_id(kind: Kind) -> str:
    """A synthetic device id of `kind`, as the examples use."""
    return f"{DEVICE_ID_PREFIX[kind]}-4f2a9c"


def _kinds_sending(event_type: str) -> list[Kind]:
    return [k for k in KINDS if event_type in KINDS[k].events]


def _kinds_receiving(command: str) -> list[Kind]:
    return [k for k in KINDS if command in KINDS[k].commands]


def example_envelope(event_type: str) -> dict[str, Any]:
    """The example event of `event_type` as it goes on the wire (JSON-ready)."""
    kinds = _kinds_sending(event_type) or list(KINDS)
    device_id = example_device_id(kinds[0])
    seq = 1042
    env = Envelope(
        id=f"{device_id}:{seq}",
        device_id=device_id,
        ts=_EXAMPLE_TS.get(event_type, _at(8, 22)),
        seq=seq,
        type=event_type,
        data=EVENT_EXAMPLES[event_type].model_dump(mode="json"),
    )
    return env.model_dump(mode="json")


def _check_examples() -> None:
    missing = sorted(set(EVENT_SCHEMAS) - set(EVENT_EXAMPLES)) + sorted(
        set(COMMAND_SCHEMAS) - set(COMMAND_EXAMPLES)
    )
    if missing:
        raise LookupError(f"add an example to devices/asyncapi.py for: {', '.join(missing)}")
    for table, examples in ((EVENT_SCHEMAS, EVENT_EXAMPLES), (COMMAND_SCHEMAS, COMMAND_EXAMPLES)):
        for name, model in examples.items():
            if name in table and not isinstance(model, table[name]):
                raise TypeError(f"example for {name!r} is not a {table[name].__name__}")


def _component_schemas() -> tuple[dict[str, Any], dict[type[BaseModel], dict[str, Any]]]:
    models: set[type[BaseModel]] = {
        *EVENT_SCHEMAS.values(),
        *COMMAND_SCHEMAS.values(),
        p.Status,
        p.Ack,
    }
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, top = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}"
    )
    return top["$defs"], {m: refs[(m, "validation")] for m in ordered}


def _event_payload(event_type: str, data_ref: Mapping[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(Envelope.model_json_schema())
    schema["title"] = f"Event {event_type}"
    schema["properties"]["type"] = {
        "const": event_type,
        "description": "The event type; equals the last topic level",
        "type": "string",
    }
    schema["properties"]["data"] = dict(data_ref)
    return schema


def _mqtt(**fields: Any) -> dict[str, Any]:
    return {"mqtt": {**fields, "bindingVersion": MQTT_BINDING_VERSION}}


def _kind_tags(kinds: Sequence[Kind]) -> list[dict[str, str]]:
    return [{"name": f"kind:{k.value}"} for k in kinds]


def _device_id_parameter() -> dict[str, Any]:
    prefixes = ", ".join(f"`{DEVICE_ID_PREFIX[k]}-` {k.value}" for k in Kind)
    return {
        "description": (
            f"The device's id, one topic level matching `{DEVICE_ID_RE.pattern}`. "
            f"Ids the hub provisions start with the kind: {prefixes}."
        ),
        "examples": [example_device_id(k) for k in Kind],
    }


_DESCRIPTION = f"""\
The MQTT contract between carehub devices (and simulators) and the hub.

**Perspective.** This document describes a *device*: `send` operations are what a device
publishes, `receive` operations what it subscribes to. The hub does the mirror image: it
subscribes to `{PREFIX}/+/evt/+`, `{PREFIX}/+/status` and `{PREFIX}/+/ack` (as an MQTT 5
shared subscription `$share/{{group}}/...` when several hubs split the load) and publishes
commands.

**Transport.** MQTT 5, QoS 1 everywhere, UTF-8 JSON payloads of at most
{MAX_PAYLOAD_BYTES} bytes. Every event is delivered at least once; the hub stores each event
`id` once, so a device simply republishes what it has no PUBACK for, with the same `id`.
`seq` counts up per device so the hub can see gaps and reordering.

**Envelope.** Every event is `{{id, device_id, ts, seq, type, data}}`; `type` equals the last
topic level, `device_id` the device level, and `data` follows the schema of that type. Types
are checked strictly (`18` is a number, `"18"` and `true` are not), timestamps are RFC 3339
with an offset (`Z` or `+02:00`), and unknown fields are refused. A payload that breaks the
contract is not lost: the hub keeps it as a dead letter with the reason.

**Availability.** On connect a device publishes the retained `{{"state":"online"}}` on its
status topic and registers `{OFFLINE_PAYLOAD}` (retained, QoS 1) on the same topic as its Last
Will, so the broker reports it offline when the connection drops.

**Access.** Each device has its own broker account: it may publish only below
`{PREFIX}/{{device_id}}/` and subscribe only to `{PREFIX}/{{device_id}}/cmd/#`. The hub has
an account of its own.

Generated by `python -m devices.asyncapi` from the pydantic models in `devices/`; do not edit.
"""


def build() -> dict[str, Any]:
    """Build the AsyncAPI document as plain JSON-compatible data."""
    _check_examples()
    schemas, refs = _component_schemas()
    event_types = sorted(EVENT_SCHEMAS)
    commands = sorted(COMMAND_SCHEMAS)
    device_id_param = _device_id_parameter()

    messages: dict[str, Any] = {}
    for t in event_types:
        model = EVENT_SCHEMAS[t]
        kinds = _kinds_sending(t)
        sent_by = ", ".join(k.value for k in kinds) or "no device kind yet"
        messages[f"evt.{t}"] = {
            "name": t,
            "title": f"Event {t}",
            "summary": (model.__doc__ or t).strip(),
            "description": f"Published on `{PREFIX}/{{device_id}}/evt/{t}` by: {sent_by}.",
            "contentType": "application/json",
            "payload": _event_payload(t, refs[model]),
            "tags": _kind_tags(kinds),
            "examples": [{"name": t.replace(".", "_"), "payload": example_envelope(t)}],
        }
    messages["status"] = {
        "name": "status",
        "title": "Availability",
        "summary": (p.Status.__doc__ or "").strip(),
        "contentType": "application/json",
        "payload": refs[p.Status],
        "examples": [
            {"name": "online", "payload": {"state": "online"}},
            {"name": "last_will", "payload": {"state": "offline"}},
        ],
    }
    messages["ack"] = {
        "name": "ack",
        "title": "Command acknowledgement",
        "summary": (p.Ack.__doc__ or "").strip(),
        "description": (
            "`command` is the command name (last level of the cmd topic) and `version` the "
            "version of the body the device applied (`ok: true`) or refused (`ok: false`, "
            "with `error`)."
        ),
        "contentType": "application/json",
        "payload": refs[p.Ack],
        "examples": [
            {
                "name": "applied",
                "payload": p.Ack(command="dose_plan", version=7, ok=True).model_dump(mode="json"),
            }
        ],
    }
    for c in commands:
        model = COMMAND_SCHEMAS[c]
        kinds = _kinds_receiving(c)
        received_by = ", ".join(k.value for k in kinds) or "no device kind yet"
        messages[f"cmd.{c}"] = {
            "name": c,
            "title": f"Command {c}",
            "summary": (model.__doc__ or c).strip(),
            "description": f"Sent on `{PREFIX}/{{device_id}}/cmd/{c}` to: {received_by}.",
            "contentType": "application/json",
            "payload": refs[model],
            "tags": _kind_tags(kinds),
            "examples": [{"name": c, "payload": COMMAND_EXAMPLES[c].model_dump(mode="json")}],
        }

    def msg_ref(key: str) -> dict[str, str]:
        return {"$ref": f"#/components/messages/{key}"}

    channels: dict[str, Any] = {
        "event": {
            "address": f"{PREFIX}/{{device_id}}/evt/{{event_type}}",
            "title": "Device events",
            "description": "One topic per device and event type; the payload is an envelope.",
            "parameters": {
                "device_id": device_id_param,
                "event_type": {
                    "description": (
                        f"The event type, one topic level matching `{NAME_RE.pattern}`; "
                        "equals the envelope's `type`."
                    ),
                    "enum": event_types,
                },
            },
            "messages": {t: msg_ref(f"evt.{t}") for t in event_types},
        },
        "status": {
            "address": f"{PREFIX}/{{device_id}}/status",
            "title": "Device availability",
            "description": "Retained; the `offline` form is also the device's Last Will.",
            "parameters": {"device_id": device_id_param},
            "messages": {"status": msg_ref("status")},
        },
        "ack": {
            "address": f"{PREFIX}/{{device_id}}/ack",
            "title": "Command acknowledgements",
            "parameters": {"device_id": device_id_param},
            "messages": {"ack": msg_ref("ack")},
        },
        "command": {
            "address": f"{PREFIX}/{{device_id}}/cmd/{{command}}",
            "title": "Commands to a device",
            "description": (
                "Retained by the hub, so a device that (re)connects gets the latest complete "
                "body; each body replaces the previous one and carries a `version`."
            ),
            "parameters": {
                "device_id": device_id_param,
                "command": {
                    "description": (
                        f"The command name, one topic level matching `{NAME_RE.pattern}`."
                    ),
                    "enum": commands,
                },
            },
            "messages": {c: msg_ref(f"cmd.{c}") for c in commands},
        },
    }

    operations: dict[str, Any] = {
        "sendEvent": {
            "action": "send",
            "channel": {"$ref": "#/channels/event"},
            "title": "Publish an event",
            "summary": "QoS 1, not retained; republish with the same `id` until PUBACK.",
            "bindings": _mqtt(qos=1, retain=False),
            "messages": [{"$ref": f"#/channels/event/messages/{t}"} for t in event_types],
        },
        "sendStatus": {
            "action": "send",
            "channel": {"$ref": "#/channels/status"},
            "title": "Publish availability",
            "summary": "QoS 1, retained: `online` after connecting, `offline` as Last Will.",
            "bindings": _mqtt(qos=1, retain=True),
            "messages": [{"$ref": "#/channels/status/messages/status"}],
        },
        "sendAck": {
            "action": "send",
            "channel": {"$ref": "#/channels/ack"},
            "title": "Acknowledge a command",
            "summary": "QoS 1, not retained; one ack per command body received.",
            "bindings": _mqtt(qos=1, retain=False),
            "messages": [{"$ref": "#/channels/ack/messages/ack"}],
        },
        "receiveCommand": {
            "action": "receive",
            "channel": {"$ref": "#/channels/command"},
            "title": "Receive commands",
            "summary": "Subscribe to the device's own `cmd/#` at QoS 1; the hub retains bodies.",
            "bindings": _mqtt(qos=1, retain=True),
            "messages": [{"$ref": f"#/channels/command/messages/{c}"} for c in commands],
        },
    }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:carehub:devices:mqtt:v1",
        "info": {
            "title": "carehub device MQTT API",
            "version": CONTRACT_VERSION,
            "description": _DESCRIPTION,
            "license": {
                "name": "EUPL-1.2",
                "url": "https://interoperable-europe.ec.europa.eu/collection/eupl/eupl-text-eupl-12",
            },
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "{host}:{port}",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": (
                    "The Mosquitto that `carehub serve` starts itself, or any broker with the "
                    "same topic contract and access rules."
                ),
                "variables": {
                    "host": {"default": "127.0.0.1"},
                    "port": {"default": "1884"},
                },
                "security": [{"$ref": "#/components/securitySchemes/deviceCredentials"}],
                "bindings": _mqtt(
                    lastWill={
                        "topic": f"{PREFIX}/{{device_id}}/status",
                        "qos": 1,
                        "retain": True,
                        "message": OFFLINE_PAYLOAD,
                    }
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "deviceCredentials": {
                    "type": "userPassword",
                    "description": (
                        "Per-device username and password, issued once by "
                        "`carehub devices add` and revocable at runtime. ACL: publish only "
                        f"to `{PREFIX}/{{device_id}}/#`, subscribe only to "
                        f"`{PREFIX}/{{device_id}}/cmd/#`; anonymous access is refused."
                    ),
                }
            },
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes shared sub-trees out in full: anchors and aliases confuse AsyncAPI tooling."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line text (the Markdown description) as a literal block, readable in review.
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None
    )


_Dumper.add_representer(str, _represent_str)


def render() -> str:
    """The document as deterministic YAML (sorted keys)."""
    return yaml.dump(
        build(),
        Dumper=_Dumper,
        sort_keys=True,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def write(path: Path) -> None:
    """Write the document to `path`."""
    path.write_text(render(), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m devices.asyncapi [PATH]`: write the document to PATH or stdout."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        sys.stderr.write("usage: python -m devices.asyncapi [PATH]\n")
        return 2
    if args:
        write(Path(args[0]))
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
