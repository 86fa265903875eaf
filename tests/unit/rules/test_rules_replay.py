"""Replay determinism, log parsing, baseline statistics and scoring."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_helpers import CLIENT, HOME, ams, door, dose, engine, keepalive, motion, occ
from typer import Typer
from typer.testing import CliRunner

from hub.rules import cli
from hub.rules import evaluate as ev
from hub.rules.baseline import Baseline, quantile
from hub.rules.engine import Engine
from hub.rules.model import EngineEvent, EngineInput
from hub.rules.replay import ReplayStats, naive, parse_line, plan_from_manifest, read_log, run

MIN = timedelta(minutes=1)


def _line(item: EngineEvent, home: str = HOME, client: str = CLIENT) -> str:
    return json.dumps(
        {
            "home_id": home,
            "client_id": client,
            "kind": item.kind.value,
            "topic": f"carehub/v1/dev/{item.device_id}/evt/{item.envelope.type}",
            "event": item.envelope.model_dump(mode="json"),
        }
    )


def _day_log(seed: int, home: str, client: str) -> list[str]:
    """A small random but realistic day: moves, doses, a night door."""
    rng = random.Random(seed)
    # UTC arithmetic: adding minutes to an Amsterdam wall time would skip or repeat hours.
    t = ams(2026, 3, 28, 18, 0).astimezone(UTC)  # spans the spring-forward night
    items: list[EngineEvent] = []
    rooms = ["kitchen", "living_room", "hallway", "toilet", "bathroom", "bedroom"]
    while t < ams(2026, 3, 29, 14, 0).astimezone(UTC):
        r = rng.random()
        if r < 0.6:
            items.append(motion(t, rng.choice(rooms)))
        elif r < 0.7:
            items.append(occ(t, rng.choice(["bed", "chair"]), rng.choice(["occupied", "vacant"])))
        elif r < 0.75:
            items.append(door(t, rng.choice(["front_door", "fridge"]), "open"))
        elif r < 0.78:
            items.append(dose(t, "dose.due", t, dose_id=f"d{rng.randint(0, 9)}"))
        t += timedelta(seconds=rng.randint(30, 3600))
    items += keepalive(items[0].ts, items[-1].ts, timedelta(minutes=10))
    items.sort(key=lambda e: e.ts)
    return [_line(i, home, client) for i in items]


def _alerts(lines: list[str], eng: Engine | None = None) -> list[dict[str, object]]:
    out = run(lines, eng or engine(), ReplayStats())
    return [a.as_json() for a in out]


def test_same_stream_gives_the_same_alerts() -> None:
    lines = _day_log(7, HOME, CLIENT)
    first = _alerts(lines)
    assert first  # the sequence is busy enough to raise something
    assert _alerts(lines) == first


def _alerts_until(lines: list[str], end: datetime) -> list[str]:
    eng = engine()
    out = []
    for it in read_log(lines, ReplayStats()):
        out += eng.process(it)
    out += eng.advance(end)
    return sorted(json.dumps(a.as_json(), sort_keys=True) for a in out)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_interleaving_homes_does_not_change_any_homes_alerts(seed_a: int, seed_b: int) -> None:
    """Homes own their watermark: merging two homes' logs in any order changes nothing."""
    a = _day_log(seed_a, "h-a", "c-a")
    b = _day_log(seed_b, "h-b", "c-b")
    end = ams(2026, 3, 29, 18, 0)
    alone = sorted(_alerts_until(a, end) + _alerts_until(b, end))
    rng = random.Random(seed_a ^ seed_b)
    merged: list[str] = []
    ia = ib = 0
    while ia < len(a) or ib < len(b):
        if ib >= len(b) or (ia < len(a) and rng.random() < 0.5):
            merged.append(a[ia])
            ia += 1
        else:
            merged.append(b[ib])
            ib += 1
    assert _alerts_until(merged, end) == alone


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 50))
def test_live_clock_ticks_fire_the_same_alerts_as_replay(seed: int, tick_min: int) -> None:
    """Advancing the watermark by a wall clock between events changes no alert."""
    lines = _day_log(seed, HOME, CLIENT)
    replayed = _alerts(lines)
    eng = engine()
    live = []
    items: list[EngineInput] = list(read_log(lines, ReplayStats()))
    for i, it in enumerate(items):
        live += eng.process(it)
        # the wall clock may run ahead of the next event, never past it
        nxt = it.ts + timedelta(minutes=tick_min)
        if i + 1 < len(items) and nxt < items[i + 1].ts:
            live += eng.advance(nxt)
    live += eng.advance(items[-1].ts)
    assert [a.as_json() for a in live] == replayed


def test_parse_line_skips_malformed_and_reads_status() -> None:
    assert (
        parse_line(
            {"home_id": "h", "client_id": "c", "kind": "motion", "raw": "x", "malformed": True}
        )
        is None
    )
    assert (
        parse_line({"home_id": "h", "client_id": "c", "kind": "motion", "event": {"id": "x"}})
        is None
    )
    s = parse_line(
        {
            "home_id": "h",
            "client_id": "c",
            "kind": "dispenser",
            "topic": "carehub/v1/dev/h-dsp/status",
            "status": "offline",
            "at": "2026-01-14T08:00:00.000Z",
        }
    )
    assert s is not None
    assert s.device_id == "h-dsp"
    assert s.ts == datetime(2026, 1, 14, 8, tzinfo=UTC)


def test_read_log_drops_duplicate_event_ids() -> None:
    lines = _day_log(3, HOME, CLIENT)
    stats = ReplayStats()
    items = list(read_log(lines + lines[:5] + ["not json", ""], stats))
    assert len(items) == len(lines)
    assert stats.duplicates == 5
    assert stats.malformed == 1


def test_plan_from_manifest_takes_the_nurses_values() -> None:
    plan = plan_from_manifest(
        {
            "profile": "dementia",
            "dispenser": {"window_min": 60},
            "care_plan": {
                "night_window": {"start": "22:00", "end": "07:30"},
                "wake_up": "08:15",
                "wake_deadline": "09:45",
            },
        }
    )
    assert (plan.night_start, plan.night_end, plan.usual_wake) == ("22:00", "07:30", "08:15")
    assert plan.wake_deadline_min == 90
    assert plan.dose_window_min == 60
    assert plan.wandering_risk == "high"


def test_naive_rule_set_alerts_on_every_night_door() -> None:
    t = ams(2026, 1, 14, 2, 0)
    lines = [_line(door(t, "front_door", "open")), _line(door(t + MIN, "front_door", "open"))]
    out = run(lines, naive({}), ReplayStats())
    assert [a.rule.value for a in out] == ["night_exit", "night_exit"]


# --- baseline ---------------------------------------------------------------------------


def test_quantile_interpolates() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([5.0], 0.9) == 5.0


def test_wake_deadline_uses_plan_while_learning_and_stays_within_plan_bounds() -> None:
    b = Baseline(days=14, min_days=5)
    assert b.wake_deadline(plan_deadline_min=540) == 540
    for i in range(10):
        b.wake_min.add(date(2026, 1, 1) + timedelta(days=i), 420 + (i % 3) * 10)
    assert b.wake_deadline(plan_deadline_min=540) == 540  # early riser: plan is the floor
    late = Baseline(days=14, min_days=5)
    for i in range(10):
        late.wake_min.add(date(2026, 1, 1) + timedelta(days=i), 530 + i)
    assert late.wake_deadline(plan_deadline_min=540) == 570  # at most 30 min later


def test_rolling_window_forgets_old_days() -> None:
    b = Baseline(days=14, min_days=5)
    for i in range(30):
        b.wake_min.add(date(2026, 1, 1) + timedelta(days=i), float(i))
    assert b.wake_min.count() == 14
    assert min(b.wake_min.list()) == 16.0


def test_still_limit_is_personal_between_floor_and_plan() -> None:
    b = Baseline(days=14, min_days=5)
    assert b.still_limit_s("toilet", default_s=1500, floor_s=720) == 1500
    for i in range(6):
        for _ in range(5):
            b.add_still("toilet", date(2026, 1, 1) + timedelta(days=i), 150.0)
    assert b.still_limit_s("toilet", default_s=1500, floor_s=720) == 720
    b.add_still("toilet", date(2026, 1, 7), 1000.0)
    assert b.still_limit_s("toilet", default_s=1500, floor_s=720) == 1500


def test_habitual_exit_wraps_around_midnight() -> None:
    b = Baseline()
    for i in range(3):
        b.exits.add(date(2026, 1, 1) + timedelta(days=i), 1430.0)
    assert b.habitual_exit(10.0, days=3, band_min=40)
    assert not b.habitual_exit(300.0, days=3, band_min=40)


# --- scoring ----------------------------------------------------------------------------


def _t(h: int, m: int = 0) -> str:
    return datetime(2026, 1, 14, h, m, tzinfo=UTC).isoformat()


def test_score_precision_recall_latency() -> None:
    truth = ev.read_truth(
        json.dumps(x)
        for x in [
            {"home_id": "h", "client_id": "c", "type": "fall", "start": _t(10), "end": _t(12)},
            {"home_id": "h", "client_id": "c", "type": "fall", "start": _t(15), "end": _t(16)},
            {
                "home_id": "h",
                "client_id": "c",
                "type": "benign",
                "lookalike": "long_bath",
                "start": _t(20),
                "end": _t(21),
            },
        ]
    )
    alerts = ev.read_alerts(
        json.dumps({"home_id": "h", "client_id": "c", "rule": r, "raised_at": t})
        for r, t in [
            ("fall", _t(10, 20)),
            ("fall", _t(10, 40)),
            ("fall", _t(20, 30)),
            ("battery_low", _t(9)),
        ]
    )
    s = ev.score(truth, alerts, homes=1, days=1.0)
    fall = s.by_type["fall"]
    # 10:40 repeats into the alert opened at 10:20 (open: not a second call-out).
    assert (fall.incidents, fall.detected, fall.alerts, fall.decisions) == (2, 1, 2, 3)
    assert fall.true_alerts == 1
    assert fall.precision == 0.5
    assert fall.recall == 0.5
    assert fall.latency_min(0.5) == 20.0
    assert s.unscored == {"battery_low": 1}
    assert s.on_lookalikes == {"long_bath": 1}
    assert s.per_home_day(s.scored_alerts) == 2.0


def _scored(rows: list[tuple[str, str, str]]) -> list[ev.ScoredAlert]:
    return ev.read_alerts(
        json.dumps({"home_id": "h", "client_id": c, "rule": r, "raised_at": t}) for c, r, t in rows
    )


def test_lifecycle_counting_repeats_within_the_hold_are_one_call_out() -> None:
    rows = [
        ("c", "night_exit", _t(1, 0)),
        ("c", "night_exit", _t(1, 50)),  # within an hour of the last update: repeat
        ("c", "night_exit", _t(2, 45)),  # chained: still open
        ("c", "night_exit", _t(4, 0)),  # more than the hold later: a new alert
        ("d", "night_exit", _t(1, 10)),  # another client: its own alert
        ("c", "fall", _t(1, 5)),  # another rule: its own alert
    ]
    s = ev.score([], _scored(rows), homes=1, days=1.0)
    assert s.by_type["night_exit"].alerts == 3
    assert s.by_type["night_exit"].decisions == 5
    assert s.by_type["fall"].alerts == 1
    assert s.alerts_total == 4
    short = ev.score([], _scored(rows), homes=1, days=1.0, hold=timedelta(minutes=30))
    assert short.by_type["night_exit"].alerts == 5


def test_a_repeat_into_an_open_alert_detects_the_incident_it_points_at() -> None:
    truth = ev.read_truth(
        [
            json.dumps(
                {"home_id": "h", "client_id": "c", "type": "missed_dose", "start": _t(t), "end": e}
            )
            for t, e in ((8, _t(8, 45)), (9, _t(9, 45)))
        ]
    )
    rows = [("c", "missed_dose", _t(8, 48)), ("c", "missed_dose", _t(9, 48))]
    s = ev.score(truth, _scored(rows), homes=1, days=1.0)
    md = s.by_type["missed_dose"]
    assert (md.alerts, md.true_alerts, md.detected, md.recall) == (1, 1, 2, 1.0)


def test_cli_replay_then_evaluate(tmp_path: Path) -> None:
    t = ams(2026, 1, 14, 2, 0)
    events = tmp_path / "events.jsonl"
    later = keepalive(t + 10 * MIN, t + 10 * MIN)
    events.write_text("\n".join(_line(x) for x in [door(t, "front_door", "open"), *later]) + "\n")
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        json.dumps(
            {
                "home_id": HOME,
                "client_id": CLIENT,
                "type": "night_exit",
                "start": t.isoformat(),
                "end": (t + 30 * MIN).isoformat(),
            }
        )
        + "\n"
    )
    app = Typer()
    app.command("replay")(cli.replay)
    app.command("evaluate")(cli.evaluate)
    runner = CliRunner()
    alerts = tmp_path / "alerts.jsonl"
    res = runner.invoke(app, ["replay", str(events), "--alerts-out", str(alerts)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in alerts.read_text().splitlines()]
    assert [r["rule"] for r in rows] == ["night_exit"]
    assert set(rows[0]) >= {"home_id", "client_id", "rule", "severity", "raised_at"}
    res = runner.invoke(app, ["evaluate", "--truth", str(truth), "--alerts", str(alerts)])
    assert res.exit_code == 0, res.output
    assert "night_exit" in res.output
    assert "reduction" in res.output


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c", "d"]),
            st.sampled_from(["fall", "night_exit", "battery_low"]),
            st.integers(min_value=0, max_value=24 * 60),
        ),
        max_size=30,
    ),
    st.integers(min_value=0, max_value=300),
)
def test_lifecycle_counting_never_counts_more_alerts_for_a_longer_hold(
    rows: list[tuple[str, str, int]], hold_min: int
) -> None:
    base = datetime(2026, 1, 14, tzinfo=UTC)
    alerts = [ev.ScoredAlert("h", c, r, base + timedelta(minutes=m)) for c, r, m in rows]
    short = ev.score([], alerts, homes=1, days=1.0, hold=timedelta(minutes=hold_min))
    longer = ev.score([], alerts, homes=1, days=1.0, hold=timedelta(minutes=hold_min + 30))
    assert longer.alerts_total <= short.alerts_total <= len(alerts)
    assert sum(t.decisions for t in short.by_type.values()) == sum(
        1 for _, r, _ in rows if r != "battery_low"
    )
    # at least one alert per (client, rule) that raised anything
    assert longer.alerts_total >= len({(c, r) for c, r, _ in rows})


def test_a_malformed_line_of_a_known_device_reaches_the_engine_as_unreadable() -> None:
    t = ams(2026, 1, 14, 22, 0)
    good = _line(motion(t, "bedroom"))
    bad = json.dumps(
        {
            "home_id": HOME,
            "client_id": CLIENT,
            "kind": "occupancy",
            "topic": json.loads(_line(occ(t, "bed", "occupied")))["topic"],
            "raw": "ERR sensor fault 0x1f",
            "malformed": True,
        }
    )
    stats = ReplayStats()
    items = list(read_log([bad, good, bad], stats))
    assert stats.malformed == 2
    # the first has no time yet (nothing read in that home), the second takes the latest
    assert [type(i).__name__ for i in items] == ["EngineEvent", "StatusChange"]
    assert getattr(items[1], "state", None) == "unreadable"
    assert items[1].ts == t.astimezone(UTC)
