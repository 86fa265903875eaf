"""Rules for the shards this hub owns, fed from the stored event log (docs/adr/0011).

`ShardCoordinator` runs one worker thread per hub process (and a small one that only
renews the leases, so a long rebuild does not let them lapse):

- every `renew_s`: heartbeat, renew held leases (a lease the database no longer gives us
  is dropped at once), release leases above the fair share (shards / live hubs), acquire
  free or expired ones up to it;
- on acquiring a shard: rebuild its rule state from the stored events without raising
  anything (what the previous owner processed, up to the lease's position), then process
  the rest of the feed with alerts, and fire timers due since the previous owner's last
  tick — one transaction, fenced by the lease epoch;
- every `poll_s`: read the owned shards' new feed rows and run the rules, one transaction
  per shard that moves the lease position together with the alerts it raised;
- every `tick_s`: wall-clock timers of each owned shard (fenced); the owner of shard 0
  also runs the database-wide jobs (escalation, night-team re-routing).

Any failure of a shard's transaction drops that shard's in-memory state and releases the
lease, so the next owner (maybe this hub) rebuilds it from the log: state and database
never disagree.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from devices.envelope import Envelope
from devices.kinds import Kind
from hub.alerts import service as alerts
from hub.logging_setup import bind_event_id
from hub.metrics import ShardSnapshot, rule_evaluation_timer, set_shard_source
from hub.rules.careplan import CarePlan
from hub.rules.engine import Engine
from hub.rules.model import AlertDecision, EngineEvent, EngineInput, StatusChange
from hub.rules.service import get_care_plan
from hub.shards import leases
from hub.shards.feed import horizon, shard_of
from hub.store.db import unit_of_work
from hub.store.models import Client, Device, Event, Home

log = logging.getLogger(__name__)

PLAN_REFRESH_S = 300.0  # care plans edited on another hub reach the owner within this
_IN_CHUNK = 2000


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ShardConfig:
    """How this hub takes part in the shard leases."""

    shards: int
    hub_id: str
    lease_ttl_s: float = 15.0
    renew_s: float = 5.0
    poll_s: float = 0.2
    tick_s: float = 30.0
    warm_days: int = 14


@dataclass
class ShardStats:
    """Counters for /metrics (read under `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    owned: tuple[int, ...] = ()
    acquired: int = 0
    lost: int = 0
    released: int = 0
    failures: int = 0
    rebuild_events: int = 0
    feed_rows: int = 0
    live_hubs: int = 0
    rules_lag_s: float | None = None  # age of the newest feed row when it was processed


class _LeaseLost(Exception):
    """The fenced write matched no row: another hub owns the shard now."""


@dataclass(frozen=True, slots=True)
class _FeedRow:
    tx: int
    items: dict[str, Any]
    created_at: datetime | None = None


class ShardRules:
    """The rule engine of one shard's homes, as owned under one lease epoch."""

    def __init__(
        self, shard: int, epoch: int, position: int, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self.shard = shard
        self.epoch = epoch
        self.position = position
        self._clock = clock
        self._plans: dict[str, CarePlan] = {}
        self._clients: dict[str, str | None] = {}
        self._refreshed = time.monotonic()
        self.engine = Engine(plan_for=lambda c: self._plans.get(c, CarePlan()))

    def client_of(self, session: Session, home_id: str) -> str | None:
        """The home's client (cached; care plans are loaded with it)."""
        if home_id not in self._clients:
            self._clients[home_id] = session.scalar(
                select(Client.id).where(Client.home_id == home_id).order_by(Client.id).limit(1)
            )
        client_id = self._clients[home_id]
        if client_id is not None and client_id not in self._plans:
            self._plans[client_id] = get_care_plan(session, client_id=client_id)
        return client_id

    def refresh_plans(self, session: Session) -> None:
        """Re-read care plans and home→client links (edits may come through any hub)."""
        if time.monotonic() - self._refreshed < PLAN_REFRESH_S:
            return
        self._refreshed = time.monotonic()
        self._clients.clear()
        for client_id in list(self._plans):
            plan = get_care_plan(session, client_id=client_id)
            self._plans[client_id] = plan
            self.engine.set_plan(client_id, plan)

    def inputs(self, session: Session, rows: Sequence[_FeedRow]) -> list[EngineInput]:
        """Engine inputs of feed rows: events loaded from the store, in event-time order.

        The broker hands a device's messages to any hub, so one home's events arrive in
        several transactions; sorting each read by event time undoes most of that.
        """
        kinds: dict[str, Kind] = {}
        statuses: list[EngineInput] = []
        for row in rows:
            for eid, kind in row.items.get("e", []):
                kinds[str(eid)] = Kind(kind)
            for device_id, kind, home_id, state, at in row.items.get("s", []):
                client = self.client_of(session, home_id)
                if client is not None:
                    statuses.append(
                        StatusChange(
                            home_id,
                            client,
                            device_id,
                            Kind(kind),
                            state,
                            datetime.fromisoformat(at),
                        )
                    )
        events: list[EngineInput] = []
        for env_row in _load_events(session, list(kinds)):
            if env_row.home_id is None:
                continue
            client = self.client_of(session, env_row.home_id)
            if client is not None:
                events.append(
                    EngineEvent(
                        env_row.home_id,
                        client,
                        env_row.device_id,
                        kinds[env_row.id],
                        _envelope(env_row),
                    )
                )
        return sorted([*events, *statuses], key=lambda i: i.ts)

    def process(self, items: Iterable[EngineInput]) -> list[AlertDecision]:
        """Run the engine over inputs; returns its decisions."""
        out: list[AlertDecision] = []
        for item in items:
            # Log lines of the rules and the alert service carry the event's id.
            with bind_event_id(item.envelope.id if isinstance(item, EngineEvent) else None):
                out += self.engine.process(item)
        return out


def _envelope(row: Event) -> Envelope:
    return Envelope(
        id=row.id, device_id=row.device_id, ts=row.ts, seq=row.seq, type=row.type, data=row.data
    )


def _load_events(session: Session, ids: list[str]) -> list[Event]:
    out: list[Event] = []
    for i in range(0, len(ids), _IN_CHUNK):
        out += session.scalars(select(Event).where(Event.id.in_(ids[i : i + _IN_CHUNK])))
    return out


# At most :lim rows per shard per step, so a backlog never keeps the thread from renewing.
_READ_FEED = text(
    "SELECT shard, tx, items, created_at FROM ("
    "SELECT f.shard, f.tx, f.id, f.items, f.created_at, "
    "row_number() OVER (PARTITION BY f.shard ORDER BY f.tx, f.id) AS n "
    "FROM shard_feed f JOIN shard_leases l ON l.shard = f.shard "
    "WHERE l.owner = :me AND f.tx > l.position AND f.tx < :h) AS t "
    "WHERE n <= :lim ORDER BY shard, tx, id"
)
FEED_ROWS_PER_STEP = 4  # feed rows are ingest batches: up to 500 events each
_READ_SHARD_FEED = text(
    "SELECT tx, items, created_at FROM shard_feed WHERE shard = :s AND tx > :p ORDER BY tx, id"
)


def _items(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else dict(json.loads(raw))


class ShardCoordinator:
    """Holds this hub's shard leases and runs the rules of the owned shards."""

    def __init__(
        self,
        config: ShardConfig,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = _now,
        routing: alerts.Routing | None = None,
    ) -> None:
        if config.shards < 1:
            raise ValueError("shard mode needs at least one shard")
        self.config = config
        self._sessions = sessions
        self._clock = clock
        self._routing = routing
        self.owned: dict[int, ShardRules] = {}
        self.stats = ShardStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewer: threading.Thread | None = None
        self._next_prune = 0.0
        self._progress = time.monotonic()  # the worker thread's last sign of life

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Set up the lease rows, forget a previous incarnation's leases, start the thread."""
        if self._sessions.kw["bind"].dialect.name != "postgresql":
            raise leases.ShardConfigError("CAREHUB_SHARDS needs PostgreSQL (CAREHUB_DATABASE_URL)")
        me = self.config.hub_id
        with unit_of_work(self._sessions) as session:
            leases.ensure_leases(session, shards=self.config.shards)
            dropped = leases.release_all(session, me=me)
            leases.forget_stale_members(session, me=me)
        if dropped:
            log.info("released %d leases of a previous run of hub %s", len(dropped), me)
        set_shard_source(self.snapshot)
        self._thread = threading.Thread(target=self._run, name="shards", daemon=True)
        self._thread.start()
        self._renewer = threading.Thread(target=self._renew_loop, name="leases", daemon=True)
        self._renewer.start()

    def snapshot(self) -> ShardSnapshot:
        """This hub's shard figures for /metrics."""
        with self.stats.lock:
            st = self.stats
            return ShardSnapshot(
                configured=self.config.shards,
                owned=st.owned,
                live_hubs=st.live_hubs,
                acquired=st.acquired,
                lost=st.lost,
                released=st.released,
                failures=st.failures,
                rules_lag_s=st.rules_lag_s,
            )

    def stop(self) -> None:
        """Stop the thread and hand every owned shard over at once."""
        self._stop.set()
        for thread in (self._thread, self._renewer):
            if thread is not None:
                thread.join(timeout=30)
        self._thread = self._renewer = None
        try:
            with unit_of_work(self._sessions) as session:
                for rules in self.owned.values():
                    leases.release(
                        session, me=self.config.hub_id, shard=rules.shard, epoch=rules.epoch
                    )
                leases.leave(session, me=self.config.hub_id)
        except Exception:
            log.warning("could not release shard leases at stop", exc_info=True)
        self.owned.clear()
        self._publish()
        set_shard_source(None)

    def _renew_loop(self) -> None:
        """Keep the leases alive while the main thread rebuilds a big shard or catches up."""
        cfg = self.config
        while not self._stop.wait(cfg.renew_s):
            if time.monotonic() - self._progress > cfg.lease_ttl_s:
                # A wedged worker must not keep its homes: let the leases expire.
                log.warning("shard worker shows no progress; not renewing its leases")
                continue
            try:
                with unit_of_work(self._sessions) as session:
                    leases.heartbeat(session, me=cfg.hub_id, ttl_s=cfg.lease_ttl_s)
                    leases.renew(session, me=cfg.hub_id, ttl_s=cfg.lease_ttl_s)
            except Exception:
                log.warning("renewing shard leases failed", exc_info=True)

    def _run(self) -> None:
        next_lease = 0.0
        next_tick = time.monotonic() + self.config.tick_s
        while not self._stop.is_set():
            self._progress = time.monotonic()
            try:
                now = time.monotonic()
                if now >= next_lease:
                    next_lease = now + self.config.renew_s
                    self.lease_step()
                self.tail_step()
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.config.tick_s
                    self.tick_step()
            except Exception:
                # The database may be away: keep trying; leases expire meanwhile and the
                # fencing keeps a late write of ours from landing.
                log.warning("shard step failed", exc_info=True)
                with self.stats.lock:
                    self.stats.failures += 1
            self._stop.wait(self.config.poll_s)

    # --- leases ----------------------------------------------------------------------------

    def lease_step(self) -> None:
        """Heartbeat, renew, rebalance, acquire (and rebuild what was acquired)."""
        cfg = self.config
        me = cfg.hub_id
        with unit_of_work(self._sessions) as session:
            live = leases.heartbeat(session, me=me, ttl_s=cfg.lease_ttl_s)
            held = leases.renew(session, me=me, ttl_s=cfg.lease_ttl_s)
        for shard, rules in list(self.owned.items()):
            if held.get(shard) != rules.epoch:
                log.warning("shard %d lost (taken over or expired)", shard)
                self._drop(shard, lost=True)
        orphans = {s: e for s, e in held.items() if s not in self.owned}
        if orphans:  # ours in the database, no state here (a release that failed): free them
            with unit_of_work(self._sessions) as session:
                for shard, epoch in orphans.items():
                    leases.release(session, me=me, shard=shard, epoch=epoch)
        share = math.ceil(cfg.shards / live)
        excess = sorted(self.owned, reverse=True)[: max(0, len(self.owned) - share)]
        for shard in excess:
            self._release(shard)
        # One shard at a time, renewing in between: rebuilding many shards must not let
        # the leases taken first expire meanwhile.
        want = share - len(self.owned)
        while want > 0 and not self._stop.is_set():
            with unit_of_work(self._sessions) as session:
                got = leases.acquire(session, me=me, ttl_s=cfg.lease_ttl_s, k=1)
            if not got:
                break
            self._rebuild(got[0])
            self._progress = time.monotonic()
            want -= 1
            with unit_of_work(self._sessions) as session:
                leases.renew(session, me=me, ttl_s=cfg.lease_ttl_s)
        with self.stats.lock:
            self.stats.live_hubs = live
        self._publish()
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 60.0
            with unit_of_work(self._sessions) as session:
                for rules in self.owned.values():
                    leases.prune_feed(session, shard=rules.shard, position=rules.position)

    def _release(self, shard: int) -> None:
        rules = self.owned.pop(shard)
        with unit_of_work(self._sessions) as session:
            leases.release(session, me=self.config.hub_id, shard=shard, epoch=rules.epoch)
        log.info("shard %d released (fair share)", shard)
        with self.stats.lock:
            self.stats.released += 1

    def _drop(self, shard: int, *, lost: bool = False, release: bool = False) -> None:
        rules = self.owned.pop(shard, None)
        if rules is None:
            return
        with self.stats.lock:
            if lost:
                self.stats.lost += 1
            else:
                self.stats.failures += 1
        if release:
            try:
                with unit_of_work(self._sessions) as session:
                    leases.release(session, me=self.config.hub_id, shard=shard, epoch=rules.epoch)
            except Exception:
                log.warning("could not release shard %d; it expires by itself", shard)

    def _publish(self) -> None:
        with self.stats.lock:
            self.stats.owned = tuple(sorted(self.owned))

    def _rebuild(self, lease: leases.Lease) -> None:
        """Take a shard over: state from the log, then what the previous owner left."""
        rules = ShardRules(lease.shard, lease.epoch, lease.position, clock=self._clock)
        try:
            with rule_evaluation_timer("shard_rebuild"):
                with self._sessions() as session:
                    # One snapshot for every read, so the warm-up and the feed agree. Only
                    # reads: writers (alerts, the audit chain) need to see the latest rows.
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                    now = self._clock()
                    n, decisions, position = self._take_over(session, rules, lease, now)
                    session.rollback()
                me = self.config.hub_id
                with unit_of_work(self._sessions) as session:
                    if not leases.fence_position(
                        session, me=me, shard=lease.shard, epoch=lease.epoch, position=position
                    ) or not leases.fence_tick(
                        session,
                        me=me,
                        shard=lease.shard,
                        epoch=lease.epoch,
                        at=now,
                        position=position,
                    ):
                        raise _LeaseLost
                    alerts.apply(session, decisions, now=now, routing=self._routing)
                rules.position = position
        except Exception:
            log.warning("taking over shard %d failed; releasing it", lease.shard, exc_info=True)
            with self.stats.lock:
                self.stats.failures += 1
            try:
                with unit_of_work(self._sessions) as session:
                    leases.release(
                        session, me=self.config.hub_id, shard=lease.shard, epoch=lease.epoch
                    )
            except Exception:
                log.warning("could not release shard %d; it expires by itself", lease.shard)
            return
        self.owned[lease.shard] = rules
        with self.stats.lock:
            self.stats.acquired += 1
            self.stats.rebuild_events += n
        log.info(
            "shard %d acquired (epoch %d): %d stored events replayed",
            lease.shard,
            lease.epoch,
            n,
        )

    def _take_over(
        self, session: Session, rules: ShardRules, lease: leases.Lease, now: datetime
    ) -> tuple[int, list[AlertDecision], int]:
        """Rebuild from one snapshot; returns (events replayed, decisions, new position).

        The replay repeats what the previous owner did, silently: events it processed
        before its last clock tick, that tick (`advance(ticked_until)`), the events it
        processed after it. Then, with alerts: the feed rows it had not processed, and the
        clock up to now — which fires exactly the timers its engine had not fired yet.
        """
        cfg = self.config
        h = horizon(session)
        feed = [
            _FeedRow(int(r[0]), _items(r[1]), r[2])
            for r in session.execute(
                _READ_SHARD_FEED,
                {"s": lease.shard, "p": min(lease.ticked_position, lease.position)},
            )
        ]
        after_tick = {
            str(eid)
            for row in feed
            if row.tx <= lease.position
            for eid, _ in row.items.get("e", [])
        }
        # Events beyond the position are the previous owner's unfinished work (or the
        # future): they go through the rules with alerts, not through the replay.
        unprocessed = {
            str(eid) for row in feed if row.tx > lease.position for eid, _ in row.items.get("e", [])
        }
        homes = [
            h_id
            for h_id in session.scalars(select(Home.id))
            if shard_of(h_id, cfg.shards) == lease.shard
        ]
        kinds = {d.id: Kind(d.kind) for d in session.scalars(select(Device))}
        since = now - timedelta(days=cfg.warm_days)
        later: list[EngineInput] = []
        n = 0
        for i in range(0, len(homes), _IN_CHUNK):
            q = (
                select(Event)
                .where(Event.home_id.in_(homes[i : i + _IN_CHUNK]), Event.received_at >= since)
                .order_by(Event.ts, Event.id)
                .execution_options(yield_per=2000)
            )
            for row in session.scalars(q):
                kind = kinds.get(row.device_id)
                if row.id in unprocessed or kind is None or row.home_id is None:
                    continue
                client = rules.client_of(session, row.home_id)
                if client is None:
                    continue
                item = EngineEvent(row.home_id, client, row.device_id, kind, _envelope(row))
                if row.id in after_tick:
                    later.append(item)
                else:
                    rules.engine.process(item)
                n += 1
                if n % 1000 == 0:
                    self._progress = time.monotonic()  # a long replay is progress too
        if lease.ticked_until is not None:
            rules.engine.advance(lease.ticked_until)
        rules.process(later)
        ready = [row for row in feed if lease.position < row.tx < h]
        decisions = rules.process(rules.inputs(session, ready))
        decisions += rules.engine.advance(now)
        return n, decisions, max([lease.position, *(row.tx for row in ready)])

    # --- the feed ----------------------------------------------------------------------------

    def tail_step(self) -> None:
        """Run the rules over the owned shards' new feed rows."""
        if not self.owned:
            return
        with self._sessions() as session:
            h = horizon(session)
            params = {"me": self.config.hub_id, "h": h, "lim": FEED_ROWS_PER_STEP}
            rows = session.execute(_READ_FEED, params).all()
            session.rollback()
        per_shard: dict[int, list[_FeedRow]] = defaultdict(list)
        for r in rows:
            per_shard[int(r[0])].append(_FeedRow(int(r[1]), _items(r[2]), r[3]))
        for shard, feed in sorted(per_shard.items()):
            if len(feed) == FEED_ROWS_PER_STEP and feed[0].tx != feed[-1].tx:
                # Never split one transaction's rows: the position moves by transaction.
                feed = [row for row in feed if row.tx != feed[-1].tx]
            rules = self.owned.get(shard)
            if rules is not None:
                self._run_shard(rules, feed)
                self._progress = time.monotonic()

    def _run_shard(self, rules: ShardRules, feed: list[_FeedRow]) -> None:
        position = max(row.tx for row in feed)
        if position <= rules.position:
            return
        try:
            with rule_evaluation_timer("shard_batch"), unit_of_work(self._sessions) as session:
                if not leases.fence_position(
                    session,
                    me=self.config.hub_id,
                    shard=rules.shard,
                    epoch=rules.epoch,
                    position=position,
                ):
                    raise _LeaseLost
                rules.refresh_plans(session)
                decisions = rules.process(rules.inputs(session, feed))
                alerts.apply(session, decisions, now=self._clock(), routing=self._routing)
        except _LeaseLost:
            log.warning("shard %d was taken over; its feed rows are the new owner's", rules.shard)
            self._drop(rules.shard, lost=True)
            self._publish()
            return
        except Exception:
            log.warning("rules of shard %d failed; handing it over", rules.shard, exc_info=True)
            self._drop(rules.shard, release=True)
            self._publish()
            return
        rules.position = position
        newest = max((r.created_at for r in feed if r.created_at is not None), default=None)
        with self.stats.lock:
            self.stats.feed_rows += len(feed)
            if newest is not None:
                self.stats.rules_lag_s = max(0.0, (self._clock() - newest).total_seconds())

    # --- the clock -----------------------------------------------------------------------------

    def tick_step(self) -> None:
        """Wall-clock timers of every owned shard; database-wide jobs on shard 0's owner."""
        now = self._clock()
        for rules in list(self.owned.values()):
            try:
                with rule_evaluation_timer("shard_timers"), unit_of_work(self._sessions) as session:
                    if not leases.fence_tick(
                        session,
                        me=self.config.hub_id,
                        shard=rules.shard,
                        epoch=rules.epoch,
                        at=now,
                        position=rules.position,
                    ):
                        raise _LeaseLost
                    alerts.apply(session, rules.engine.advance(now), now=now, routing=self._routing)
            except _LeaseLost:
                self._drop(rules.shard, lost=True)
            except Exception:
                log.warning(
                    "timers of shard %d failed; handing it over", rules.shard, exc_info=True
                )
                self._drop(rules.shard, release=True)
        self._publish()
        if 0 in self.owned:
            with unit_of_work(self._sessions) as session:
                alerts.escalate_due(session, now=now)
                alerts.reroute_open(session, now=now, routing=self._routing)


def owned_homes(session: Session, *, shards: int, owned: Iterable[int]) -> list[str]:
    """The homes in the given shards (diagnostics and tests)."""
    want = set(owned)
    return [h for h in session.scalars(select(Home.id)) if shard_of(h, shards) in want]
