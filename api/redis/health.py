"""Whether Redis answers, measured where a busy event loop cannot blur it.

A timer on the event loop fires late when the loop is busy, so a request's Redis call
can look slow while Redis answered long ago and the answer waits in the socket for the
loop to come round. A 503 must mean Redis trouble, never that queue. So each worker
keeps a thread that PINGs every Redis primary every INTERVAL seconds over its own
blocking connections (on a Cluster through a cluster client, which follows a failover to
the new primaries), with the Redis timeout: Redis is answering while the latest round
of PINGs came back within the timeout. A request's call that outlasts the timeout fails
with 503 only when this says Redis is not answering; otherwise the worker is merely busy
and the call goes on waiting (up to a patience limit, past which the answer is 503
`overloaded`).
"""

from __future__ import annotations

import contextlib
import threading

import redis
from redis.cluster import RedisCluster

INTERVAL = 0.05  # seconds between rounds of PINGs


class RedisHealth:
    def __init__(self, url: str, cluster: bool, timeout: float):
        self.url = url
        self.cluster = cluster
        self.timeout = timeout
        self._answering = True  # optimistic until the first round says otherwise
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def answering(self) -> bool:
        """The latest round of PINGs came back. A round Redis does not answer ends in the
        socket's own timeout (the kernel's clock, not a busy thread's), so a silent Redis
        is seen within the timeout; a thread that merely waits its turn for the GIL keeps
        the last verdict rather than inventing an outage."""
        return self._answering

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="redis-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)

    def _run(self) -> None:
        client = None
        while not self._stop.wait(INTERVAL):
            try:
                if client is None:
                    client = self._client()
                if self.cluster:
                    client.ping(target_nodes=RedisCluster.PRIMARIES)
                else:
                    client.ping()
                self._answering = True
            except Exception:
                self._answering = False
                if self.cluster and client is not None:  # a fresh client finds the primaries anew
                    with contextlib.suppress(Exception):
                        client.close()
                    client = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _client(self):
        options = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout}
        if self.cluster:
            return RedisCluster.from_url(self.url, **options)
        return redis.Redis.from_url(self.url, **options)
