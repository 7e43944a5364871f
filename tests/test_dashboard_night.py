"""The night on the big screen through HTTP against a real Redis (one server and a Cluster):
GMV and orders as settled less refunded, the pickup leaders' ranking and the per-minute
buckets, written by the settlement and refund paths once per order."""

from __future__ import annotations

import pytest
from conftest import at, client_for, place_order
from serving import wait_until

from api.leaders import write_leaders
from api.store import MemberRecord, write_members
from engine.geo import Leader

GALA_21 = at("2026-11-11 21:00")
PEOPLES_SQUARE = {"lat": 31.2304, "lon": 121.4737}
LUJIAZUI = {"lat": 31.2397, "lon": 121.4998}
MILK = [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]
CHEESE = [{"sku": "MILK-1L", "qty": 1}]


@pytest.fixture
def api(redis_client, redis_server, tmp_path):
    write_members(
        redis_client,
        [
            MemberRecord(id="G1", tier="gold", points=1850),
            MemberRecord(id="G2", tier="gold", points=100),
            MemberRecord(id="G3", tier="silver", points=100),
        ],
    )
    write_leaders(
        redis_client,
        [
            Leader("L1", "人民广场 People's Square", 31.2310, 121.4740),
            Leader("L2", "陆家嘴 Lujiazui", 31.2397, 121.4998),
        ],
    )
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as client:
        service = client.app.state.service
        wait_until(lambda: service.leaders.by_id, message="the leader index, loaded in the background")
        yield client


def order(api, order_id, member_id, lines, location, fulfillment="pickup"):
    answer = place_order(api, order_id, member_id, lines, now=GALA_21, fulfillment=fulfillment, location=location)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refund(api, order_id, member_id):
    answer = api.post(
        f"/v1/orders/{order_id}/refund", json={"member_id": member_id}, headers={"X-Rights-Now": str(GALA_21 + 600)}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def screen(api) -> dict:
    return api.get("/dashboard/data?room=gala").json()


def test_settled_less_refunded_orders_add_up_on_the_screen(api):
    empty = screen(api)
    assert (empty["gmv_fen"], empty["orders"], empty["top_leaders"]) == (0, 0, [])
    assert empty["per_minute"] == {"minutes": [], "gmv_fen": [], "quotes": []}
    first = order(api, "O1", "G1", MILK, PEOPLES_SQUARE)  # L1
    second = order(api, "O2", "G2", CHEESE, PEOPLES_SQUARE)  # L1
    third = order(api, "O3", "G3", MILK, LUJIAZUI)  # L2
    delivered = order(api, "O4", "G1", CHEESE, None, fulfillment="delivery")  # no pickup: no leader counted
    assert first["leader_id"] == second["leader_id"] == "L1" and third["leader_id"] == "L2"
    everything = first["payable"] + second["payable"] + third["payable"] + delivered["payable"]
    assert everything > 0
    settled = screen(api)
    assert (settled["gmv_fen"], settled["orders"]) == (everything, 4)
    assert [(row["id"], row["orders"]) for row in settled["top_leaders"]] == [("L1", 2), ("L2", 1)]
    assert settled["top_leaders"][0]["name"] == "人民广场 People's Square"
    assert sum(settled["per_minute"]["gmv_fen"]) == everything

    refund(api, "O2", "G2")
    refund(api, "O2", "G2")  # a replay takes nothing twice
    order(api, "O1", "G1", MILK, PEOPLES_SQUARE)  # nor does an order's replay count twice
    after = screen(api)
    assert (after["gmv_fen"], after["orders"]) == (everything - second["payable"], 3)
    assert sorted((row["id"], row["orders"]) for row in after["top_leaders"]) == [("L1", 1), ("L2", 1)]
    per_minute = after["per_minute"]
    assert sum(per_minute["gmv_fen"]) == after["gmv_fen"]
    assert len(per_minute["minutes"]) == len(per_minute["gmv_fen"]) == len(per_minute["quotes"])
    assert per_minute["minutes"] == list(range(per_minute["minutes"][0], per_minute["minutes"][-1] + 1))


def test_quotes_are_counted_per_minute_on_the_screen(api):
    cart = {"member_id": "G1", "room": "gala", "lines": MILK}
    for _ in range(3):
        assert api.post("/v1/eligibility", json=cart, headers={"X-Rights-Now": str(GALA_21)}).status_code == 200
    data = wait_until(lambda: (d := screen(api))["quotes"] == 3 and d, message="the quotes flushed to Redis")
    assert sum(data["per_minute"]["quotes"]) == 3
    assert data["points_redeemed"] == 0


def test_the_screens_session_keys_are_bounded(api, redis_client):
    import time

    from api.redis.keys import (
        DASHBOARD_MINUTES,
        DASHBOARD_SESSION_SECONDS,
        dashboard_leaders_key,
        dashboard_minutes_key,
        dashboard_orders_key,
    )

    def seed_gaps() -> int:
        """A long session with gaps: buckets of minutes that saw no order or quote 360
        minutes later, more than the window holds, and one bucket inside the window."""
        now = int(time.time() // 60)
        stale = {f"{kind}:{now - DASHBOARD_MINUTES - 1 - k * 7}": 1 for kind in "gq" for k in range(DASHBOARD_MINUTES)}
        redis_client.delete(dashboard_minutes_key("gala"))
        redis_client.hset(dashboard_minutes_key("gala"), mapping={**stale, f"g:{now - 5}": 7})
        return now

    def left(now: int) -> dict:
        fields = {k.decode(): int(v) for k, v in redis_client.hgetall(dashboard_minutes_key("gala")).items()}
        assert fields[f"g:{now - 5}"] == 7  # inside the window: kept
        assert len(fields) <= 2 * DASHBOARD_MINUTES
        return fields

    now = seed_gaps()
    order(api, "O1", "G1", MILK, PEOPLES_SQUARE)
    assert all(int(name[2:]) > now - DASHBOARD_MINUTES - 1 for name in left(now))
    now = seed_gaps()
    cart = {"member_id": "G1", "room": "gala", "lines": MILK}
    assert api.post("/v1/eligibility", json=cart, headers={"X-Rights-Now": str(GALA_21)}).status_code == 200
    wait_until(
        lambda: redis_client.hlen(dashboard_minutes_key("gala")) <= 2 * DASHBOARD_MINUTES,
        message="the quote's flush trims the buckets past the window",
    )
    assert all(int(name[2:]) > now - DASHBOARD_MINUTES - 1 for name in left(now))
    for key in (dashboard_orders_key("gala"), dashboard_minutes_key("gala"), dashboard_leaders_key("gala")):
        assert 0 < redis_client.ttl(key) <= DASHBOARD_SESSION_SECONDS, key


def test_a_free_order_is_counted_and_refunded_too(api, redis_client):
    write_members(redis_client, [MemberRecord(id="BG1", tier="black_gold", points=100)])
    free = order(api, "O1", "BG1", [{"sku": "CHEESE-LTD", "qty": 1}], PEOPLES_SQUARE)
    assert free["payable"] == 0
    assert (screen(api)["gmv_fen"], screen(api)["orders"]) == (0, 1)
    refund(api, "O1", "BG1")
    after = screen(api)
    assert (after["gmv_fen"], after["orders"], after["top_leaders"]) == (0, 0, [])


def test_a_refunded_order_replayed_after_the_screens_record_expired_is_not_counted_again(api, redis_client):
    """The screen's record of counted orders lives two days; the order's own record longer.
    A replay of a refunded order, or of one settled before the screen's record may have
    gone, is answered as before and leaves the screen as it is."""
    from api.redis.keys import dashboard_orders_key

    first = order(api, "O7", "G1", MILK, PEOPLES_SQUARE)
    refund(api, "O7", "G1")
    redis_client.delete(dashboard_orders_key("gala"))  # as two quiet days would
    assert order(api, "O7", "G1", MILK, PEOPLES_SQUARE) == first
    assert (screen(api)["gmv_fen"], screen(api)["orders"]) == (0, 0)
