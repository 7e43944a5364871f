"""Round trips to Redis of a settlement and a redemption, counted at the client
(bench/round_trips.py): two each on one Redis server, whatever the order does (a stocked
coupon, a new neighbour bound, the room's screen, tier progression, a pickup code, the
brand chain), and a replay answered the same. On a Cluster the same requests take the
separate steps docs/ARCHITECTURE.md counts."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from conftest import app_settings, at

from api.leaders import write_leaders
from api.main import create_app
from api.redis.connect import sync_client
from api.redis.embedded import LocalCluster
from api.store import MemberRecord, write_members
from bench.round_trips import call, running
from engine.geo import Leader

GALA_21 = at("2026-11-11 21:00")
PEOPLES_SQUARE = {"lat": 31.2304, "lon": 121.4737}
# what the Cluster's path takes (docs/ARCHITECTURE.md): each step its own slot, its own call
CLUSTER_SETTLEMENT, CLUSTER_REDEMPTION = 7, 9


@pytest.fixture(autouse=True)
def pickup_secret(monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "test-pickup-secret")


def counted(redis_server, tmp_path) -> dict:
    """Round trips of a new neighbour's first order, its replay, and a redemption (and its
    replay), with the answers."""
    app = create_app(app_settings(redis_server, redis_timeout_ms=2000, data_dir=str(tmp_path)))
    now = {"X-Rights-Now": str(GALA_21)}

    async def scenario() -> dict:
        async with running(app):
            service = app.state.service
            version = service.table.version

            def order(order_id: str, member_id: str, **extra) -> bytes:
                lines = [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]
                body = {"order_id": order_id, "member_id": member_id, "room": "gala", "lines": lines}
                return orjson.dumps({**body, "fulfillment": "pickup", "rules_version": version, **extra})

            def redemption(key: str) -> tuple:
                body = orjson.dumps({"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"})
                return "POST", "/v1/redemptions", body, (*now.items(), ("Idempotency-Key", key))

            # a worker's first order loads its leaders, a script's first call loads it: not counted
            await call(app, "POST", "/v1/orders", order("W1", "WARM", location=PEOPLES_SQUARE), tuple(now.items()))
            await call(app, *redemption("warm"))
            out = {}
            body = order("O1", "NEW", location=PEOPLES_SQUARE)
            out["settle"] = await call(app, "POST", "/v1/orders", body, tuple(now.items()))
            out["settle_again"] = await call(app, "POST", "/v1/orders", body, tuple(now.items()))
            out["redeem"] = await call(app, *redemption("k1"))
            out["redeem_again"] = await call(app, *redemption("k1"))
            return out

    return asyncio.run(scenario())


def test_a_settlement_and_a_redemption_take_two_round_trips_on_one_server(redis_server, tmp_path):
    client = sync_client(redis_server.url)
    client.flushall()
    write_members(
        client,
        [
            MemberRecord(id="WARM", tier="gold", points=100),
            MemberRecord(id="NEW", tier="gold", points=100),
            MemberRecord(id="RICH", tier="gold", points=10_000, leader="L1"),
        ],
    )
    write_leaders(client, [Leader("L1", "人民广场 People's Square", 31.2310, 121.4740)])
    out = counted(redis_server, tmp_path)
    for name, (status, _, _) in out.items():
        assert status == 200, name
    settled = orjson.loads(out["settle"][1])
    assert (settled["leader_id"], settled["new_neighbour"]) == ("L1", True)
    assert orjson.loads(out["redeem"][1])["pickup_code"].startswith("P1~RICH~OATMEAL-LOWGI~L1~")
    assert out["settle_again"][1] == out["settle"][1] and out["redeem_again"][1] == out["redeem"][1]
    assert client.hget("m:{NEW}", "leader") == b"L1" and client.sismember("grp:{leader:L1}", "NEW")
    assert client.zcard("feed:{leader:L1}") == 2 and client.hlen("pick:{leader:L1}") == 2
    assert client.hget("chain:{ledger}:head", "n") == b"2"  # both redemptions linked into the brand chain
    trips = {name: trips for name, (_, _, trips) in out.items()}
    if not isinstance(redis_server, LocalCluster):  # one server
        assert trips["settle"] <= 2 and trips["redeem"] <= 2, trips
    else:
        assert (trips["settle"], trips["redeem"]) == (CLUSTER_SETTLEMENT, CLUSTER_REDEMPTION), trips


def test_a_stocked_coupon_is_taken_in_the_same_two_and_one_sold_out_is_quoted_away(redis_server, tmp_path):
    """The settlement's script takes each stocked coupon's unit itself: two round trips
    with the coupon; one sold out in Redis is quoted away (one try more on one server),
    and the order answers as a quote that read the count would have."""
    from api.redis.keys import COUPONS, stock_key

    client = sync_client(redis_server.url)
    client.flushall()
    write_members(client, [MemberRecord(id="BG1", tier="black_gold", points=100, leader="L1")])
    write_leaders(client, [Leader("L1", "人民广场 People's Square", 31.2310, 121.4740)])
    app = create_app(app_settings(redis_server, redis_timeout_ms=2000, data_dir=str(tmp_path)))
    now = (("X-Rights-Now", str(GALA_21)),)

    async def scenario() -> list:
        async with running(app):
            version = app.state.service.table.version

            def cheese(order_id: str) -> bytes:
                lines = [{"sku": "CHEESE-LTD", "qty": 1}]
                return orjson.dumps(
                    {"order_id": order_id, "member_id": "BG1", "room": "gala", "lines": lines, "rules_version": version}
                    | {"fulfillment": "pickup"}
                )

            await call(app, "POST", "/v1/orders", cheese("W1"), now)  # the worker's first order: its leaders
            client.delete(stock_key(COUPONS, "BG-CHEESE-ZERO"), "m:{BG1}")
            write_members(client, [MemberRecord(id="BG1", tier="black_gold", points=100, leader="L1")])
            first = await call(app, "POST", "/v1/orders", cheese("O1"), now)
            write_members(client, [MemberRecord(id="BG1", tier="black_gold", points=100, leader="L1")])
            client.set(stock_key(COUPONS, "BG-CHEESE-ZERO"), 0)
            second = await call(app, "POST", "/v1/orders", cheese("O2"), now)
            return [first, second]

    (status, body, trips), (status2, body2, trips2) = asyncio.run(scenario())
    assert status == status2 == 200
    assert "BG-CHEESE-ZERO" in orjson.loads(body)["coupons"]
    assert "BG-CHEESE-ZERO" not in orjson.loads(body2)["coupons"] and orjson.loads(body2)["payable"] > 0
    assert int(client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 0
    if not isinstance(redis_server, LocalCluster):
        assert (trips, trips2) == (2, 3)
