"""Every message the simulator publishes keeps the device contract."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from devices.envelope import InvalidPayload, check_allowed, decode
from devices.kinds import KINDS, Kind
from devices.topics import DEVICE_ID_RE, Channel, parse
from simulators.stream import Message
from tests.unit.simulators.sim_helpers import cached_run


def test_every_event_decodes_and_is_allowed_for_its_device_kind() -> None:
    run = cached_run(8, 4, 11)
    types: Counter[str] = Counter()
    for msg in run.messages:
        if "event" not in msg.body:
            continue
        env = decode(msg.payload())
        topic = parse(msg.topic)
        assert topic.channel is Channel.EVENT
        assert topic.name is not None
        check_allowed(
            env, kind=Kind(msg.kind), topic_device_id=topic.device_id, topic_type=topic.name
        )
        types[env.type] += 1
    # Every event type of the contract occurs in a week of eight homes.
    expected = set().union(*(spec.events for spec in KINDS.values()))
    assert set(types) == expected


def test_device_ids_follow_the_contract_and_are_deterministic_from_home_and_role() -> None:
    run = cached_run(8, 4, 11)
    manifest = run.sim.manifest()
    ids = [d["device_id"] for h in manifest["homes"] for d in h["devices"]]
    assert len(ids) == len(set(ids))
    assert all(DEVICE_ID_RE.fullmatch(i) for i in ids)
    first = manifest["homes"][0]
    assert {d["device_id"] for d in first["devices"]} >= {
        "h0001-mot-bathroom",
        "h0001-dor-front-door",
        "h0001-dor-fridge",
        "h0001-occ-bed",
        "h0001-dsp",
        "h0001-rbt",
    }


def test_event_ids_are_unique_and_seq_counts_up_per_device_without_faults() -> None:
    run = cached_run(8, 4, 11)
    ids: set[str] = set()
    last_seq: dict[str, int] = {}
    for msg in run.messages:
        env = msg.body.get("event")
        if env is None:
            continue
        assert env["id"] not in ids
        ids.add(env["id"])
        # Without faults devices publish in order: seq is gapless per device.
        assert env["seq"] == last_seq.get(env["device_id"], -1) + 1
        last_seq[env["device_id"]] = env["seq"]


def test_log_is_in_publish_time_order_and_lines_have_the_documented_shape() -> None:
    run = cached_run(8, 4, 11)
    times = [m.at_ms for m in run.messages]
    assert times == sorted(times)
    for msg in run.messages[:5000]:
        line = json.loads(msg.jsonl())
        assert {"home_id", "client_id", "kind", "topic"} <= set(line)
        if "event" in line:
            assert set(line) == {"home_id", "client_id", "kind", "topic", "event"}
        else:
            assert set(line) == {"home_id", "client_id", "kind", "topic", "status", "at"}
            assert line["status"] in ("online", "offline")
            assert parse(line["topic"]).channel is Channel.STATUS


def test_fast_serialisation_is_byte_equal_to_sorted_json() -> None:
    run = cached_run(4, 3, 5, chaos=True)
    for msg in run.messages:
        generic = json.dumps(msg.line(), sort_keys=True, separators=(",", ":"))
        assert msg.jsonl() == generic
        if "event" in msg.body:
            assert (
                msg.payload()
                == json.dumps(msg.body["event"], sort_keys=True, separators=(",", ":")).encode()
            )


def test_malformed_payloads_are_marked_and_rejected_by_the_decoder() -> None:
    run = cached_run(4, 3, 5, chaos=True)
    malformed = [m for m in run.messages if m.body.get("malformed")]
    assert malformed, "the chaos mix injects some malformed payloads"
    for msg in malformed:
        assert set(msg.line()) == {"home_id", "client_id", "kind", "topic", "raw", "malformed"}
        with pytest.raises(InvalidPayload):
            decode(msg.payload())


def test_every_device_announces_itself_online_retained_at_start() -> None:
    run = cached_run(8, 4, 11)
    first: dict[str, Message] = {}
    for msg in run.messages:
        first.setdefault(msg.device_id, msg)
    assert len(first) == 8 * 12
    for msg in first.values():
        assert msg.body.get("status") == "online"
        assert msg.retain
