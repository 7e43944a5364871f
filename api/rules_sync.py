"""Keeping a worker's compiled rule table equal to the active version in Redis.

The active version is followed by a watcher thread, off the event loop: it listens on the
`rules:{rules}:changed` channel (and checks every POLL_SECONDS in case a message was
missed), reads the new table, compiles it and swaps it in by one assignment. A busy
event loop therefore never delays a push: the next request reads the new table. A
request reads `service.table` once, so a quote sees exactly one version and names it.

Scheduled versions are the event loop's: compiled ahead, and at `activate_at` (a timer
in every worker) activated in Redis by the first worker there, in one script that a
cancel cannot race, then swapped in by each worker from the table it prepared. Every
activation has a sequence number in Redis, and a worker swaps only to a later one than
it serves (Service.swap), so the watcher, a timer and a push or rollback through this
worker can never take it back to an older table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import redis

from engine.rules.load import compile_source

from .brands import Served
from .redis.connect import sync_client
from .redis.keys import rules_keys
from .rules_store import RulesStore, add_samples

log = logging.getLogger("rights.rules")

POLL_SECONDS = 1.0
REDIS_RESET_AFTER_S = 5.0  # Redis's activation count behind this worker's for this long: Redis was reset
NO_ACTIVE = (
    "Redis holds no active rule table (it was emptied, or is another Redis): restore its data, or push a table "
    "(rights rules push); serving {served}"
)


class RulesSync:
    def __init__(self, service, redis_url: str, brand: str = ""):
        self.service = service
        self.redis_url = redis_url
        self.brand = brand  # "": the home brand, whose table is the service's own
        self.keys = rules_keys(brand)
        self.store = RulesStore(service.redis, brand)
        self.target = service  # what serves this brand's table (api/brands.Served for another brand)
        self.prepared: dict = {}  # version -> CompiledTable, scheduled ones compiled ahead
        self._unservable: tuple | None = None  # (version, seq) of an active version that did not compile
        self._no_active: str | None = None  # the problem told while Redis held no active table
        self.timers: dict = {}  # version -> TimerHandle
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refreshing = asyncio.Lock()
        self._behind_since: float | None = None  # when the watcher first read an older activation

    async def start(self) -> None:
        """Serve the active version from Redis; with none there yet, make the table this
        worker loaded from its file the first version. Another brand's table is Redis's
        active one, or LookupError when it has none yet."""
        if self.brand:
            active, seq = await self.store.active_with_seq()
            if active is None:
                raise LookupError(f"brand {self.brand} has no active rule table")
            source = await self.store.source(active)
            table = await self.compile(active)
            self.target = Served(self.brand, table, source or b"", self.service)
            self.target.table_seq = seq
            self.service.brands[self.brand] = self.target
            self.service.rooms_changed()
        with contextlib.suppress(Exception):
            active, seq = await self.store.active_with_seq()
            table = self.target.table
            if active is None:
                _, seq = await self.store.push(
                    table.version,
                    self.target.table_source,
                    "rights serve",
                    table.version.split("@")[0],
                    None,
                    int(time.time()),
                )
                self.target.note_seq(table.version, seq)
            elif active != table.version:  # serve what Redis says is active, from the first request
                try:
                    self.target.swap(await self.compile(active), seq)
                except Exception as exc:  # noqa: BLE001 - any reason it cannot be served is told, not hidden
                    self._cannot_serve(active, seq, exc)
            else:
                self.target.note_seq(active, seq)
            await self.refresh()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(self._run())
        self._watcher = threading.Thread(target=self._watch, name="rules-watcher", daemon=True)
        self._watcher.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.join, POLL_SECONDS + 2)
        for timer in self.timers.values():
            timer.cancel()
        if self._task is not None:
            self._wake.set()  # the loop sees the flag at once; a cancel only if it is stuck in Redis
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), POLL_SECONDS + 1)
            self._task.cancel()

    async def _run(self) -> None:
        """Every POLL_SECONDS, or when the watcher hears of a change: prepare the scheduled
        versions, send this worker's heartbeat and its sampled requests."""
        while not self._stop.is_set():  # a flag as well as the cancel: 3.11's wait_for can swallow a cancel
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            with contextlib.suppress(Exception):
                await self.refresh()
                await self.store.heartbeat(
                    self.service.metrics.worker, self.target.table.version, self.target.swapped_at
                )
                samples, self.target.samples = self.target.samples, []
                if samples:
                    await add_samples(self.service.redis, samples, self.keys)

    def _watch(self) -> None:
        """The watcher thread: follow the active version, off the event loop."""
        client = listener = None
        while not self._stop.is_set():
            try:
                client = client or sync_client(self.redis_url, socket_timeout=10, socket_connect_timeout=5)
                listener = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5, protocol=2)
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.keys.channel)
                self._follow(client)  # what changed while this thread was not listening
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=POLL_SECONDS)
                    self._follow(client)
                    if message is not None and self._loop is not None:  # the loop prepares scheduled ones
                        self._loop.call_soon_threadsafe(self._wake.set)
            except Exception as exc:  # Redis away: try again shortly; the table served stays
                log.debug("rules watcher: %s", exc)
                self._stop.wait(0.5)
            finally:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        listener.close()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _follow(self, client) -> None:
        """Swap to the active version if it is a later activation than the one served."""
        active, seq = client.mget(self.keys.active, self.keys.seq)
        active, seq = (active.decode() if isinstance(active, bytes) else active), int(seq or 0)
        if not active:  # a Redis emptied or swapped under a running server: /readyz says so, the table served stays
            if self.target.rules_problem is None:
                self.target.rules_problem = self._no_active = NO_ACTIVE.format(served=self.target.table.version)
                log.error("rules: %s", self.target.rules_problem)
            return
        if active == self.target.table.version:
            if self._no_active is not None and self.target.rules_problem == self._no_active:
                self.target.rules_problem = None  # it is back (restored, or pushed again)
            self._no_active = None
            self.target.note_seq(active, seq)
            return
        if (active, seq) == self._unservable:  # told once; not compiled again until the active one changes
            return
        reset = False
        if seq < self.target.table_seq:  # this worker is ahead of what it read (a swap while it asked) ...
            behind = self._behind_since = self._behind_since or time.monotonic()
            if time.monotonic() - behind < REDIS_RESET_AFTER_S:
                return
            reset = True  # ... or Redis lost its count (flushed, restored): after a while Redis is the truth
        self._behind_since = None
        pipe = client.pipeline(transaction=False)
        pipe.get(self.keys.source(active))
        pipe.hget(self.keys.meta(active), "label")
        source, label = pipe.execute()
        try:
            if source is None:
                raise LookupError(f"rule table {active} has no source in Redis")
            table = compile_source(source, (label or b"").decode())
        except Exception as exc:  # noqa: BLE001 - e.g. a table this release refuses: told, not hidden
            self._cannot_serve(active, seq, exc)
            return
        self.target.swap(table, seq, reset=reset)

    def _cannot_serve(self, active: str, seq: int, exc: Exception) -> None:
        """The active version cannot be served here: keep serving the table this worker has,
        say so on stderr once, and make /readyz answer 503 with the reason until the active
        version changes to one it can serve (a balancer then sends traffic elsewhere)."""
        problems = getattr(exc, "problems", None)
        why = problems[0].render(active) if problems else f"{type(exc).__name__}: {exc}"
        if problems and len(problems) > 1:
            why += f", and {len(problems) - 1} more"
        served = self.target.table.version if self.target.table else "nothing"
        self.target.rules_problem = f"the active rule table {active} cannot be served here ({why}); serving {served}"
        self._unservable = (active, seq)
        log.error("rules: %s", self.target.rules_problem)

    async def refresh(self) -> None:
        """Prepare the scheduled versions (compiled ahead, a timer each), and drop those no
        longer scheduled; the active version, if it was prepared here, is swapped in."""
        async with self._refreshing:  # one at a time: a second would set a second timer
            await self._refresh()

    async def _refresh(self) -> None:
        active, seq = await self.store.active_with_seq()
        if active in self.prepared and active != self.target.table.version:  # compiled ahead: no wait
            self.target.swap(self.prepared.pop(active), seq)
        now = time.time()
        scheduled = await self.store.scheduled()
        for version in set(self.timers) - {v for v, _ in scheduled}:  # cancelled (or gone live elsewhere)
            self.timers.pop(version).cancel()
            self.prepared.pop(version, None)
        for version, at in scheduled:
            if version in self.timers or version == self.target.table.version:
                continue
            if version not in self.prepared:  # a push through this worker compiled it already
                self.prepared[version] = await self.compile(version)
            self.timers[version] = asyncio.get_running_loop().call_later(max(0.0, at - now), self._fire, version, at)

    async def compile(self, version: str):
        source = await self.store.source(version)
        meta = await self.store.meta(version) or {}
        if source is None:
            raise LookupError(f"rule table {version} has no source in Redis")
        return await asyncio.to_thread(compile_source, source, meta.get("label", ""))

    def _fire(self, version: str, at: float) -> None:
        """A scheduled version's timer: its activation runs as a task of its own."""
        asyncio.ensure_future(self._due(version, at))

    async def _due(self, version: str, at: float) -> None:
        """A scheduled version's instant: activate it in Redis (the first worker there
        does; a cancelled one is not), then swap in the table prepared for it."""
        while time.time() < at:  # the loop's timers may fire a little early; never open early
            await asyncio.sleep(at - time.time())
        self.timers.pop(version, None)
        table = self.prepared.pop(version, None)
        with contextlib.suppress(Exception):
            seq = await self.store.activate(version, int(time.time()), only_if_scheduled=True)
            if not seq:  # another worker activated it first, or it was cancelled
                active, seq = await self.store.active_with_seq()
                if active != version:
                    return  # cancelled or overtaken: the watcher follows whatever is active
            if table is not None:
                self.target.swap(table, seq)
