"""Settling and refunding orders through HTTP against a real redis-server: points once,
coupon use and stock counted, the pickup leader found by location, refunds once."""

from __future__ import annotations

import pytest
from conftest import at, client_for, place_order
from serving import wait_until

from api.leaders import write_leaders
from api.redis.keys import COUPONS, stock_key
from api.store import MemberRecord, read_member, write_members
from engine.geo import Leader, LeaderIndex
from rights.cli import main

GALA_21 = at("2026-11-11 21:00")
PEOPLES_SQUARE = {"lat": 31.2304, "lon": 121.4737}
LEADERS = [
    Leader("L1", "人民广场 People's Square", 31.2310, 121.4740),
    Leader("L2", "陆家嘴 Lujiazui", 31.2397, 121.4998),
    Leader("L3", "closed", 31.2305, 121.4738, active=False),
]


@pytest.fixture
def api(redis_client, redis_server, tmp_path):
    write_members(
        redis_client,
        [
            MemberRecord(id="G1", tier="gold", points=1850),
            MemberRecord(id="BG1", tier="black_gold", points=100, leader="L2"),
            MemberRecord(id="ICE", tier="gold", points=100, frozen=True),
        ],
    )
    write_leaders(redis_client, LEADERS)
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as client:
        service = client.app.state.service
        wait_until(lambda: service.leaders.by_id, message="the leader index, loaded in the background")
        yield client


def quote(api, member_id, lines, fulfillment="pickup"):
    body = {"member_id": member_id, "room": "gala", "lines": lines, "fulfillment": fulfillment}
    return api.post("/v1/eligibility", json=body, headers={"X-Rights-Now": str(GALA_21)}).json()


def order(api, order_id, member_id, lines, **extra):
    return place_order(api, order_id, member_id, lines, now=GALA_21, fulfillment="pickup", **extra)


def refund(api, order_id, member_id, now=GALA_21 + 3600):
    return api.post(f"/v1/orders/{order_id}/refund", json={"member_id": member_id}, headers={"X-Rights-Now": str(now)})


MILK = [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]


def test_an_order_credits_what_the_quote_promised_and_binds_the_nearest_leader(api, redis_client):
    promised = quote(api, "G1", MILK)
    response = order(api, "O1", "G1", MILK, location=PEOPLES_SQUARE)
    assert response.status_code == 200
    body = response.json()
    assert body["payable"] == promised["totals"]["payable"]
    assert body["points"] == promised["points"]["total"] > 0
    assert body["balance"] == 1850 + body["points"]
    assert (body["leader_id"], body["new_neighbour"]) == ("L1", True)  # L3 is nearer but closed
    assert read_member(redis_client, "G1").leader == "L1"
    feed = api.get("/v1/leaders/L1/feed").json()
    assert feed["entries"] == [{"kind": "new_neighbour", "member_id": "G1", "order_id": "O1", "at": GALA_21}]
    # the member's own leader from now on, wherever they are
    again = order(api, "O2", "G1", MILK, location={"lat": 31.2397, "lon": 121.4998}).json()
    assert (again["leader_id"], again["new_neighbour"]) == ("L1", False)


def test_replaying_an_order_id_returns_the_first_answer_and_changes_nothing(api):
    first = order(api, "O1", "G1", MILK)
    again = order(api, "O1", "G1", MILK)
    assert first.content == again.content
    ledger = api.get("/v1/members/G1/ledger", headers={"X-Rights-Now": str(GALA_21)}).json()
    assert [e["reason"] for e in ledger["entries"]] == ["order", "opening"]
    other = order(api, "O1", "G1", [{"sku": "MILK-1L", "qty": 1}])
    assert other.status_code == 422 and other.json()["error"]["code"] == "order_id_reused"


def test_an_order_quoted_under_other_rules_is_refused_and_can_be_retried(api):
    stale = order(api, "O1", "G1", MILK, rules_version="dairy-gala@000000000000")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "rules_changed"
    assert order(api, "O1", "G1", MILK).status_code == 200  # nothing was kept of the refused attempt


def test_an_ineligible_line_is_refused(api):
    refused = order(api, "O1", "G1", [{"sku": "CHEESE-LTD", "qty": 1}])
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "line_not_eligible",
        "field": "lines[0]",
        "reason": "CHEESE-LTD: tier_too_low",
    }


def test_coupon_use_and_stock_are_counted_and_a_refund_gives_them_back(api, redis_client):
    cheese = [{"sku": "CHEESE-LTD", "qty": 1}]
    first = order(api, "O1", "BG1", cheese).json()
    assert "BG-CHEESE-ZERO" in first["coupons"] and first["leader_id"] == "L2"
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 199
    second = order(api, "O2", "BG1", cheese).json()  # the zero-price cheese is once per member
    assert "BG-CHEESE-ZERO" not in second["coupons"] and second["payable"] > 0
    refunded = refund(api, "O1", "BG1")
    assert refunded.status_code == 200
    assert refunded.json()["coupons_restored"] == first["coupons"]
    assert refunded.json()["points_reversed"] == first["points"]
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 200
    assert refund(api, "O1", "BG1").content == refunded.content  # once
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 200
    third = order(api, "O3", "BG1", cheese).json()
    assert "BG-CHEESE-ZERO" in third["coupons"]


def test_a_refund_cut_short_after_the_members_script_is_completed_by_its_replay(api, redis_client, redis_server):
    """A refund whose request ends (a 503, a dead worker) after the member's script ran has
    given back points but not yet the coupon's unit: sending it again gives the unit back,
    once, however often it is sent."""
    from conftest import in_a_worker

    from api import orders as order_steps

    cheese = [{"sku": "CHEESE-LTD", "qty": 1}]
    settled = order(api, "O9", "BG1", cheese).json()
    assert "BG-CHEESE-ZERO" in settled["coupons"]
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 199

    async def only_the_members_script(service):
        return await order_steps.refund(service.scripts, "BG1", "O9", GALA_21 + 3600)

    assert in_a_worker(redis_server, only_the_members_script)[0] == "ok"
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 199  # the request ended there
    completed = refund(api, "O9", "BG1")
    assert completed.status_code == 200 and completed.json()["coupons_restored"] == ["BG-CHEESE-ZERO"]
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 200
    for _ in range(2):
        assert refund(api, "O9", "BG1").content == completed.content
    assert int(redis_client.get(stock_key(COUPONS, "BG-CHEESE-ZERO"))) == 200


def test_a_coupon_sold_out_in_redis_is_quoted_away(api, redis_client):
    redis_client.set(stock_key(COUPONS, "BG-CHEESE-ZERO"), 0)
    settled = order(api, "O1", "BG1", [{"sku": "CHEESE-LTD", "qty": 1}]).json()
    assert "BG-CHEESE-ZERO" not in settled["coupons"] and settled["payable"] > 0


def test_a_refund_cannot_take_back_points_already_spent(api):
    settled = order(api, "O1", "G1", MILK).json()
    for key, item in (("r1", "OATMEAL-LOWGI"), ("r2", "OLIVE-OIL")):  # 2,800 of 1,850 + what the order earned
        spend = api.post(
            "/v1/redemptions",
            json={"member_id": "G1", "redemption_id": item},
            headers={"Idempotency-Key": key, "X-Rights-Now": str(GALA_21)},
        )
        assert spend.status_code == 200
    left = spend.json()["balance"]
    assert left < settled["points"]
    refunded = refund(api, "O1", "G1").json()
    assert refunded["points_reversed"] == left
    assert refunded["points_not_recovered"] == settled["points"] - left
    assert refunded["balance"] == 0


@pytest.mark.parametrize("member_id, status, code", [("NOBODY", 404, "unknown_member"), ("ICE", 403, "member_frozen")])
def test_orders_of_unknown_or_frozen_members_are_refused(api, member_id, status, code):
    response = order(api, "O1", member_id, MILK)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_refunding_an_unknown_order(api):
    assert refund(api, "NOPE", "G1").status_code == 404


def test_leaders_import_reports_bad_rows_by_line(tmp_path, redis_server, redis_client, capsys):
    path = tmp_path / "leaders.csv"
    path.write_text(
        "id,name,lat,lon,active\nL1,One,31.23,121.47,1\nL2,Two,95,121.4,1\nL3,Three,31.2,121.5,no\n", encoding="utf-8"
    )
    assert main(["leaders", "import", str(path), "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: lat: a number from -90 to 90" in err
    assert "imported 2 leaders (1 active), refused 1 row" in err
    assert set(redis_client.hkeys("leaders:{leaders}")) == {b"L1", b"L3"}


def test_checkout_shows_what_the_order_will_charge_when_a_coupon_runs_out(api, redis_client):
    """The quote reads a stocked coupon's count from Redis: sold out there, checkout no
    longer shows it, and the order charges what checkout showed."""
    cheese = [{"sku": "CHEESE-LTD", "qty": 1}]
    applied = [c["id"] for c in quote(api, "BG1", cheese)["coupons_applied"]]
    assert "BG-CHEESE-ZERO" in applied
    redis_client.set(stock_key(COUPONS, "BG-CHEESE-ZERO"), 0)

    def without_the_coupon():  # once Redis has invalidated the worker's cached count
        shown = quote(api, "BG1", cheese)
        return "BG-CHEESE-ZERO" not in [c["id"] for c in shown["coupons_applied"]] and shown

    shown = wait_until(without_the_coupon, message="the sold-out coupon gone from checkout")
    reasons = {c["id"]: c["reason"] for c in shown["coupons_not_applied"]}
    assert reasons["BG-CHEESE-ZERO"] == "out_of_stock"
    settled = order(api, "O1", "BG1", cheese).json()
    assert settled["payable"] == shown["totals"]["payable"]


def test_a_workers_first_order_keeps_the_members_own_leader(redis_client, redis_server, tmp_path, monkeypatch):
    """Right after start, before the background load of the leaders, an order must not
    take a member's own leader for unknown and bind it to another."""
    import api.leaders

    monkeypatch.setattr(api.leaders, "RELOAD_EVERY_SECONDS", 3600.0)  # no background reload during the test
    write_members(redis_client, [MemberRecord(id="BG1", tier="black_gold", points=100, leader="L2")])
    write_leaders(redis_client, LEADERS)
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as client:
        book = client.app.state.service.leaders
        wait_until(lambda: book.loaded, message="the background load at start (then none for an hour)")
        book.by_id, book.index, book.loaded = {}, LeaderIndex([]), False  # as if it had not run yet
        settled = order(client, "O1", "BG1", MILK, location=PEOPLES_SQUARE).json()
    assert (settled["leader_id"], settled["new_neighbour"]) == ("L2", False)
