"""Keeping a worker's compiled rule table equal to the active version in Redis.

The active version is followed by a watcher thread, off the event loop: it listens on the
`rules:{rules}:changed` channel (and checks every POLL_SECONDS in case a message was
missed), reads the new table, compiles it and swaps it in by one assignment. A busy
event loop therefore never delays a push: the next request reads the new table. A
request reads `service.table` once, so a quote sees exactly one version and names it.

Scheduled versions are the event loop's: compiled ahead and swapped in by every worker
at its own `activate_at` (a timer), not when a message arrives; the first worker there
also marks it active in Redis. Swaps from both sides go through one lock, and the
watcher swaps only if nothing else swapped while it compiled.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Optional

import redis

from engine.rules import compile_source

from .redis_connect import sync_client
from .rules_store import ACTIVE, CHANNEL, RulesStore, add_samples, meta_key, src_key

log = logging.getLogger("rights.rules")

POLL_SECONDS = 1.0


class RulesSync:
    def __init__(self, service, redis_url: str):
        self.service = service
        self.redis_url = redis_url
        self.store = RulesStore(service.redis)
        self.prepared: dict = {}  # version -> CompiledTable, scheduled ones compiled ahead
        self.timers: dict = {}  # version -> TimerHandle
        self._task: Optional[asyncio.Task] = None
        self._wake = asyncio.Event()
        self._stop = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    async def start(self) -> None:
        """Serve the active version from Redis; with none there yet, make the table this
        worker loaded from its file the first version."""
        with contextlib.suppress(Exception):
            active = await self.store.active()
            if active is None:
                table = self.service.table
                source = self.service.table_source
                await self.store.push(table.version, source, "rights serve", table.version.split("@")[0], None,
                                      int(time.time()))
            elif active != self.service.table.version:  # serve what Redis says is active, from the first request
                self.service.swap(await self.compile(active))
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
                await self.store.heartbeat(self.service.metrics.worker, self.service.table.version,
                                           self.service.swapped_at)
                samples, self.service.samples = self.service.samples, []
                if samples:
                    await add_samples(self.service.redis, samples)

    def _watch(self) -> None:
        """The watcher thread: follow the active version, off the event loop."""
        client = listener = None
        while not self._stop.is_set():
            try:
                client = client or sync_client(self.redis_url, socket_timeout=10, socket_connect_timeout=5)
                listener = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5, protocol=2)
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
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
        """Swap to the active version if it is not the one served."""
        served = self.service.table
        active = client.get(ACTIVE)
        active = active.decode() if isinstance(active, bytes) else active
        if not active or active == served.version:
            return
        pipe = client.pipeline(transaction=False)
        pipe.get(src_key(active))
        pipe.hget(meta_key(active), "label")
        source, label = pipe.execute()
        if source is None:
            return
        table = compile_source(source, (label or b"").decode())
        with self.service.swap_lock:  # re-entrant: swap() takes it too
            if self.service.table is served:  # nothing swapped while this one compiled
                self.service.swap(table)

    async def refresh(self) -> None:
        """Swap to the active version if it is not the one served; prepare the scheduled."""
        active = await self.store.active()
        if active in self.prepared and active != self.service.table.version:  # compiled ahead: no wait
            self.service.swap(self.prepared.pop(active))
        now = time.time()
        scheduled = await self.store.scheduled()
        for version in set(self.timers) - {v for v, _ in scheduled}:  # cancelled (or gone live elsewhere)
            self.timers.pop(version).cancel()
            self.prepared.pop(version, None)
        for version, at in scheduled:
            if version in self.timers or version == self.service.table.version:
                continue
            if version not in self.prepared:  # a push through this worker compiled it already
                self.prepared[version] = await self.compile(version)
            self.timers[version] = asyncio.get_running_loop().call_later(
                max(0.0, at - now), lambda v=version, t=at: asyncio.ensure_future(self._due(v, t)))

    async def compile(self, version: str):
        source = await self.store.source(version)
        meta = await self.store.meta(version) or {}
        if source is None:
            raise LookupError(f"rule table {version} has no source in Redis")
        return await asyncio.to_thread(compile_source, source, meta.get("label", ""))

    async def _due(self, version: str, at: float) -> None:
        """A scheduled version's instant: swap here first, then tell Redis (once)."""
        while time.time() < at:  # the loop's timers may fire a little early; never open early
            await asyncio.sleep(at - time.time())
        self.timers.pop(version, None)
        table = self.prepared.pop(version, None)
        if table is not None:
            self.service.swap(table)
        with contextlib.suppress(Exception):
            await self.store.activate(version, int(time.time()), only_if_scheduled=True)
