"""Round trips to Redis per request, counted at the client.

A round trip is one send of the client's connection and the wait for its answer: a
command, a script call or a whole pipeline. Redis's own counters cannot tell them apart
(INFO commandstats counts each command run inside a script as well, and every command of
a pipeline), so the client is counted instead: the app runs in this process on the same
Redis, each request is sent through it as ASGI, and every send of a redis-py asyncio
connection made on that request's behalf (its tasks inherit a context variable the
counter reads; the app's background loops do not) counts as one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any

from redis.asyncio.connection import AbstractConnection

_COUNTING: ContextVar[list[int] | None] = ContextVar("round_trips", default=None)


@contextlib.contextmanager
def counting_sends():
    """While inside, every asyncio redis-py send counts on the request that made it."""
    original = AbstractConnection.send_packed_command

    async def send(self, command, check_health=True):
        counter = _COUNTING.get()
        if counter is not None:
            counter[0] += 1
        return await original(self, command, check_health)

    AbstractConnection.send_packed_command = send
    try:
        yield
    finally:
        AbstractConnection.send_packed_command = original


async def call(app: Any, method: str, path: str, body: bytes = b"", headers: tuple = ()) -> tuple[int, bytes, int]:
    """(status, body, round trips) of one request sent to `app` as ASGI."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *[(k.lower().encode(), v.encode()) for k, v in headers],
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages: list = []
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request runs
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    counter = [0]
    token = _COUNTING.set(counter)
    try:
        await app(scope, receive, send)
    finally:
        _COUNTING.reset(token)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"), counter[0]


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """The app with its lifespan run (its Redis pool, its rules), counting sends."""
    with counting_sends():
        async with app.router.lifespan_context(app):
            yield app


async def per_request(app: Any, make: Callable[[int], tuple], n: int, warm: int = 3) -> float:
    """Mean round trips of `n` requests made by `make(k)` -> (method, path, body, headers),
    after `warm` requests (a worker's first ones load its leaders and its scripts)."""
    for k in range(warm):
        await call(app, *make(-1 - k))
    total = 0
    for k in range(n):
        status, answer, trips = await call(app, *make(k))
        if status != 200:
            raise AssertionError(f"{make(k)[1]}: {status} {answer[:300]!r}")
        total += trips
    return total / n
