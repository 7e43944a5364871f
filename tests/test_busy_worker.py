"""A 503 means Redis trouble, nothing else: against a real redis-server, a worker whose
event loop is too busy to read Redis's answer in time still answers; Redis that really
does not answer is a 503 `redis_unavailable` at once; a worker busy past its patience,
or with too many requests in flight, says `overloaded` with Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import client_for, in_a_worker

import api.middleware as app_module
from api.errors import Overloaded, RedisUnavailable
from api.redis.connect import sync_client


def busy(seconds: float) -> None:
    """Hold the event loop (and mostly the GIL) with work, as a burst of requests would."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        sum(range(1000))


def run(redis_server, scenario):
    return in_a_worker(redis_server, scenario, redis_timeout_ms=100)


async def crowd(seconds: float) -> None:
    """Many requests' worth of work sharing the loop: each turn takes a while to come round."""

    async def one(until: float) -> None:
        while time.perf_counter() < until:
            busy(0.002)
            await asyncio.sleep(0)

    until = time.perf_counter() + seconds
    await asyncio.gather(*[one(until) for _ in range(100)])


def test_a_busy_loop_is_not_a_redis_fault(redis_client, redis_server):
    """A burst on a fresh worker: 100 calls open their connections while 100 other tasks
    keep the loop busy (each turn of the loop takes twice the Redis timeout). Redis
    answers at once; every call gets its answer, none a 503."""

    async def scenario(service):
        load = asyncio.ensure_future(crowd(0.8))
        await asyncio.sleep(0)
        calls = [service.redis_call(service.redis.ping()) for _ in range(100)]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        await load
        return answers

    answers = run(redis_server, scenario)
    assert answers == [True] * 100, {type(a).__name__ for a in answers}


def test_redis_that_does_not_answer_is_a_503_at_once(redis_client, redis_server):
    nodes = getattr(redis_server, "nodes", [redis_server])
    pauser = sync_client(nodes[0].url)

    async def scenario(service):
        pauser.client_pause(2000, all=True)  # Redis serves no command for 2 s, as if stuck
        try:
            await asyncio.sleep(0.4)  # the health thread's PING goes unanswered
            with pytest.raises(RedisUnavailable, match="does not answer"):  # not the PING's late True
                await service.redis_call(service.redis.ping())
        finally:
            pauser.client_unpause()

    run(redis_server, scenario)


def test_a_call_outlasting_the_patience_while_redis_answers_is_overloaded(redis_client, redis_server):
    async def scenario(service):
        service.patience = 0.3
        with pytest.raises(Overloaded):
            await service.redis_call(asyncio.Event().wait())  # never answered, while PINGs are

    run(redis_server, scenario)


def test_too_many_requests_in_flight_get_503_overloaded_with_retry_after(redis_client, redis_server, monkeypatch):
    monkeypatch.setattr(app_module, "MAX_IN_FLIGHT", 0)
    with client_for(redis_server, allow_clock_override=False) as api:
        refused = api.post("/v1/eligibility", json={"lines": [{"sku": "MILK-1L", "qty": 1}]})
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "overloaded")
        assert refused.headers["Retry-After"] == "1" and "not Redis" in refused.json()["error"]["reason"]
        assert api.get("/readyz").status_code == 200 and api.get("/healthz").status_code == 200
