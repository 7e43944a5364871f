"""Shared fixtures: every engine test runs once per evaluator, compiled and reference."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine import evaluators
from engine.rules import load_file

ROOT = Path(__file__).resolve().parent.parent
from engine.demo import DEMO_RULES
CST = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> int:
    """Unix seconds of a wall-clock time in China Standard Time, e.g. '2026-11-11 21:00'."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=CST).timestamp())


@pytest.fixture(params=evaluators.NAMES)
def evaluator(request):
    return evaluators.get(request.param)


@pytest.fixture(scope="session")
def demo():
    return load_file(DEMO_RULES)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free loopback port, for the whole test session."""
    from api.redis_server import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()
