"""The MQTT topic contract: builders, parser and the filters the ACL and the hub use."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from devices.topics import (
    DEVICE_ID_RE,
    HUB_FILTERS,
    NAME_RE,
    PREFIX,
    Channel,
    Topic,
    TopicError,
    ack_topic,
    command_topic,
    device_command_filter,
    device_subtree,
    event_topic,
    parse,
    shared,
    status_topic,
)
from tests.unit.devices.devices_strategies import device_ids, names

_FAST = settings(max_examples=100, deadline=None)


@_FAST
@given(device_id=device_ids, name=names)
def test_event_topic_round_trips(device_id: str, name: str) -> None:
    topic = event_topic(device_id, name)
    assert parse(topic) == Topic(device_id, Channel.EVENT, name)
    assert str(parse(topic)) == topic


@_FAST
@given(device_id=device_ids, name=names)
def test_command_topic_round_trips(device_id: str, name: str) -> None:
    topic = command_topic(device_id, name)
    assert parse(topic) == Topic(device_id, Channel.COMMAND, name)
    assert str(parse(topic)) == topic


@_FAST
@given(device_id=device_ids)
def test_status_and_ack_topics_round_trip(device_id: str) -> None:
    assert parse(status_topic(device_id)) == Topic(device_id, Channel.STATUS)
    assert parse(ack_topic(device_id)) == Topic(device_id, Channel.ACK)
    assert str(parse(status_topic(device_id))) == status_topic(device_id)
    assert str(parse(ack_topic(device_id))) == ack_topic(device_id)


@_FAST
@given(device_id=device_ids, name=names)
def test_valid_ids_and_names_are_single_plain_topic_levels(device_id: str, name: str) -> None:
    # MQTT 5 §4.7: '/' separates levels, '+' and '#' are wildcards, '$' marks system topics.
    for level in (device_id, name):
        assert not set(level) & set("/+#$\x00")
        assert level.strip() == level


def test_examples_of_the_layout() -> None:
    assert event_topic("mot-4f2a9c", "motion") == "carehub/v1/dev/mot-4f2a9c/evt/motion"
    assert status_topic("mot-4f2a9c") == "carehub/v1/dev/mot-4f2a9c/status"
    assert ack_topic("dsp-4f2a9c") == "carehub/v1/dev/dsp-4f2a9c/ack"
    assert command_topic("dsp-4f2a9c", "dose_plan") == "carehub/v1/dev/dsp-4f2a9c/cmd/dose_plan"
    assert parse("carehub/v1/dev/dsp-4f2a9c/evt/dose.taken") == Topic(
        "dsp-4f2a9c", Channel.EVENT, "dose.taken"
    )


@_FAST
@given(topic=st.text(max_size=120))
def test_parse_of_any_text_round_trips_or_raises_topic_error(topic: str) -> None:
    try:
        parsed = parse(topic)
    except TopicError:
        return
    assert str(parsed) == topic


_BAD_LEVELS = st.sampled_from(
    ["", "+", "#", "$SYS", "a/b", "Mot-1", "ab", "x" * 64, " abc", "abc\n"]
)


@_FAST
@given(device_id=device_ids, name=names, bad=_BAD_LEVELS, where=st.integers(0, 3))
def test_parse_rejects_corrupted_topics(device_id: str, name: str, bad: str, where: int) -> None:
    levels = [*PREFIX.split("/"), device_id, "evt", name]
    if where == 0:
        assume(not DEVICE_ID_RE.fullmatch(bad))
        levels[3] = bad  # device id
    elif where == 1:
        assume(not NAME_RE.fullmatch(bad))
        levels[5] = bad  # event type
    elif where == 2:
        levels[4] = bad  # channel
    else:
        levels.append(bad or "extra")  # an extra level
    topic = "/".join(levels)
    with pytest.raises(TopicError):
        parse(topic)


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "carehub/v1/dev",
        "carehub/v1/dev/",
        "carehub/v1/dev/mot-4f2a9c",
        "carehub/v2/dev/mot-4f2a9c/status",
        "/carehub/v1/dev/mot-4f2a9c/status",
        "carehub/v1/dev/mot-4f2a9c/status/",
        "carehub/v1/dev/mot-4f2a9c/ack/extra",
        "carehub/v1/dev/mot-4f2a9c/evt",
        "carehub/v1/dev/mot-4f2a9c/evt/",
        "carehub/v1/dev/mot-4f2a9c/evt/motion/extra",
        "carehub/v1/dev/mot-4f2a9c/cmd/+",
        "carehub/v1/dev/+/evt/motion",
        "carehub/v1/dev/mot-4f2a9c/telemetry/motion",
        "$share/hub/carehub/v1/dev/mot-4f2a9c/status",
    ],
)
def test_parse_rejects_topics_outside_the_contract(topic: str) -> None:
    with pytest.raises(TopicError):
        parse(topic)


@_FAST
@given(text=st.text(max_size=70))
def test_builders_refuse_invalid_ids_and_names(text: str) -> None:
    if not DEVICE_ID_RE.fullmatch(text):
        for build in (status_topic, ack_topic, device_subtree, device_command_filter):
            with pytest.raises(TopicError):
                build(text)
        with pytest.raises(TopicError):
            event_topic(text, "motion")
    if not NAME_RE.fullmatch(text):
        with pytest.raises(TopicError):
            event_topic("mot-4f2a9c", text)
        with pytest.raises(TopicError):
            command_topic("mot-4f2a9c", text)


@_FAST
@given(device_id=device_ids, other=device_ids, name=names)
def test_acl_filters_cover_own_topics_only(device_id: str, other: str, name: str) -> None:
    own_publish = [event_topic(device_id, name), status_topic(device_id), ack_topic(device_id)]
    for topic in own_publish:
        assert topic_matches_sub(device_subtree(device_id), topic)
    assert topic_matches_sub(device_command_filter(device_id), command_topic(device_id, name))
    assume(other != device_id)
    others = [
        event_topic(other, name),
        status_topic(other),
        ack_topic(other),
        command_topic(other, name),
    ]
    for topic in others:
        assert not topic_matches_sub(device_subtree(device_id), topic)
        assert not topic_matches_sub(device_command_filter(device_id), topic)


@_FAST
@given(device_id=device_ids, name=names)
def test_hub_filters_match_device_to_hub_topics_but_not_commands(device_id: str, name: str) -> None:
    def hub_hears(topic: str) -> bool:
        return any(topic_matches_sub(f, topic) for f in HUB_FILTERS)

    assert hub_hears(event_topic(device_id, name))
    assert hub_hears(status_topic(device_id))
    assert hub_hears(ack_topic(device_id))
    # The hub must not receive its own commands back.
    assert not hub_hears(command_topic(device_id, name))


def test_shared_subscription_wraps_the_filter() -> None:
    assert shared(HUB_FILTERS[0], "hub") == "$share/hub/carehub/v1/dev/+/evt/+"
