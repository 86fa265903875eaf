"""Pacing, speed parsing and the `simulate` command."""

from __future__ import annotations

import gc
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from devices.payloads import RobotMessage, RobotSchedule
from simulators.cli import CommandInbox, parse_faults, simulate
from simulators.runner import Clock, gc_tuned, parse_speed, run
from simulators.sinks import ListSink
from simulators.stream import Message, Simulation


def test_speed_parses_max_realtime_and_factors() -> None:
    assert parse_speed("max") is None
    assert parse_speed("realtime") == 1.0
    assert parse_speed("60") == 60.0
    assert parse_speed("7.5x") == 7.5
    for bad in ("0", "-3"):
        with pytest.raises(ValueError, match="positive"):
            parse_speed(bad)
    with pytest.raises(ValueError, match="could not convert"):
        parse_speed("fast")


def test_faults_parse_to_a_config() -> None:
    assert not parse_faults("none").any
    assert parse_faults("all").malformed_rate > 0
    cfg = parse_faults("duplicate,skew")
    assert cfg.duplicate_rate > 0
    assert cfg.max_clock_skew_s > 0
    assert cfg.malformed_rate == 0
    assert cfg.reorder_rate == 0
    with pytest.raises(ValueError, match="unknown"):
        parse_faults("meteor")


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def _m(at_ms: int, status: bool = False) -> Message:
    body: dict[str, Any] = {"status": "online", "at": "x"} if status else {"event": {}}
    return Message(at_ms, "h", "c", "d", "motion", "t", body)


def test_paced_run_waits_for_each_message_at_the_speed_factor() -> None:
    clock = FakeClock()
    sink = ListSink()
    msgs = [_m(0), _m(60_000), _m(60_000), _m(180_000)]
    n = run(msgs, [sink], factor=60.0, origin_ms=0, clock=Clock(clock.now, clock.sleep))
    assert n == 4
    assert clock.slept == [1.0, 2.0]  # one and three simulated minutes at 60x
    assert sink.messages == msgs


def test_a_real_time_run_that_starts_now_skips_earlier_events_but_keeps_status() -> None:
    clock = FakeClock()
    sink = ListSink()
    msgs = [_m(0, status=True), _m(1000), _m(5000)]
    run(
        msgs,
        [sink],
        factor=1.0,
        origin_ms=4000,
        skip_events_before_ms=4000,
        clock=Clock(clock.now, clock.sleep),
    )
    assert sink.messages == [msgs[0], msgs[2]]
    assert clock.slept == [1.0]


def test_max_speed_never_sleeps() -> None:
    clock = FakeClock()
    run(
        [_m(0), _m(10**9)],
        [ListSink()],
        factor=None,
        origin_ms=0,
        clock=Clock(clock.now, clock.sleep),
    )
    assert clock.slept == []


def test_received_robot_schedule_is_used_from_the_next_day() -> None:
    inbox = CommandInbox()
    sim = Simulation(homes=1, days=2, seed=1, start=date(2026, 2, 2), plans=inbox.plans)
    schedule = RobotSchedule(
        version=7, messages=[RobotMessage(message_id="koffie", text="Tijd voor koffie", at="10:30")]
    )
    inbox.receive("h0001-rbt", "schedule", schedule)
    older = RobotSchedule(
        version=6, messages=[RobotMessage(message_id="oud", text="Oud bericht", at="09:00")]
    )
    inbox.receive("h0001-rbt", "schedule", older)  # a redelivered retained message
    spoken = [
        m.body["event"]["data"]
        for m in sim.messages()
        if "event" in m.body and m.body["event"]["type"] == "message.spoken"
    ]
    assert spoken
    assert all(d["message_id"] == "koffie" and d["schedule_version"] == 7 for d in spoken)
    assert len(spoken) == 2


def test_simulate_command_writes_events_truth_and_manifest(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(simulate)
    ev, tr, hm = tmp_path / "e.jsonl", tmp_path / "t.jsonl", tmp_path / "h.json"
    args = ["--homes", "2", "--days", "2", "--seed", "3", "--start", "2026-05-04"]
    args += ["--events-out", str(ev), "--truth-out", str(tr), "--homes-out", str(hm)]
    args += ["--faults", "duplicate,reorder"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = ev.read_text().splitlines()
    assert len(lines) > 1000
    assert all(json.loads(x)["home_id"] in ("h0001", "h0002") for x in lines[:100])
    manifest = json.loads(hm.read_text())
    assert [h["home_id"] for h in manifest["homes"]] == ["h0001", "h0002"]
    assert manifest["homes"][0]["care_plan"]["night_window"] == {"start": "23:30", "end": "07:00"}
    assert tr.read_text()
    bad = CliRunner().invoke(app, ["--faults", "meteor"])
    assert bad.exit_code == 2


def test_gc_tuning_is_undone_after_the_run() -> None:
    before = gc.get_threshold()
    with gc_tuned():
        assert gc.get_threshold()[0] > before[0]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
