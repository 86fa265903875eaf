"""Replay an event log (JSONL) through a rule set and collect the alerts it raises."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from devices.envelope import Envelope
from devices.kinds import Kind
from devices.topics import TopicError, parse
from hub.rules.careplan import CarePlan
from hub.rules.engine import Engine
from hub.rules.localtime import parse_hhmm
from hub.rules.model import AlertDecision, EngineEvent, EngineInput, StatusChange
from hub.rules.naive import NaiveEngine


class RuleSet(Protocol):
    """What replay drives: the smart Engine or the NaiveEngine."""

    def process(self, item: EngineInput) -> list[AlertDecision]:
        """Feed one input."""

    def advance(self, now: datetime) -> list[AlertDecision]:
        """Move the watermark."""


@dataclass
class ReplayStats:
    """What a replay saw."""

    lines: int = 0
    events: int = 0
    statuses: int = 0
    malformed: int = 0
    duplicates: int = 0
    homes: set[str] = field(default_factory=set)
    start: datetime | None = None
    end: datetime | None = None

    def meta(self) -> dict[str, Any]:
        """JSON summary (written next to the alerts, read by evaluate)."""
        return {
            "lines": self.lines,
            "events": self.events,
            "statuses": self.statuses,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "homes": sorted(self.homes),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def _minutes(hhmm: str) -> int:
    t = parse_hhmm(hhmm)
    return t.hour * 60 + t.minute


def plan_from_manifest(home: dict[str, Any]) -> CarePlan:
    """The care plan a nurse would enter for a home of the simulator's manifest."""
    cp = home.get("care_plan", {})
    kwargs: dict[str, Any] = {}
    nw = cp.get("night_window")
    if isinstance(nw, dict):
        kwargs["night_start"] = nw["start"]
        kwargs["night_end"] = nw["end"]
    if "wake_up" in cp:
        kwargs["usual_wake"] = cp["wake_up"]
        if "wake_deadline" in cp:
            after = (_minutes(cp["wake_deadline"]) - _minutes(cp["wake_up"])) % (24 * 60)
            kwargs["wake_deadline_min"] = max(15, min(after, 360))
    disp = home.get("dispenser")
    if isinstance(disp, dict) and "window_min" in disp:
        kwargs["dose_window_min"] = int(disp["window_min"])
    # Wandering risk is a care-plan judgement; dementia is where it matters.
    if home.get("profile") == "dementia":
        kwargs["wandering_risk"] = "high"
    return CarePlan(**kwargs)


def plans_from_manifest(homes: list[dict[str, Any]]) -> dict[str, CarePlan]:
    """Care plans per client of a manifest's homes."""
    return {str(h["client_id"]): plan_from_manifest(h) for h in homes}


def parse_line(obj: dict[str, Any]) -> EngineInput | None:
    """One log record as engine input; None for records the hub would dead-letter."""
    try:
        home_id = str(obj["home_id"])
        client_id = str(obj["client_id"])
        kind = Kind(obj["kind"])
        if obj.get("malformed"):
            return None  # see read_log: an unreadable message of a known device
        if "status" in obj:
            device_id = parse(str(obj["topic"])).device_id
            at = datetime.fromisoformat(str(obj["at"]))
            if at.tzinfo is None or obj["status"] not in ("online", "offline"):
                return None
            return StatusChange(home_id, client_id, device_id, kind, obj["status"], at)
        env = Envelope.model_validate(obj["event"])
    except (KeyError, ValueError, TypeError, ValidationError, TopicError):
        return None
    return EngineEvent(home_id, client_id, env.device_id, kind, env)


def _unreadable(obj: dict[str, Any], last_ts: dict[str, datetime]) -> StatusChange | None:
    """A dead-lettered message of a known device: its content is lost, not that it spoke.

    Stamped with the home's latest event time read so far (it carries no readable time).
    """
    try:
        home_id = str(obj["home_id"])
        at = last_ts.get(home_id)
        if at is None or not obj.get("malformed"):
            return None
        device_id = parse(str(obj["topic"])).device_id
        return StatusChange(
            home_id, str(obj["client_id"]), device_id, Kind(obj["kind"]), "unreadable", at
        )
    except (KeyError, ValueError, TypeError, TopicError):
        return None


def read_log(lines: Iterable[str], stats: ReplayStats) -> Iterator[EngineInput]:
    """Engine inputs of a JSONL log, skipping malformed records and duplicate event ids."""
    seen: set[str] = set()
    last_ts: dict[str, datetime] = {}  # per home: the latest event time read so far
    for line in lines:
        if not line.strip():
            continue
        stats.lines += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            stats.malformed += 1
            continue
        item = parse_line(obj) if isinstance(obj, dict) else None
        if item is None:
            stats.malformed += 1
            bad = _unreadable(obj, last_ts) if isinstance(obj, dict) else None
            if bad is not None:
                stats.statuses += 1
                yield bad
            continue
        if isinstance(item, EngineEvent):
            if item.envelope.id in seen:
                stats.duplicates += 1  # at-least-once delivery: stored once by the hub
                continue
            seen.add(item.envelope.id)
            stats.events += 1
        else:
            stats.statuses += 1
        last_ts[item.home_id] = max(item.ts, last_ts.get(item.home_id, item.ts))
        stats.homes.add(item.home_id)
        stats.start = item.ts if stats.start is None else min(stats.start, item.ts)
        stats.end = item.ts if stats.end is None else max(stats.end, item.ts)
        yield item


def load_manifest(path: Path | None) -> list[dict[str, Any]]:
    """The homes of a manifest file (a list or {"homes": [...]}); [] without one."""
    if path is None:
        return []
    raw = json.loads(path.read_text())
    homes = raw.get("homes", []) if isinstance(raw, dict) else raw
    return [h for h in homes if isinstance(h, dict)]


def register_devices(engine: Engine, homes: list[dict[str, Any]], at: datetime) -> None:
    """Register every manifest device with the engine, as the hub's registry would."""
    for h in homes:
        for d in h.get("devices", []):
            role = d.get("room") or d.get("door") or d.get("place")
            engine.register(
                home_id=str(h["home_id"]),
                client_id=str(h["client_id"]),
                device_id=str(d["device_id"]),
                kind=Kind(d["kind"]),
                role=str(role) if role else None,
                at=at,
            )


def run(
    lines: Iterable[str],
    ruleset: RuleSet,
    stats: ReplayStats,
    *,
    homes: list[dict[str, Any]] | None = None,
) -> list[AlertDecision]:
    """Drive a rule set over a log and flush its timers at the log's end."""
    return run_many(lines, [ruleset], stats, homes=homes)[0]


def run_many(
    lines: Iterable[str],
    rulesets: list[RuleSet],
    stats: ReplayStats,
    *,
    homes: list[dict[str, Any]] | None = None,
) -> list[list[AlertDecision]]:
    """Drive several rule sets over one pass of a log (parsed once); alerts per rule set."""
    outs: list[list[AlertDecision]] = [[] for _ in rulesets]
    registered = not homes
    for item in read_log(lines, stats):
        if not registered and homes:
            for rs in rulesets:
                if isinstance(rs, Engine):
                    register_devices(rs, homes, item.ts)
            registered = True
        for out, rs in zip(outs, rulesets, strict=True):
            out.extend(rs.process(item))
    if stats.end is not None:
        for out, rs in zip(outs, rulesets, strict=True):
            out.extend(rs.advance(stats.end))
    return outs


def smart(plans: dict[str, CarePlan]) -> Engine:
    """The smart rule set with per-client care plans."""
    return Engine(plan_for=_plan_lookup(plans))


def naive(plans: dict[str, CarePlan], **variant: Any) -> NaiveEngine:
    """The naive rule set with the same care plans (`variant`: NaiveEngine's options)."""
    return NaiveEngine(plan_for=_plan_lookup(plans), **variant)


def _plan_lookup(plans: dict[str, CarePlan]) -> Callable[[str], CarePlan]:
    default = CarePlan()
    return lambda client_id: plans.get(client_id, default)


def write_alerts(path: Path, alerts: Iterable[AlertDecision]) -> int:
    """Write alerts as JSONL; returns how many."""
    n = 0
    with path.open("w") as fh:
        for a in alerts:
            fh.write(json.dumps(a.as_json(), sort_keys=True) + "\n")
            n += 1
    return n


def sibling(path: Path, suffix: str) -> Path:
    """ALERTS.jsonl -> ALERTS.<suffix>.jsonl (naive alerts, meta)."""
    return path.with_name(f"{path.stem}.{suffix}{path.suffix or '.jsonl'}")
