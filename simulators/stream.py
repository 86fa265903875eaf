"""The pure, deterministic core: seed -> ordered stream of published messages + truth.

Nothing here does I/O or reads a clock; sinks (JSONL, MQTT) consume the stream.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

from devices.kinds import KINDS
from devices.topics import event_topic, status_topic
from simulators.hardware import Hardware, Window
from simulators.homes import HomeSpec, build_home
from simulators.life import MIN, SEC, STATIC_DATA_JSON, Life, Raw, hhmm_minutes, iso, local_ms
from simulators.profiles import Profile

_DUMPS = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Faults to inject on top of the resident's life (all off by default).

    Faults use their own random stream, so switching them on leaves the life, the
    incidents and the look-alikes unchanged.
    """

    disconnects_per_device_day: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    max_clock_skew_s: int = 0
    malformed_rate: float = 0.0

    @classmethod
    def chaos(cls) -> FaultConfig:
        """A moderate mix of every fault, as `--faults all` switches on."""
        return cls(
            disconnects_per_device_day=0.02,
            duplicate_rate=0.01,
            reorder_rate=0.01,
            max_clock_skew_s=90,
            malformed_rate=0.002,
        )

    @property
    def any(self) -> bool:
        """True if any fault is switched on."""
        return bool(
            self.disconnects_per_device_day
            or self.duplicate_rate
            or self.reorder_rate
            or self.max_clock_skew_s
            or self.malformed_rate
        )


class Message(NamedTuple):
    """One message published by one device (or by the broker as its Last Will)."""

    at_ms: int  # simulated publish time
    home_id: str
    client_id: str
    device_id: str
    kind: str
    topic: str
    body: dict[str, Any]  # {"event": env} | {"status", "at"} | {"raw", "malformed"}
    retain: bool = False

    def line(self) -> dict[str, Any]:
        """The event-log line (docs/event-log.md)."""
        return {
            "home_id": self.home_id,
            "client_id": self.client_id,
            "kind": self.kind,
            "topic": self.topic,
            **self.body,
        }

    def jsonl(self) -> str:
        """The event-log line serialised: sorted keys, no whitespace."""
        env = self.body.get("event")
        if env is None:
            return _DUMPS(self.line())
        # Hand-built for speed; byte-equal to _DUMPS(self.line()) (tested): every field
        # interpolated here is a contract identifier or timestamp that needs no escaping.
        return (
            f'{{"client_id":"{self.client_id}","event":{_env_json(env)},'
            f'"home_id":"{self.home_id}","kind":"{self.kind}","topic":"{self.topic}"}}'
        )

    def payload(self) -> bytes:
        """The MQTT payload bytes of this message."""
        env = self.body.get("event")
        if env is not None:
            return _env_json(env).encode()
        if "status" in self.body:
            return _DUMPS({"state": self.body["status"]}).encode()
        return str(self.body["raw"]).encode()


def _data_json(data: dict[str, Any], typ: str) -> str:
    cached = STATIC_DATA_JSON.get(id(data))
    if cached is not None:
        return cached
    if typ == "heartbeat" and len(data) == 2:
        return f'{{"rssi_dbm":{data["rssi_dbm"]},"uptime_s":{data["uptime_s"]}}}'
    return _DUMPS(data)


def _env_json(env: dict[str, Any]) -> str:
    typ = env["type"]
    return (
        f'{{"data":{_data_json(env["data"], typ)},"device_id":"{env["device_id"]}",'
        f'"id":"{env["id"]}","seq":{env["seq"]},"ts":"{env["ts"]}","type":"{typ}"}}'
    )


Item = tuple[int, int, int, Message]
"""(publish ms, home index, n, message): sorts in publish order, ties by home then n."""
_AT = itemgetter(0)
_ORDER = itemgetter(0, 2)


PlanSource = Callable[[HomeSpec, date], tuple[Any, Any]]
"""(home, day) -> (DosePlan | None, RobotSchedule | None) to use from that day on."""


@dataclass(slots=True)
class _Device:
    device_id: str
    kind: str
    skew_ms: int
    seq: int = 0
    disconnects: list[Window] = field(default_factory=list)


class HomeSim:
    """One home: its resident, its hardware and its faults, emitted in publish order."""

    def __init__(
        self,
        home: HomeSpec,
        *,
        seed: int,
        start: date,
        days: int,
        faults: FaultConfig,
        failure_per_day: float = 0.01,
        plans: PlanSource | None = None,
    ) -> None:
        self.home = home
        self.start = start
        self.days = days
        self.faults = faults
        self.plans = plans
        self.start_ms = local_ms(start, 0)
        self.end_ms = local_ms(start + timedelta(days=days), 0)
        # Independent random streams: adding faults must not change the resident's life.
        self.life_rng = random.Random(f"life:{seed}:{home.index}")
        self.hw_rng = random.Random(f"hw:{seed}:{home.index}")
        self.fault_rng = random.Random(f"fault:{seed}:{home.index}")
        self.life = Life(home, self.life_rng, self.start_ms)
        self.hw = Hardware(home, self.hw_rng, self.start_ms, failure_per_day=failure_per_day)
        # Event ids: unique per seed, start and device, and readable when debugging.
        salt = hashlib.blake2b(f"{seed}:{start.isoformat()}".encode(), digest_size=4).hexdigest()
        self.salt = f"{salt}:"
        skew = faults.max_clock_skew_s * SEC
        self.devs: dict[str, _Device] = {}
        for spec in home.devices:
            s = 0
            if skew and self.fault_rng.random() < 0.3:
                s = self.fault_rng.randint(-skew, skew)
            self.devs[spec.key] = _Device(spec.device_id, spec.kind.value, s)
        self.fault_truth: list[dict[str, Any]] = []
        self.any_fault = faults.any
        self._out: list[Item] = []
        # Device events wait here until no earlier one can still be generated, so that
        # seq numbers follow device time across day boundaries.
        self._raw: list[Raw] = []
        self._n = 0
        self._topics: dict[tuple[str, str], str] = {
            (spec.key, typ): event_topic(spec.device_id, typ)
            for spec in home.devices
            for typ in KINDS[spec.kind].events
        }

    @property
    def truth(self) -> list[dict[str, Any]]:
        """Incidents, look-alikes and injected faults, each with home and client id."""
        rows = self.life.truth + self.hw.truth + self.fault_truth
        ids = {"home_id": self.home.home_id, "client_id": self.home.client_id}
        return [{**ids, **r} for r in rows if r["start"] < iso(self.end_ms)]

    # --- output ----------------------------------------------------------------------
    def _push(
        self, at: int, msg_dev: _Device, topic: str, body: dict[str, Any], retain: bool
    ) -> None:
        if at >= self.end_ms:
            return
        h = self.home
        msg = Message(
            at, h.home_id, h.client_id, msg_dev.device_id, msg_dev.kind, topic, body, retain
        )
        self._n += 1
        self._out.append((at, h.index, self._n, msg))

    def _status(self, at: int, key: str, state: str) -> None:
        dev = self.devs[key]
        body = {"status": state, "at": iso(at)}
        self._push(at, dev, status_topic(dev.device_id), body, True)

    def _topic(self, key: str, typ: str) -> str:
        return self._topics[(key, typ)]

    def _add(self, raw: list[Raw]) -> None:
        self._raw.extend(raw)
        self._raw.sort(key=_AT)  # stable: ties keep generation order, so runs repeat

    def _emit(self, horizon: int) -> None:
        faults, frng = self.faults, self.fault_rng
        dead = self.hw.devices
        cut = bisect.bisect_left(self._raw, horizon, key=_AT)
        batch, self._raw = self._raw[:cut], self._raw[cut:]
        h = self.home
        home_id, client_id, idx, out = h.home_id, h.client_id, h.index, self._out
        salt, end_ms, start_ms, topics = self.salt, self.end_ms, self.start_ms, self._topics
        for at, key, typ, data in batch:
            if at < start_ms or (dead[key].dead and dead[key].is_dead(at)):
                continue
            dev = self.devs[key]
            seq = dev.seq
            dev.seq += 1
            device_id = dev.device_id
            env = {
                "id": f"{salt}{device_id}:{seq}",
                "device_id": device_id,
                "ts": iso(at + dev.skew_ms),
                "seq": seq,
                "type": typ,
                "data": data,
            }
            body: dict[str, Any] = {"event": env}
            pub = at
            if not self.any_fault:
                if at < end_ms:
                    self._n += 1
                    topic = topics[(key, typ)]
                    msg = Message(at, home_id, client_id, device_id, dev.kind, topic, body)
                    out.append((at, idx, self._n, msg))
                continue
            for w in dev.disconnects:
                if at in w:
                    if typ == "heartbeat":
                        pub = -1  # a disconnected device does not queue heartbeats
                    else:
                        pub = w.end + frng.randint(200, 3000)  # queued, sent on reconnect
            if pub < 0:
                continue
            if faults.malformed_rate and frng.random() < faults.malformed_rate:
                body = {"raw": _malform(frng, env), "malformed": True}
            if faults.reorder_rate and frng.random() < faults.reorder_rate:
                pub += frng.randint(2 * SEC, 30 * SEC)
            topic = self._topic(key, typ)
            self._push(pub, dev, topic, body, False)
            if faults.duplicate_rate and frng.random() < faults.duplicate_rate:
                self._push(pub + frng.randint(100, 3000), dev, topic, body, False)

    def _plan_disconnects(self, day_start: int, day_end: int) -> None:
        rate, frng = self.faults.disconnects_per_device_day, self.fault_rng
        if not rate:
            return
        for key, dev in self.devs.items():
            if frng.random() >= rate:
                continue
            start = frng.randint(day_start, day_end - 1)
            end = start + frng.randint(1 * MIN, 20 * MIN)
            dev.disconnects.append(Window(start, end))
            will = start + frng.randint(60 * SEC, 90 * SEC)
            if will < end:  # the broker noticed: Last Will, then online on reconnect
                self._status(will, key, "offline")
                self._status(end, key, "online")
            self.fault_truth.append(
                {
                    # A blip the device recovers from is a look-alike of device_offline.
                    "type": "benign",
                    "lookalike": "short_disconnect",
                    "fault": "disconnect",
                    "device_id": dev.device_id,
                    "start": iso(start),
                    "end": iso(end),
                }
            )

    # --- the stream ------------------------------------------------------------------
    def run(self) -> Iterator[Item]:
        """Yield (publish ms, home index, n, message) in publish order."""
        for key in self.devs:
            self._status(self.start_ms, key, "online")
        for i in range(self.days):
            d = self.start + timedelta(days=i)
            if self.plans is not None:
                dose_plan, schedule = self.plans(self.home, d)
                if dose_plan is not None:
                    self.hw.dose_plan = dose_plan
                if schedule is not None:
                    self.hw.robot_schedule = schedule
            day_start, day_end = local_ms(d, 0), local_ms(d + timedelta(days=1), 0)
            raw = self.hw.plan_failures(d)
            self._plan_disconnects(day_start, day_end)
            self.life.dose_minutes = [
                hhmm_minutes(x.time)
                for x in self.hw.dose_plan.doses
                if d.isoweekday() in x.weekdays
            ]
            self.life.live_day(d)
            raw += self.hw.dispenser(d, self.life)  # before sensor_events: fetching pouches
            raw += self.hw.robot(d, self.life)
            raw += self.life.sensor_events()
            raw += self.hw.housekeeping(day_start, day_end)
            for at, key, state in self.hw.status:
                self._status(at, key, state)
            self.hw.status.clear()
            self._add(raw)
            horizon = min(self.life.t - 5 * SEC, day_end)
            self._emit(horizon)
            yield from self._drain(horizon)
        self._emit(self.end_ms)
        yield from self._drain(self.end_ms)

    def _drain(self, horizon: int) -> list[Item]:
        out = self._out
        out.sort(key=_ORDER)
        cut = bisect.bisect_left(out, horizon, key=_AT)
        batch, self._out = out[:cut], out[cut:]
        return batch


def sort_truth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Truth rows in their file order: by start, home, then the whole row."""
    return sorted(rows, key=lambda r: (r["start"], r["home_id"], _DUMPS(r)))


def _malform(rng: random.Random, env: dict[str, Any]) -> str:
    """A broken payload of the kinds real devices send: truncated, wrong type, missing field."""
    text = _DUMPS(env)
    choice = rng.randrange(4)
    if choice == 0:
        return text[: len(text) // 2]
    if choice == 1:
        return _DUMPS({**env, "data": {"unexpected": 1}})
    if choice == 2:
        return _DUMPS({k: v for k, v in env.items() if k != "ts"})
    return "ERR sensor fault 0x1f"


class Simulation:
    """Many homes merged into one stream in publish-time order; truth after the stream."""

    def __init__(
        self,
        *,
        homes: int,
        days: int,
        seed: int,
        start: date,
        faults: FaultConfig | None = None,
        failure_per_day: float = 0.01,
        plans: PlanSource | None = None,
        profiles: Sequence[Profile] | None = None,
    ) -> None:
        self.seed = seed
        self.start = start
        self.days = days
        self.homes = [build_home(i, seed, profiles) for i in range(1, homes + 1)]
        self.sims = [
            HomeSim(
                h,
                seed=seed,
                start=start,
                days=days,
                faults=faults or FaultConfig(),
                failure_per_day=failure_per_day,
                plans=plans,
            )
            for h in self.homes
        ]
        self.start_ms = local_ms(start, 0)
        self.end_ms = local_ms(start + timedelta(days=days), 0)

    def messages(self) -> Iterator[Message]:
        """All published messages of all homes, in publish-time order."""
        for _, _, _, msg in heapq.merge(*(s.run() for s in self.sims)):
            yield msg

    def truth(self) -> list[dict[str, Any]]:
        """The answer key, sorted by start; complete once `messages()` is exhausted."""
        return sort_truth([r for s in self.sims for r in s.truth])

    def manifest(self) -> dict[str, Any]:
        """The home manifest: devices, dose plans, robot schedules, care plans."""
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "timezone": "Europe/Amsterdam",
            "homes": [h.manifest() for h in self.homes],
        }
