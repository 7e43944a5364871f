"""The member cache of a worker: members and identities kept in memory, dropped the
moment Redis says they changed (server-assisted client-side caching)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from .redis.keys import TRACKED_PREFIXES

MISS = object()  # what a cache look-up returns when it has nothing


class TrackedCache:
    """Members and identities kept in the worker, dropped the moment Redis says they changed.

    Redis's server-assisted client-side caching: one connection subscribes to
    `__redis__:invalidate`, another turns on `CLIENT TRACKING ... REDIRECT <it> BCAST`
    for the `m:` and `idn:` prefixes, so any write to a member or an identity, from any
    process, invalidates it here. A read that an invalidation overtakes is not cached
    (the in-flight token is withdrawn). While either connection is down the cache is
    off and emptied: reads go to Redis, nothing stale is served. On a Redis Cluster each
    primary gets its own pair of connections (`urls`), and the cache is on only while
    every pair is up.
    """

    PREFIXES = TRACKED_PREFIXES  # members, identities, shared stock counts

    def __init__(self, urls, size: int = 200_000, timeout: float = 0.25):
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.size = size
        self.timeout = timeout
        self.entries: OrderedDict = OrderedDict()
        self.inflight: dict = {}
        self.up: set = set()  # the node URLs whose tracking is on
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self._tasks: list = []
        self._stopping = False

    @property
    def active(self) -> bool:
        return len(self.up) == len(self.urls)

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._run(url)) for url in self.urls]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 1.0)
        for url in self.urls:
            self._off(url)

    def _off(self, url: str) -> None:
        self.up.discard(url)
        self.entries.clear()
        self.inflight.clear()

    async def _run(self, url: str) -> None:
        import redis.asyncio as aioredis

        while not self._stopping:
            listener = tracker = None
            try:
                # RESP2: invalidations then arrive as pub/sub messages on __redis__:invalidate
                listener = aioredis.Redis.from_url(url, socket_connect_timeout=self.timeout, protocol=2)
                pubsub = listener.pubsub()
                connection = await listener.connection_pool.get_connection()
                pubsub.connection = connection
                await connection.send_command("CLIENT", "ID")
                client_id = await connection.read_response()
                await pubsub.subscribe("__redis__:invalidate")
                tracker = aioredis.Redis.from_url(
                    url, single_connection_client=True, socket_connect_timeout=self.timeout, socket_timeout=self.timeout
                )
                prefixes = [part for prefix in self.PREFIXES for part in ("PREFIX", prefix)]
                await tracker.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", *prefixes)
                self.entries.clear()
                self.up.add(url)
                watchdog = asyncio.ensure_future(self._watch(url, tracker))
                listening = asyncio.ensure_future(self._listen(pubsub))
                try:
                    await asyncio.wait({watchdog, listening}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (watchdog, listening):
                        task.cancel()
                    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                        await asyncio.wait_for(asyncio.gather(watchdog, listening, return_exceptions=True), 1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            finally:
                self._off(url)
                for client in (listener, tracker):
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.aclose()
            await asyncio.sleep(0.2)

    async def _listen(self, pubsub) -> None:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                self._invalidate(message.get("data"))

    async def _watch(self, url: str, tracker) -> None:
        """The tracking connection must stay up: tracking ends with it."""
        while True:
            await asyncio.sleep(0.5)
            try:
                await tracker.ping()
            except Exception:
                self._off(url)
                return

    def _invalidate(self, keys) -> None:
        self.invalidations += 1
        if keys is None:  # FLUSHALL / FLUSHDB
            self.entries.clear()
            self.inflight.clear()
            return
        for key in keys if isinstance(keys, list) else [keys]:
            key = key.decode() if isinstance(key, bytes) else key
            self.entries.pop(key, None)
            self.inflight.pop(key, None)

    def get(self, key: str):
        """The cached value, or MISS."""
        if not self.active:
            return MISS
        value = self.entries.get(key, MISS)
        if value is MISS:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def begin(self, key: str) -> object | None:
        if not self.active:
            return None
        token = object()
        self.inflight[key] = token
        return token

    def finish(self, key: str, token: object | None, value) -> None:
        if token is not None and self.active and self.inflight.get(key) is token:
            del self.inflight[key]
            self.entries[key] = value
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
