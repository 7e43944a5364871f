"""What the routes of one worker share, declared in one place and built by the lifespan.

`Service(settings)` costs nothing; `start()` opens Redis, registers the scripts, compiles
the rule table and starts the threads that watch Redis (health, member cache, rules);
`stop()` undoes it. Every attribute a route reads is declared here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisClusterException, RedisError

import engine
from engine.compiler import CompiledTable
from engine.inputs import QuoteInputError
from engine.rules.load import compile_source
from engine.rules.source import read_bytes

from .access import CURRENT_GRANT
from .alliance import members_of as alliance_members
from .alliance import stored as stored_alliances
from .brands import Served, enter, registered, scope_of
from .dashboard import DashboardCounters
from .errors import BrandRefused, Overloaded, RedisUnavailable
from .leaders import LeaderBook
from .ledger import sweep
from .member_cache import MISS, TrackedCache
from .metrics import Metrics, forget_silent_workers
from .pickup_codes import load_secret
from .progression import review_due
from .progression import run as run_progression
from .redis.connect import async_client, is_cluster, node_url
from .redis.health import RedisHealth
from .redis.keys import METRICS_KEY, Scope, member_key
from .redis.scripts import Scripts
from .rules_sync import RulesSync
from .settings import Settings
from .store import MemberReader, MemberRecord, record_from_hash

T = TypeVar("T")
log = logging.getLogger("rights.rules")
MAX_REDIS_CONNECTIONS = 256  # per worker (per node on a cluster); a burst past it waits for one
LATEST_NOW = 32_503_679_999  # 2999-12-31T23:59:59Z, the latest X-Rights-Now: months and years added to it stay in range
PATIENCE_FLOOR_S, PATIENCE_TIMEOUTS = 2.0, 8  # patience: the larger of 2 s and 8 Redis timeouts


class Service:
    """One worker's settings, Redis client and scripts, rule table, caches and counters."""

    scripts: Scripts  # every Lua script, registered on `redis` by start()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.evaluator = engine.evaluator
        self.metrics = Metrics()
        self.dashboard = DashboardCounters()  # this worker's big-screen counts, flushed each second
        self.leaders = LeaderBook()  # the pickup leaders, kept current from Redis
        self.table: CompiledTable | None = None
        # why this worker does not serve Redis's active rule table (it cannot compile it), for /readyz
        self.rules_problem: str | None = None
        self.table_source = b""  # the served table's source as read at start
        self.table_seq: float = 0  # the served table's activation, in Redis's count (see swap)
        self.swapped_at = time.time()  # when the served table became this worker's
        self.swap_lock = threading.RLock()  # swaps come from the event loop and the rules watcher thread
        self.redis: Any = None  # redis-py's asyncio client (a RedisCluster on a cluster)
        self.cluster = False
        # one Redis server: a settlement's and a redemption's steps run as one script (api/redis/steps.py)
        self.one_node = False
        self.cache: TrackedCache | None = None
        self.reader: MemberReader | None = None
        self.health: RedisHealth | None = None
        self.rules: RulesSync | None = None
        self.timeout = settings.redis_timeout_ms / 1000
        # how long a call may wait while Redis answers but this worker is too busy to read it
        self.patience = max(PATIENCE_FLOOR_S, PATIENCE_TIMEOUTS * self.timeout)
        self.paths: frozenset[str] = frozenset()  # the app's route paths, for metric labels
        self.samples: list = []  # recent eligibility requests, flushed to Redis each second
        self.background: list[Callable[[], Awaitable[None]]] = []  # extra loops the lifespan runs (parent watch)
        self._pickup_secret: bytes | None = None
        self.home = settings.brand  # the home brand: its table is `table` above, its keys unscoped
        self._scopes: tuple = (None, None, {})  # (members_of, home, brand -> Scope) for scope()
        self.brands: dict[str, Served] = {}  # every other brand served: its table (api/brands.py)
        self.brand_rules: dict[str, RulesSync] = {}  # ... and what keeps it current
        self.rooms: dict[str, str] = {}  # room -> the brand whose table has it (home rooms too)
        self.members_of: dict[str, str] = {}  # brand -> the brand whose members it shares (an alliance)
        self.alliances: dict = {}  # name -> api.alliance.Alliance
        self.alliance_problem = ""
        self.unserved: dict[str, str] = {}  # brand -> why its active table cannot be served here (/readyz)

    async def start(self) -> None:
        url = self.settings.redis_url
        assert url, "a worker is always given its Redis (rights serve starts one when none is named)"
        self.table_source = read_bytes(self.settings.rules)
        self.table = compile_source(self.table_source)
        gc.freeze()  # the table's objects live as long as the worker: keep them out of every collection
        self.metrics.rules_version = self.table.version
        self.metrics.brand = self.home
        self.metrics.brand_versions = lambda: {b: s.table.version for b, s in list(self.brands.items()) if s.table}
        self.cluster = await asyncio.to_thread(is_cluster, url)
        self.one_node = not self.cluster
        # the client's own timeouts are the patience limit: whether Redis answers in time is
        # the health thread's call (api/redis/health.py), not a timer on a busy loop
        self.redis = async_client(
            url,
            socket_timeout=self.patience,
            socket_connect_timeout=self.patience,
            retry_on_timeout=False,
            retry=None,
            max_connections=MAX_REDIS_CONNECTIONS,
            **({} if self.cluster else {"pool_timeout": self.patience}),
        )
        self.scripts = Scripts(self.redis)
        self.health = RedisHealth(url, self.cluster, self.timeout)
        self.health.start()
        urls = [url]
        if self.cluster:  # the primaries: /readyz probes each, the member cache tracks each
            await self.redis.initialize()
            urls = [node_url(url, node.host, node.port) for node in self.redis.get_primaries()]
        self.cache = TrackedCache(urls, timeout=self.timeout) if self.settings.member_cache else None
        if self.cache is not None:
            self.cache.start()
        self.reader = MemberReader(self.redis, batching=self.settings.batch_lookups, cache=self.cache)
        self.rules = RulesSync(self, url)
        await self.rules.start()
        self.rooms_changed()
        await self.follow_brands()

    async def stop(self) -> None:
        for sync in self.brand_rules.values():
            await sync.stop()
        if self.rules is not None:
            await self.rules.stop()
        if self.cache is not None:
            await self.cache.stop()
        if self.redis is not None:
            await self.redis.aclose()
        if self.health is not None:
            await asyncio.to_thread(self.health.stop)

    def now(self, scope: MutableMapping[str, Any]) -> int:
        """The instant a request is decided at: the server's clock, or the request's
        X-Rights-Now header where RIGHTS_ALLOW_CLOCK_OVERRIDE allows it (rehearsals)."""
        if self.settings.allow_clock_override:
            for name, value in scope["headers"]:
                if name == b"x-rights-now" and value.isdigit():
                    if len(value) > 11 or int(value) > LATEST_NOW:  # refused before anything is read or written
                        raise QuoteInputError("X-Rights-Now", f"Unix seconds up to {LATEST_NOW} (before the year 3000)")
                    return int(value)
        return int(time.time())

    def pickup_secret(self) -> bytes:
        """The key pickup codes are signed with, read (or made) on first use."""
        if self._pickup_secret is None:
            self._pickup_secret = load_secret(self.settings.data_dir)
        return self._pickup_secret

    def known_member(self, req: Any) -> Any:
        """The member a request names as the tracked cache knows it (its record, or None
        for a visitor), without I/O or a coroutine; MISS when Redis must be asked
        (`find_member`)."""
        reader = self.reader
        assert reader is not None, "the service is not started"
        member_id = req.member_id
        if req.identity is not None:
            member_id = reader.cached_identity(*req.identity)
            if member_id is MISS:
                return MISS
        if member_id is None:
            return None
        return reader.cached_member(member_id)

    async def find_member(self, req: Any) -> MemberRecord | None:
        """The member a request names (by id or channel identity), or None for a visitor.
        A cached answer costs no I/O (known_member); only a miss pays for the bounded wait
        on Redis, whose reads take what the tracked cache does hold."""
        record = self.known_member(req)
        if record is not MISS:
            return record
        return await self.fetch_member(req)

    async def fetch_member(self, req: Any) -> MemberRecord | None:
        """`find_member` after `known_member` said MISS: the member read through Redis."""
        reader = self.reader
        assert reader is not None, "the service is not started"
        member_id = req.member_id
        if req.identity is not None:
            member_id = await self.redis_call(reader.resolve(*req.identity))
        if member_id is None:
            return None
        return await self.redis_call(reader.member(member_id))

    async def current_member(self, record: MemberRecord | None, now: int) -> MemberRecord | None:
        """The member with its expired points lapsed, when one of its lots is due."""
        if record is None or not 0 < record.lapse_at <= now:
            return record
        await self.redis_call(sweep(self.scripts, record.id, now))
        return record_from_hash(record.id, await self.redis_call(self.redis.hgetall(member_key(record.id))))

    async def reviewed_member(
        self, record: MemberRecord | None, now: int, table: CompiledTable | None = None
    ) -> MemberRecord | None:
        """The member after its tier-progression review, when one is due (api/progression.py):
        the first touch at or after the review instant runs it, by `table` (the home one's
        by default)."""
        table = table or self.table
        if not review_due(record, now) or table is None or table.model.progression is None:
            return record
        assert record is not None
        await self.redis_call(run_progression(self.scripts, table.model, record.id, now, mode="review"))
        return record_from_hash(record.id, await self.redis_call(self.redis.hgetall(member_key(record.id))))

    def swap(self, table: CompiledTable, seq: float, reset: bool = False) -> bool:
        """Serve `table` from now on: one assignment, so every request sees one version.
        `seq` is its activation's sequence number in Redis (api/rules_store.py): a swap to
        an earlier activation than the one served is refused, so the event loop and the
        rules watcher thread (api/rules_sync.py) can never take a worker backwards;
        `reset` accepts Redis's count when Redis itself was reset."""
        with self.swap_lock:
            if seq < self.table_seq and not reset:
                return False
            self.table = table
            self.table_seq = seq
            self.rules_problem = None
            self.swapped_at = time.time()
            self.metrics.rules_version = table.version
        self.rooms_changed()
        return True

    # -- brands (api/brands.py) --------------------------------------------------------------

    def table_of(self, brand: str) -> CompiledTable | None:
        """The table served for `brand` (None: no such brand here)."""
        if brand == self.home:
            return self.table
        served = self.brands.get(brand)
        return served.table if served is not None else None

    def served(self, brand: str) -> Any:
        """What serves `brand`'s table: the service itself for the home brand, else its Served."""
        return self if brand == self.home else self.brands.get(brand)

    def brand_of(self, brand: str | None, room: str | None) -> str | None:
        """The brand a request is for: the one it names, else its room's, else the home
        brand; None when it names a brand this deployment does not serve."""
        if brand is not None:
            return brand if brand == self.home or brand in self.brands else None
        if room is not None:
            return self.rooms.get(room, self.home)
        return self.home

    def enter_brand(self, brand: str | None, room: str | None = None) -> Any:
        """Make this request's keys those of the brand it names (or its room's, else the
        home brand's); what serves that brand's table. QuoteInputError (422 on `brand`)
        for a brand this deployment does not serve, BrandRefused (403) for one the
        request's channel key is not for."""
        name = self.brand_of(brand, room)
        if name is None:
            raise QuoteInputError("brand", f"no brand {brand!r} on this deployment")
        grant = CURRENT_GRANT.get()
        refusal = grant.brand_refusal(name) if grant is not None else None
        if refusal is not None:
            raise BrandRefused(refusal)
        enter(self.scope(name))
        return self.served(name)

    def alliance_of(self, brand: str) -> Any:
        """The alliance `brand` is in, or None."""
        return next((a for a in self.alliances.values() if brand in a.brands), None)

    def scope(self, brand: str) -> Scope:
        """`brand`'s key scope, kept per brand while the alliances stay as they are."""
        kept = self._scopes
        if kept[0] is not self.members_of or kept[1] != self.home:
            kept = self._scopes = (self.members_of, self.home, {})
        found = kept[2].get(brand)
        if found is None:
            found = kept[2][brand] = scope_of(brand, self.home, self.members_of)
        return found

    def rooms_changed(self) -> None:
        """Rebuild room -> brand from the tables served: the home brand's rooms first, then
        each brand's in id order (a room two brands claim is the first's; a push that makes
        such a claim is refused)."""
        rooms: dict[str, str] = {}
        for brand, table in [(self.home, self.table), *sorted((b, s.table) for b, s in self.brands.items())]:
            if table is None:
                continue
            for room in table.model.rooms:
                rooms.setdefault(room.id, brand)
        self.rooms = rooms

    async def follow_brands(self) -> None:
        """Serve every brand in the registry that this worker does not serve yet, and follow
        the alliances (api/alliance.py): which brands share whose members."""
        assert self.redis is not None
        try:
            self.alliances = await stored_alliances(self.redis)
            self.members_of = alliance_members(self.alliances, self.home)
        except ValueError as exc:  # a declaration this release refuses: the last good one stays, said once
            if self.alliance_problem != str(exc):
                log.error("alliances: %s; following the ones read before", exc)
            self.alliance_problem = str(exc)
        for brand in await registered(self.redis):
            if brand == self.home or brand in self.brand_rules:
                continue
            sync = RulesSync(self, self.settings.redis_url or "", brand=brand)
            try:
                await sync.start()
            except LookupError:  # registered, no table yet (a push in flight): the next look serves it
                continue
            except Exception as exc:  # noqa: BLE001 - one brand's table this worker cannot compile: told, not fatal
                problems = getattr(exc, "problems", None)
                why = problems[0].render(brand) if problems else f"{type(exc).__name__}: {exc}"
                if self.unserved.get(brand) != why:
                    log.error("brand %s: its active rule table cannot be served here (%s)", brand, why)
                self.unserved[brand] = why
                continue
            self.unserved.pop(brand, None)
            self.brand_rules[brand] = sync

    async def watch_brands(self) -> None:
        """A brand pushed through any worker is served by every worker within a second or two."""
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.follow_brands()

    def note_seq(self, version: str, seq: float) -> None:
        """Redis confirms the served version's activation (or a later one of it)."""
        with self.swap_lock:
            if self.table is not None and self.table.version == version and seq > self.table_seq:
                self.table_seq = seq

    async def redis_call(self, awaitable: Awaitable[T]) -> T:
        """Any Redis call, bounded. A fault, or Redis not answering within the timeout (as
        the health thread sees it), is a 503 `redis_unavailable` at once; a call that is
        slow while Redis answers is this worker's queue, so it goes on waiting, up to the
        patience limit (then 503 `overloaded`). The call runs in the request's own task (no
        task of its own per call): a timer looks every timeout and cancels it to give up."""
        started = time.perf_counter()
        health = self.health
        if health is not None and not health.answering:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            self.metrics.redis_errors += 1
            raise RedisUnavailable("Redis unavailable: it does not answer")
        current = asyncio.current_task()
        assert current is not None, "a Redis call runs in a task"
        loop = asyncio.get_running_loop()
        verdict: list[Exception] = []

        def look() -> None:
            if health is not None and not health.answering:
                verdict.append(RedisUnavailable("Redis unavailable: it does not answer in time"))
            elif time.perf_counter() - started > self.patience:
                verdict.append(Overloaded(f"a Redis answer took over {self.patience:.1f} s to reach this busy worker"))
            else:
                timer[0] = loop.call_later(self.timeout, look)
                return
            current.cancel()

        timer = [loop.call_later(self.timeout, look)]
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not verdict or current.uncancel() > 0:
                raise  # the request itself was cancelled (too)
            if isinstance(verdict[0], RedisUnavailable):
                self.metrics.redis_errors += 1
            raise verdict[0] from None
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            self.metrics.redis_errors += 1
            refused = isinstance(exc, (OutOfMemoryError, ReadOnlyError))  # it answers, and takes no writes
            raise RedisUnavailable(
                f"Redis {'refuses writes' if refused else 'unavailable'}: {type(exc).__name__}"
            ) from None
        finally:
            timer[0].cancel()
            self.metrics.redis.observe(time.perf_counter() - started)

    async def publish_snapshot(self) -> None:
        """This worker's metrics into the shared hash (see api/metrics.py)."""
        metrics = self.metrics
        counts = metrics.counts()
        args: list[str | bytes] = [metrics.field, metrics.snapshot(counts), "1" if metrics.first_publish else "0"]
        if await asyncio.wait_for(self.scripts.metrics_publish(keys=[METRICS_KEY], args=args), self.timeout):
            metrics.took(counts)
        else:
            metrics.retired()

    async def publish_metrics(self) -> None:
        """Once a second, whatever Redis is doing; once a minute, forget the snapshots of
        workers silent for FORGET_METRICS_AFTER (restarted or scaled away)."""
        pruned_at = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.publish_snapshot()
                if time.monotonic() - pruned_at > 60:
                    pruned_at = time.monotonic()
                    await forget_silent_workers(self.redis, self.scripts)
