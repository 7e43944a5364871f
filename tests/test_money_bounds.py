"""Money at and past its limits, and refunds of points already spent, through HTTP against
a real redis-server: an order too large is refused up front and the member is still
served; a refund's unrecovered points become a debt the next credits pay (or are let go,
by the rules' choice); every bad input is a 4xx naming the field."""

from __future__ import annotations

import pytest
import yaml
from conftest import at, client_for, place_order

from api.store import MemberRecord, write_members
from engine.demo import DEMO_RULES
from engine.model import MAX_POINTS

GALA_21 = at("2026-11-11 21:00")
HEADERS = {"X-Rights-Now": str(GALA_21)}


def start(redis_server, tmp_path, rules=None, **settings):
    if rules is not None:
        settings["rules"] = str(rules)
    return client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path), **settings)


@pytest.fixture
def api(redis_client, redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "money-bounds-secret")
    write_members(
        redis_client,
        [
            MemberRecord(id="G1", tier="gold", points=1850),
            MemberRecord(id="NEAR-MAX", tier="gold", points=MAX_POINTS - 100),
            MemberRecord(id="SPENDER", tier="gold", points=0),
        ],
    )
    with start(redis_server, tmp_path) as client:
        yield client


def order(api, order_id, member_id, lines, **extra):
    return place_order(api, order_id, member_id, lines, now=GALA_21, fulfillment="delivery", **extra)


def error_of(response):
    return response.status_code, response.json()["error"]["code"], response.json()["error"]["field"]


def test_an_order_past_the_largest_amount_is_refused_and_the_member_is_still_served(api):
    huge = [{"sku": "POWDER-900", "qty": 9999}] * 200
    refused = order(api, "HUGE", "G1", huge)
    assert error_of(refused) == (422, "order_over_limit", "lines")
    assert "100,000,000.00 yuan" in refused.json()["error"]["reason"]
    ledger = api.get("/v1/members/G1/ledger", headers=HEADERS).json()
    assert ledger["balance"] == 1850  # nothing credited
    quote = api.post(
        "/v1/eligibility",
        json={"member_id": "G1", "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]},
        headers=HEADERS,
    )
    assert quote.status_code == 200
    assert order(api, "SMALL", "G1", [{"sku": "MILK-1L", "qty": 1}]).status_code == 200
    redeemed = api.post(
        "/v1/redemptions",
        json={"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"},
        headers={**HEADERS, "Idempotency-Key": "after-huge"},
    )
    assert redeemed.status_code == 200


def test_a_balance_may_reach_the_largest_and_a_credit_past_it_is_refused(api):
    invite = {"member_id": "NEAR-MAX", "type": "invite_order"}
    at_limit = api.post("/v1/events", json={**invite, "event_id": "inv-1"}, headers=HEADERS)
    assert (at_limit.status_code, at_limit.json()["balance"]) == (200, MAX_POINTS)
    past = api.post("/v1/events", json={**invite, "event_id": "inv-2"}, headers=HEADERS)
    assert error_of(past) == (422, "points_over_limit", "member_id")
    refused = order(api, "O1", "NEAR-MAX", [{"sku": "MILK-1L", "qty": 1}])
    assert error_of(refused) == (422, "points_over_limit", "member_id")
    ledger = api.get("/v1/members/NEAR-MAX/ledger", headers=HEADERS).json()
    assert ledger["balance"] == MAX_POINTS
    quote = api.post(
        "/v1/eligibility", json={"member_id": "NEAR-MAX", "lines": [{"sku": "MILK-1L", "qty": 1}]}, headers=HEADERS
    )
    assert quote.status_code == 200


def test_a_stored_member_past_the_engine_limits_is_a_422_on_every_route(api, redis_client):
    redis_client.hset("m:{BROKEN}", mapping={"tier": "gold", "points": MAX_POINTS + 1})
    for response in (
        api.post(
            "/v1/eligibility", json={"member_id": "BROKEN", "lines": [{"sku": "MILK-1L", "qty": 1}]}, headers=HEADERS
        ),
        api.post(
            "/v1/redemptions",
            json={"member_id": "BROKEN", "redemption_id": "OATMEAL-LOWGI"},
            headers={**HEADERS, "Idempotency-Key": "k"},
        ),
        order(api, "O1", "BROKEN", [{"sku": "MILK-1L", "qty": 1}]),
    ):
        assert error_of(response) == (422, "invalid_request", "member.points")


def buy_redeem_refund(api):
    bought = order(api, "BUY", "SPENDER", [{"sku": "POWDER-900", "qty": 1}])
    assert bought.status_code == 200
    earned = bought.json()["points"]
    assert earned >= 1800
    redeemed = api.post(
        "/v1/redemptions",
        json={"member_id": "SPENDER", "redemption_id": "OATMEAL-LOWGI"},
        headers={**HEADERS, "Idempotency-Key": "spend"},
    )
    assert redeemed.status_code == 200
    refunded = api.post("/v1/orders/BUY/refund", json={"member_id": "SPENDER"}, headers=HEADERS)
    assert refunded.status_code == 200
    return earned, refunded.json()


def test_points_spent_before_a_refund_become_a_debt_that_later_credits_pay(api):
    earned, refunded = buy_redeem_refund(api)
    spent = 1800
    assert refunded["points_reversed"] == earned - spent
    assert refunded["points_not_recovered"] == refunded["points_owed"] == refunded["points_debt"] == spent
    assert refunded["balance"] == 0

    refused = api.post(
        "/v1/redemptions",
        json={"member_id": "SPENDER", "redemption_id": "OLIVE-OIL"},
        headers={**HEADERS, "Idempotency-Key": "while-owing"},
    )
    assert error_of(refused) == (409, "points_debt", "redemption_id")
    quote = api.post("/v1/eligibility", json={"member_id": "SPENDER", "lines": []}, headers=HEADERS).json()
    oatmeal = next(r for r in quote["redemptions"] if r["id"] == "OATMEAL-LOWGI")
    assert (oatmeal["available"], oatmeal["reason"], oatmeal["hint"]["value"]) == (False, "points_debt", spent)

    invite = api.post(
        "/v1/events", json={"event_id": "inv-1", "member_id": "SPENDER", "type": "invite_order"}, headers=HEADERS
    )
    assert (invite.status_code, invite.json()["points"], invite.json()["balance"]) == (200, 100, 0)
    ledger = api.get("/v1/members/SPENDER/ledger", headers=HEADERS).json()
    assert ledger["points_debt"] == spent - 100
    assert [(e["reason"], e["delta"], e.get("debt")) for e in ledger["entries"][:3]] == [
        ("debt_paid", -100, spent - 100),
        ("event:invite_order", 100, None),
        ("debt", 0, spent),
    ]

    settled = order(api, "REPAY", "SPENDER", [{"sku": "POWDER-900", "qty": 1}])
    assert settled.json()["balance"] == settled.json()["points"] - (spent - 100)
    ledger = api.get("/v1/members/SPENDER/ledger", headers=HEADERS).json()
    assert ledger["points_debt"] == 0
    assert ledger["balance"] == sum(e["delta"] for e in ledger["entries"]) >= 0
    again = api.post(
        "/v1/redemptions",
        json={"member_id": "SPENDER", "redemption_id": "OATMEAL-LOWGI"},
        headers={**HEADERS, "Idempotency-Key": "paid-up"},
    )
    assert again.status_code == 200


def test_under_forgive_the_points_spent_are_let_go(redis_client, redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "money-bounds-secret")
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["points"]["refund"] = "forgive"
    rules = tmp_path / "forgive.yaml"
    rules.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    write_members(redis_client, [MemberRecord(id="SPENDER", tier="gold", points=0)])
    with start(redis_server, tmp_path, rules=rules) as api:
        _, refunded = buy_redeem_refund(api)
        assert refunded["points_not_recovered"] == 1800
        assert (refunded["points_owed"], refunded["points_debt"], refunded["balance"]) == (0, 0, 0)
        later = api.post(
            "/v1/events", json={"event_id": "inv-1", "member_id": "SPENDER", "type": "invite_order"}, headers=HEADERS
        )
        assert later.json()["balance"] == 100


@pytest.mark.parametrize("before", ["0-0", "18446744073709551616-0", "1-18446744073709551616", "-1-0", "1"])
def test_a_ledger_position_redis_cannot_read_is_a_422(api, before):
    response = api.get("/v1/members/G1/ledger", params={"before": before}, headers=HEADERS)
    assert error_of(response) == (422, "invalid_request", "before")


@pytest.mark.parametrize(
    "location, field",
    [
        ({"lat": True, "lon": 121.4}, "location.lat"),
        ({"lat": "31.2", "lon": 121.4}, "location.lat"),
        ({"lat": 91, "lon": 121.4}, "location.lat"),
    ],
)
def test_a_location_is_checked_alike_by_eligibility_and_orders(api, location, field):
    lines = [{"sku": "MILK-1L", "qty": 1}]
    quote = api.post("/v1/eligibility", json={"member_id": "G1", "lines": lines, "location": location}, headers=HEADERS)
    settled = order(api, "LOC", "G1", lines, location=location)
    assert error_of(quote) == error_of(settled) == (422, "invalid_request", field)


@pytest.mark.parametrize("qty", ["2", 2.0, True])
def test_a_quantity_is_checked_alike_by_eligibility_and_orders(api, qty):
    lines = [{"sku": "MILK-1L", "qty": qty}]
    quote = api.post("/v1/eligibility", json={"member_id": "G1", "lines": lines}, headers=HEADERS)
    settled = order(api, "QTY", "G1", lines)
    assert error_of(quote) == error_of(settled) == (422, "invalid_request", "lines[0].qty")


def test_replays_are_answered_before_the_rate_limit_counts(redis_client, redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "money-bounds-secret")
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=100_000)])
    with start(redis_server, tmp_path, redemptions_per_minute=2, events_per_minute=2) as api:
        body = {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"}
        first = api.post("/v1/redemptions", json=body, headers={**HEADERS, "Idempotency-Key": "once"})
        replays = [
            api.post("/v1/redemptions", json=body, headers={**HEADERS, "Idempotency-Key": "once"}) for _ in range(5)
        ]
        assert {(r.status_code, r.content) for r in replays} == {(200, first.content)}
        assert (
            api.post("/v1/redemptions", json=body, headers={**HEADERS, "Idempotency-Key": "twice"}).status_code == 200
        )
        third = api.post("/v1/redemptions", json=body, headers={**HEADERS, "Idempotency-Key": "thrice"})
        assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1

        event = {"event_id": "share-1", "member_id": "G1", "type": "share"}
        assert api.post("/v1/events", json=event, headers=HEADERS).status_code == 200
        assert {api.post("/v1/events", json=event, headers=HEADERS).status_code for _ in range(5)} == {200}
        assert api.post("/v1/events", json={**event, "event_id": "share-2"}, headers=HEADERS).status_code == 200
        assert api.post("/v1/events", json={**event, "event_id": "share-3"}, headers=HEADERS).status_code == 429


def test_points_owed_survive_a_members_import(api, redis_client):
    buy_redeem_refund(api)
    write_members(redis_client, [MemberRecord(id="SPENDER", tier="silver", points=0)])  # the CRM re-imports
    ledger = api.get("/v1/members/SPENDER/ledger", headers=HEADERS).json()
    assert ledger["points_debt"] == 1800
    refused = api.post(
        "/v1/redemptions",
        json={"member_id": "SPENDER", "redemption_id": "OLIVE-OIL"},
        headers={**HEADERS, "Idempotency-Key": "after-import"},
    )
    assert error_of(refused)[1] == "points_debt"
