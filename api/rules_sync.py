"""Keeping a worker's compiled rule table equal to the active version in Redis.

A push reaches the worker on the `rules:{rules}:changed` channel; a poll every second
catches anything the channel missed. A new table is compiled off the event loop and then
swapped in by one assignment: a request reads `service.table` once, so a quote sees
exactly one version and names it. A scheduled version is compiled ahead and swapped in
by every worker at its own `activate_at`, not when a message arrives; the first worker
there also marks it active in Redis.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Optional

from engine.rules import compile_source

from .rules_store import CHANNEL, RulesStore, add_samples

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
            else:
                await self.refresh()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 1.0)

    async def _run(self) -> None:
        listener = asyncio.ensure_future(self._listen())
        try:
            while True:
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
        finally:
            listener.cancel()

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(self.redis_url, protocol=2)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def refresh(self) -> None:
        """Swap to the active version if it is not the one served; prepare the scheduled."""
        active = await self.store.active()
        if active and active != self.service.table.version:
            self.service.swap(self.prepared.pop(active, None) or await self.compile(active))
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
