"""Every key family that grows has a bound, and /readyz tells the truth about writes:
against a real redis-server (and a local Redis Cluster), shadow samples stay small
however the bodies are padded, event ids, pick lists, feeds, orders, rule versions and
worker records are pruned or expire, and a Redis that refuses writes is not ready."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from conftest import at, client_for
from serving import wait_until

from api.redis.connect import async_client, sync_client
from api.store import MemberRecord, write_members

GALA_21 = at("2026-11-11 21:00")
HEADERS = {"X-Rights-Now": str(GALA_21)}
TOKEN = "bounded-admin-token-0123"


@pytest.fixture
def api(redis_client, redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=5000)])
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as client:
        yield client


def nodes(redis_server) -> list:
    """A plain client on every node (one for a single server)."""
    servers = getattr(redis_server, "nodes", [redis_server])
    return [sync_client(node.url) for node in servers]


def used_memory(redis_server) -> int:
    return sum(int(node.info("memory")["used_memory"]) for node in nodes(redis_server))


@pytest.mark.slow  # 300 quotes of 60 KB
def test_padded_quotes_are_sampled_as_what_was_parsed(api, redis_server, redis_client):
    from api.redis.keys import RULES_SAMPLE, RULES_SAMPLE_BYTES
    from api.rules_store import SAMPLE_BUDGET

    cart = {"member_id": "G1", "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 2}]}
    padded = orjson.dumps(cart)[:-1] + b" " * 60_000 + b"}"
    assert api.post("/v1/eligibility", content=padded, headers=HEADERS).status_code == 200
    wait_until(lambda: redis_client.xlen(RULES_SAMPLE) >= 1, message="the first sample (flushed each second)")
    before = used_memory(redis_server)
    for _ in range(300):
        assert api.post("/v1/eligibility", content=padded, headers=HEADERS).status_code == 200
    deadline = time.monotonic() + 10
    while redis_client.xlen(RULES_SAMPLE) < 250 and time.monotonic() < deadline:
        time.sleep(0.2)
    grown = used_memory(redis_server) - before
    assert grown < 5 * 1024 * 1024, grown
    newest = redis_client.xrevrange(RULES_SAMPLE, count=1)[0][1]
    assert orjson.loads(newest[b"b"]) == {**cart, "fulfillment": "delivery"} and b" " not in newest[b"b"]
    assert int(redis_client.get(RULES_SAMPLE_BYTES)) <= SAMPLE_BUDGET


def test_the_sample_stream_is_capped_by_bytes(redis_server, redis_client, monkeypatch):
    from api import rules_store
    from api.redis.keys import RULES_SAMPLE, RULES_SAMPLE_BYTES

    monkeypatch.setattr(rules_store, "SAMPLE_BUDGET", 50_000)
    body = orjson.dumps({"lines": [{"sku": "S" * 64, "qty": 1}] * 200})  # the largest cart a quote parses

    async def flush_many():
        client = async_client(redis_server.url)
        try:
            for _ in range(20):
                await rules_store.add_samples(client, [(body, GALA_21)] * 10)
        finally:
            await client.aclose()

    asyncio.run(flush_many())
    stored = sum(len(fields[b"b"]) for _, fields in redis_client.xrange(RULES_SAMPLE))
    assert 0 < stored <= 50_000 and redis_client.xlen(RULES_SAMPLE) == stored // len(body)
    assert int(redis_client.get(RULES_SAMPLE_BYTES)) <= 50_000


def test_readyz_is_503_while_redis_refuses_writes(api, redis_server):
    assert api.get("/readyz").status_code == 200
    first = nodes(redis_server)[0]
    first.config_set("maxmemory", "1")  # every write is now refused with OOM, while PING still answers
    try:
        assert first.ping()
        refused = api.get("/readyz")
        assert refused.status_code == 503
        assert refused.json()["ready"] is False and "OutOfMemoryError" in refused.json()["reason"]
    finally:
        first.config_set("maxmemory", "0")
    assert api.get("/readyz").json() == {
        "ready": True,
        "redis": True,
        "rules_version": api.app.state.service.table.version,
        "reason": None,
    }


def test_event_ids_are_remembered_for_their_replay_window(redis_server, redis_client):
    from api.ledger import EVENT_REPLAY_DAYS, credit_event
    from api.redis.keys import events_index_key, events_key
    from api.redis.scripts import Scripts

    write_members(redis_client, [MemberRecord(id="E1", tier="gold")])
    day = 86400
    wall = 1_900_000_000

    async def credit(event_id: str, wall_now: float):
        client = async_client(redis_server.url)
        try:
            answer = await credit_event(
                Scripts(client),
                "E1",
                now=GALA_21,
                event_id=event_id,
                reason="event:share",
                points=5,
                expires=0,
                note="-",
                session_field="",
                session_cap=None,
                day_field="",
                day_cap=None,
                wall_now=wall_now,
            )
            return answer[0].decode()
        finally:
            await client.aclose()

    assert asyncio.run(credit("old", wall)) == "ok"
    assert asyncio.run(credit("old", wall + (EVENT_REPLAY_DAYS - 1) * day)) == "replay"  # inside the window
    assert asyncio.run(credit("new", wall + EVENT_REPLAY_DAYS * day + 1)) == "ok"  # prunes "old"
    assert (
        set(redis_client.hkeys(events_key("E1"))) == set(redis_client.zrange(events_index_key("E1"), 0, -1)) == {b"new"}
    )


def test_a_leaders_feed_keeps_its_newest_entries(redis_server, redis_client):
    from api.leaders import FEED_KEEP
    from api.redis.keys import feed_key

    key = feed_key("L1")
    redis_client.zadd(key, {f"new_neighbour|M{k}|O{k}": k for k in range(FEED_KEEP)})
    from api.leaders import write_leaders
    from engine.geo import Leader

    write_leaders(redis_client, [Leader("L1", "one", 31.23, 121.47)])
    write_members(redis_client, [MemberRecord(id="NEW", tier="gold")])
    with client_for(redis_server) as api:
        version = api.app.state.service.table.version
        settled = api.post(
            "/v1/orders",
            json={
                "order_id": "O-new",
                "member_id": "NEW",
                "room": "gala",
                "lines": [{"sku": "MILK-1L", "qty": 1}],
                "rules_version": version,
                "location": {"lat": 31.23, "lon": 121.47},
            },
            headers=HEADERS,
        )
        assert settled.json()["new_neighbour"] is True
    assert redis_client.zcard(key) == FEED_KEEP
    assert redis_client.zscore(key, "new_neighbour|NEW|O-new") is not None  # the newest stays
    assert redis_client.zscore(key, "new_neighbour|M0|O0") is None  # the oldest went


def test_an_order_record_expires_after_its_retention(api, redis_client):
    from api.orders import ORDER_RETENTION_DAYS
    from api.redis.keys import order_key

    version = api.app.state.service.table.version
    assert (
        api.post(
            "/v1/orders",
            json={
                "order_id": "O1",
                "member_id": "G1",
                "lines": [{"sku": "MILK-1L", "qty": 1}],
                "rules_version": version,
            },
            headers=HEADERS,
        ).status_code
        == 200
    )
    ttl = redis_client.ttl(order_key("G1", "O1"))
    assert ORDER_RETENTION_DAYS * 86400 - 60 < ttl <= ORDER_RETENTION_DAYS * 86400


def test_rule_versions_past_the_newest_fifty_are_forgotten(api, redis_client):
    from api.redis.keys import rules_source_key
    from api.rules_store import KEEP_VERSIONS
    from engine.demo import DEMO_RULES

    demo = DEMO_RULES.read_text()
    admin = {"Authorization": f"Bearer {TOKEN}"}
    pushed = []
    for k in range(KEEP_VERSIONS + 2):
        text = demo.replace("price: 1590\n", f"price: {1590 + k}\n", 1)
        response = api.post(
            "/v1/rules", content=text.encode(), params={"author": "ops", "label": f"v{k}"}, headers=admin
        )
        assert response.status_code == 201, response.text
        pushed.append(response.json()["version"])
    history = api.get("/v1/rules", headers=admin).json()["history"]
    assert history == pushed[::-1][:KEEP_VERSIONS]
    assert not redis_client.exists(rules_source_key(pushed[0]))
    assert api.get(f"/v1/rules/{pushed[0]}", headers=admin).status_code == 404
    assert api.get(f"/v1/rules/{pushed[-1]}", headers=admin).status_code == 200


def test_silent_workers_are_forgotten(redis_server, redis_client):
    """A worker silent for an hour leaves its field; its counts join the one retired field."""
    from api.metrics import FORGET_METRICS_AFTER, forget_silent_workers
    from api.redis.keys import METRICS_KEY
    from api.redis.scripts import Scripts

    redis_client.hset(
        METRICS_KEY,
        mapping={
            "gone:1": orjson.dumps({"at": time.time() - FORGET_METRICS_AFTER - 1}),
            "alive:2": orjson.dumps({"at": time.time()}),
        },
    )

    async def forget():
        client = async_client(redis_server.url)
        try:
            return await forget_silent_workers(client, Scripts(client))
        finally:
            await client.aclose()

    assert asyncio.run(forget()) == 1
    assert sorted(redis_client.hkeys(METRICS_KEY)) == [b"alive:2", b"retired"]
