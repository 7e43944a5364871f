"""Shared fixtures: every engine test runs once per evaluator, compiled and reference; a real
Redis (one server, then a local Cluster) for the API tests; `serve` for a real `rights serve`;
`client_for` for an in-process app on that Redis, and `place_order` to post an order to it."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from serving import Server

from engine import evaluators
from engine.demo import DEMO_RULES
from engine.rules.load import load_file

ROOT = Path(__file__).resolve().parent.parent
CST = dt.timezone(dt.timedelta(hours=8))
# the evaluator this run asked for: what the CLI and the server must say they use
CONFIGURED_EVALUATOR = os.environ.get("RIGHTS_EVALUATOR") or "compiled"


def at(text: str) -> int:
    """Unix seconds of a wall-clock time in China Standard Time, e.g. '2026-11-11 21:00'."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=CST).timestamp())


def pytest_configure(config):
    # as in pyproject.toml, for runs that do not read it (make test-debug's copy of the tests)
    config.addinivalue_line("markers", "slow: seconds or more each; make test-fast skips them")


@pytest.fixture(params=evaluators.NAMES)
def evaluator(request):
    return evaluators.get(request.param)


@pytest.fixture(scope="session")
def demo():
    return load_file(DEMO_RULES)


def _redis_kinds() -> list:
    """`RIGHTS_TEST_REDIS`: `single`, `cluster`, or both (the default). The Cluster runs are
    marked slow: three masters to start, and every test's keys spread over them."""
    chosen = os.environ.get("RIGHTS_TEST_REDIS", "both")
    kinds = ["single", "cluster"] if chosen == "both" else [chosen]
    return [pytest.param(kind, marks=pytest.mark.slow) if kind == "cluster" else kind for kind in kinds]


@pytest.fixture(scope="session", params=_redis_kinds())
def redis_server(request, tmp_path_factory):
    """A real Redis on free loopback ports for the whole session: one redis-server, then a
    local three-master Redis Cluster: every test that uses Redis runs against both."""
    from api.redis.embedded import EmbeddedRedis, LocalCluster

    if request.param == "single":
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    else:
        server = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield server
    server.stop()


def in_a_worker(redis_server, scenario, **settings):
    """Run `scenario(service)` (a coroutine function) against one worker's Service on
    `redis_server`, started before and stopped after, in a fresh event loop."""
    import asyncio

    from api.service import Service
    from api.settings import Settings

    async def main():
        service = Service(Settings(redis_url=redis_server.url, access_log=False, member_cache=False, **settings))
        await service.start()
        try:
            return await scenario(service)
        finally:
            await service.stop()

    return asyncio.run(main())


def app_settings(redis_server, **overrides):
    """Settings for an in-process app on `redis_server`: no access log, and the clock set by
    each request's X-Rights-Now; `overrides` set any other field, or these."""
    from api.settings import Settings

    return Settings(**{"redis_url": redis_server.url, "access_log": False, "allow_clock_override": True, **overrides})


def client_for(redis_server, **overrides):
    """A TestClient of an app built with `app_settings(redis_server, **overrides)`; use it
    in a `with` block, which runs the app's lifespan (its Redis pool, its rules)."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    return TestClient(create_app(app_settings(redis_server, **overrides)))


def place_order(api, order_id, member_id, lines, *, now: int, fulfillment: str, **extra):
    """POST /v1/orders in the gala room at `now` (X-Rights-Now), against the rules the app
    has loaded unless `extra` names a `rules_version`; `extra` adds or replaces body fields."""
    body = {
        "order_id": order_id,
        "member_id": member_id,
        "room": "gala",
        "lines": lines,
        "fulfillment": fulfillment,
        "rules_version": api.app.state.service.table.version,
        **extra,
    }
    return api.post("/v1/orders", json=body, headers={"X-Rights-Now": str(now)})


def coupon(result, coupon_id):
    """One coupon of a quote's answer, applied or not, with `applied` saying which."""
    for entry in result["coupons_applied"]:
        if entry["id"] == coupon_id:
            return {"applied": True, **entry}
    for entry in result["coupons_not_applied"]:
        if entry["id"] == coupon_id:
            return {"applied": False, **entry}
    raise AssertionError(f"{coupon_id} is not among the quote's coupons")


def redemption(result, item_id):
    """One redemption item of a quote's answer."""
    return next(r for r in result["redemptions"] if r["id"] == item_id)


@pytest.fixture
def redis_client(redis_server):
    from api.redis.connect import sync_client

    client = sync_client(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def serve(tmp_path):
    """`serve(*args, workers=1, env=None, data_dir=None, port=None, ready=True)`: a `rights serve`
    process (serving.Server) of this checkout, ready unless `ready=False`; every one is stopped
    after the test, with all it started (HTTP server, workers, redis-server)."""
    started: list = []

    def start(
        *args: str,
        workers: int = 1,
        env: dict | None = None,
        data_dir: Path | None = None,
        port: int | None = None,
        ready: bool = True,
    ) -> Server:
        server = Server(tmp_path, *args, workers=workers, data_dir=data_dir, env=env, port=port)
        started.append(server)
        return server.ready() if ready else server

    yield start
    for server in reversed(started):  # the last one first: a successor stops its Redis before its predecessor
        server.close()


@pytest.fixture(scope="session", autouse=True)
def _rules_polled_often():
    """In-process workers (TestClient apps, `in_a_worker`) poll the rules every 0.1 s rather
    than every second: a worker's stop waits for its rules watcher's current poll, which
    would add up to a second to every such test's teardown. Servers started as processes
    keep the shipped interval."""
    from api import rules_sync

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules_sync, "POLL_SECONDS", 0.1)
        yield
