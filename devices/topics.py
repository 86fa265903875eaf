"""MQTT topic contract.

Layout (ARCHITECTURE.md §1)::

    carehub/v1/dev/{device_id}/evt/{event_type}   device -> hub, QoS 1
    carehub/v1/dev/{device_id}/status             device -> hub, retained; Last Will "offline"
    carehub/v1/dev/{device_id}/ack                device -> hub, acknowledges a command
    carehub/v1/dev/{device_id}/cmd/{command}      hub -> device, QoS 1, retained

The home or client a device belongs to is deliberately absent: that is the hub's
registry, because devices move between homes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "carehub/v1/dev"

# Device ids and event types are single topic levels: no '/', no wildcards, no '$'.
DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")


class Channel(StrEnum):
    """What a topic carries."""

    EVENT = "evt"
    STATUS = "status"
    ACK = "ack"
    COMMAND = "cmd"


class TopicError(ValueError):
    """A topic that is not part of the contract."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed contract topic."""

    device_id: str
    channel: Channel
    name: str | None = None  # event type or command name; None for status/ack

    def __str__(self) -> str:
        base = f"{PREFIX}/{self.device_id}/{self.channel.value}"
        return f"{base}/{self.name}" if self.name is not None else base


def _check_device_id(device_id: str) -> None:
    if not DEVICE_ID_RE.fullmatch(device_id):
        raise TopicError(f"invalid device id {device_id!r}")


def _check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise TopicError(f"invalid name {name!r}")


def event_topic(device_id: str, event_type: str) -> str:
    """Topic a device publishes an event of `event_type` on."""
    _check_device_id(device_id)
    _check_name(event_type)
    return f"{PREFIX}/{device_id}/evt/{event_type}"


def status_topic(device_id: str) -> str:
    """Retained online/offline topic of a device (also its Last Will topic)."""
    _check_device_id(device_id)
    return f"{PREFIX}/{device_id}/status"


def ack_topic(device_id: str) -> str:
    """Topic a device acknowledges commands on."""
    _check_device_id(device_id)
    return f"{PREFIX}/{device_id}/ack"


def command_topic(device_id: str, command: str) -> str:
    """Topic the hub sends `command` to a device on."""
    _check_device_id(device_id)
    _check_name(command)
    return f"{PREFIX}/{device_id}/cmd/{command}"


def device_subtree(device_id: str) -> str:
    """Topic filter of everything a device may publish to (its ACL)."""
    _check_device_id(device_id)
    return f"{PREFIX}/{device_id}/#"


def device_command_filter(device_id: str) -> str:
    """Topic filter of the commands a device may subscribe to (its ACL)."""
    _check_device_id(device_id)
    return f"{PREFIX}/{device_id}/cmd/#"


# What the hub subscribes to (wrapped in $share/{group}/ for several hubs).
HUB_FILTERS: tuple[str, ...] = (
    f"{PREFIX}/+/evt/+",
    f"{PREFIX}/+/status",
    f"{PREFIX}/+/ack",
)


def shared(filter_: str, group: str) -> str:
    """An MQTT 5 shared subscription (spec §4.8.2) of `filter_` for `group`."""
    return f"$share/{group}/{filter_}"


def parse(topic: str) -> Topic:
    """Parse a contract topic; raise TopicError for anything else."""
    prefix = PREFIX + "/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is outside {PREFIX}/")
    parts = topic[len(prefix) :].split("/")
    if len(parts) < 2:
        raise TopicError(f"topic {topic!r} has no channel")
    device_id, channel_s, *rest = parts
    _check_device_id(device_id)
    try:
        channel = Channel(channel_s)
    except ValueError:
        raise TopicError(f"unknown channel {channel_s!r} in {topic!r}") from None
    if channel in (Channel.STATUS, Channel.ACK):
        if rest:
            raise TopicError(f"topic {topic!r} has extra levels")
        return Topic(device_id, channel)
    if len(rest) != 1:
        raise TopicError(f"topic {topic!r} needs exactly one name after {channel_s!r}")
    _check_name(rest[0])
    return Topic(device_id, channel, rest[0])
