"""Coupons bought with points, through HTTP against a real redis-server: a redemption with
`grants_coupon` gives the member a grant instead of goods; the next quote applies the
coupon; the order that uses it consumes the grant exactly once; its refund gives it back
while it holds. Another member's grant, a forged one and a lapsed one are never applied."""

from __future__ import annotations

import threading

import orjson
import pytest
import yaml
from conftest import at, client_for, coupon, place_order, redemption

from api.owned_coupons import GRANT_RETENTION_DAYS, MAX_GRANTS
from api.redis.keys import grants_key, member_key
from api.store import MemberRecord, write_members
from engine import evaluators
from engine.compiler import compile_table
from engine.inputs import QuoteInputError, member_from_mapping
from engine.owned import grant_expires
from engine.rules.validate import RuleTableError, build_table

NOON = at("2026-11-11 12:00")
CST = 8 * 3600
RULES = {
    "name": "owned-coupons",
    "timezone": "+08:00",
    "tiers": [{"id": "silver", "name": "Silver"}, {"id": "gold", "name": "Gold"}],
    "products": [{"sku": "MILK", "name": "Milk", "category": "milk", "price": 12000}],
    "coupons": [
        {"id": "BIG-50", "name": "50 yuan off", "kind": "amount_off", "amount": 5000, "issue": "granted",
         "valid_days": 30},
        {"id": "GOLD-5", "name": "5 yuan off for gold", "kind": "amount_off", "amount": 500, "min_tier": "gold",
         "stack_group": "small"},
    ],
    "redemptions": [
        {"id": "BUY-BIG-50", "name": "50-yuan coupon", "points": 2000, "grants_coupon": "BIG-50"},
    ],
}  # fmt: skip
CART = [{"sku": "MILK", "qty": 1}]


@pytest.fixture
def api(redis_client, redis_server, tmp_path):
    write_members(
        redis_client,
        [
            MemberRecord(id="RICH", tier="gold", points=2500),
            MemberRecord(id="OTHER", tier="gold", points=0),
            MemberRecord(id="TWICE", tier="gold", points=4100),
        ],
    )
    path = tmp_path / "owned.yaml"
    path.write_text(yaml.safe_dump(RULES), encoding="utf-8")
    with client_for(redis_server, redis_timeout_ms=500, rules=str(path), data_dir=str(tmp_path)) as client:
        yield client


def quote(api, member_id, now=NOON):
    body = {"member_id": member_id, "lines": CART}
    answer = api.post("/v1/eligibility", content=orjson.dumps(body), headers={"X-Rights-Now": str(now)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def redeem(api, member_id, key, now=NOON):
    return api.post(
        "/v1/redemptions",
        json={"member_id": member_id, "redemption_id": "BUY-BIG-50"},
        headers={"Idempotency-Key": key, "X-Rights-Now": str(now)},
    )


def order(api, order_id, member_id, now=NOON):
    return place_order(api, order_id, member_id, CART, now=now, fulfillment="delivery", room=None)


def grants(api, member_id, now=NOON):
    answer = api.get(f"/v1/members/{member_id}/coupons", headers={"X-Rights-Now": str(now)})
    assert answer.status_code == 200, answer.text
    return answer.json()["grants"]


def refund(api, order_id, member_id, now=NOON):
    answer = api.post(
        f"/v1/orders/{order_id}/refund", json={"member_id": member_id}, headers={"X-Rights-Now": str(now)}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_redeem_then_apply_then_settle_then_refund(api):
    before = coupon(quote(api, "RICH"), "BIG-50")
    assert (before["applied"], before["reason"]) == (False, "not_owned")
    assert before["hint"] == {"code": "redeem", "value": "BUY-BIG-50", "text": "redeem 50-yuan coupon for 2000 points"}

    redeemed = redeem(api, "RICH", "r1")
    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    expires = grant_expires(NOON, 30, CST)
    assert expires == at("2026-12-11 00:00")  # 11 November is the first of the 30 days
    assert (body["points"], body["balance"], body["pickup_code"]) == (2000, 500, None)
    assert body["coupon_grant"] == {"id": "g1", "coupon": "BIG-50", "granted": NOON, "expires": expires}
    assert redeem(api, "RICH", "r1").content == redeemed.content  # a replay grants nothing more
    assert [g["state"] for g in grants(api, "RICH")] == ["valid"]

    applied = coupon(quote(api, "RICH"), "BIG-50")
    assert (applied["applied"], applied["amount"]) == (True, 5000)

    settled = order(api, "O1", "RICH")
    assert settled.status_code == 200, settled.text
    assert "BIG-50" in settled.json()["coupons"] and settled.json()["discount"] == 5000 + 500
    assert order(api, "O1", "RICH").content == settled.content  # a replay uses no second grant
    [used] = grants(api, "RICH")
    assert (used["state"], used["order_id"], used["used_at"]) == ("used", "O1", NOON)
    assert coupon(quote(api, "RICH"), "BIG-50")["reason"] == "not_owned"

    back = refund(api, "O1", "RICH", now=NOON + 3600)
    assert (back["coupon_grants_restored"], back["coupon_grants_expired"]) == (["g1"], [])
    assert refund(api, "O1", "RICH", now=NOON + 7200) == back  # once
    assert [g["state"] for g in grants(api, "RICH")] == ["valid"]
    assert coupon(quote(api, "RICH"), "BIG-50")["applied"] is True


def test_one_grant_serves_one_order_however_many_race_for_it(api):
    assert redeem(api, "RICH", "r1").status_code == 200
    answers: dict = {}

    def place(order_id):
        answers[order_id] = order(api, order_id, "RICH")

    threads = [threading.Thread(target=place, args=(f"RACE-{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    using = [o for o, a in answers.items() if a.status_code == 200 and "BIG-50" in a.json()["coupons"]]
    assert len(using) == 1
    for order_id, answer in answers.items():
        if order_id not in using:  # quoted before the grant was used: refused, or quoted after: without it
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code == 409:
                assert answer.json()["error"]["code"] == "quote_changed"
    assert [g["state"] for g in grants(api, "RICH")] == ["used"]


def test_another_members_grant_or_a_forged_one_is_not_applied(api, redis_client):
    assert redeem(api, "RICH", "r1").status_code == 200
    assert coupon(quote(api, "OTHER"), "BIG-50")["reason"] == "not_owned"
    assert grants(api, "OTHER") == []
    # a grant written into the member hash without a record: the quote may show it, the order cannot use it
    redis_client.hset(member_key("OTHER"), "g:BIG-50", str(grant_expires(NOON, 30, CST)))
    refused = order(api, "O-FORGED", "OTHER")
    assert refused.status_code == 409 and "BIG-50" in refused.json()["error"]["reason"]
    # the other member's record does not help either
    assert redis_client.hlen(grants_key("OTHER")) == 0


def test_a_lapsed_grant_is_not_applied_and_a_refund_after_the_lapse_keeps_it_used(api):
    assert redeem(api, "TWICE", "r1").status_code == 200
    expires = grant_expires(NOON, 30, CST)
    assert coupon(quote(api, "TWICE", now=expires - 1), "BIG-50")["applied"] is True
    assert coupon(quote(api, "TWICE", now=expires), "BIG-50")["reason"] == "not_owned"
    assert [g["state"] for g in grants(api, "TWICE", now=expires)] == ["expired"]

    assert redeem(api, "TWICE", "r2", now=expires).status_code == 200  # a second grant, 30 days on
    settled = order(api, "O2", "TWICE", now=expires + 60)
    assert settled.status_code == 200 and "BIG-50" in settled.json()["coupons"]
    later = grant_expires(expires, 30, CST)
    back = refund(api, "O2", "TWICE", now=later + 5)
    assert (back["coupon_grants_restored"], back["coupon_grants_expired"]) == ([], ["g2"])
    assert [g["state"] for g in grants(api, "TWICE", now=later + 5)] == ["expired", "used"]


def test_unknown_member_coupons_are_404(api):
    assert api.get("/v1/members/NOBODY/coupons").status_code == 404
    assert api.get("/v1/members/bad%20id/coupons").status_code == 422


def test_rules_check_grants_coupon_and_issue():
    def errors(change) -> list:
        data = orjson.loads(orjson.dumps(RULES))
        change(data)
        try:
            build_table(data)
        except RuleTableError as exc:
            return [str(e) for e in exc.errors]
        return []

    assert errors(lambda d: None) == []
    unknown = errors(lambda d: d["redemptions"][0].update(grants_coupon="BIG-5O"))
    assert len(unknown) == 1 and "redemptions[0].grants_coupon" in unknown[0] and "BIG-50" in unknown[0]
    auto = errors(lambda d: d["redemptions"][0].update(grants_coupon="GOLD-5"))
    assert len(auto) == 1 and "issue: granted" in auto[0]
    assert any("valid_days" in e for e in errors(lambda d: d["coupons"][0].pop("valid_days")))
    assert any("valid_days" in e for e in errors(lambda d: d["coupons"][1].update(valid_days=3)))
    assert any("issue" in e for e in errors(lambda d: d["coupons"][0].update(issue="granded")))


@pytest.mark.parametrize("name", evaluators.NAMES)
def test_quote_input_takes_owned_coupons_and_checks_them(name):
    table = compile_table(build_table(RULES))
    evaluator = evaluators.get(name)

    def applied(member) -> list:
        decided = evaluator.quote(table, member, None, NOON, [("MILK", 1)])
        return [table.model.coupons[k].id for k in decided.applied_coupons()]

    assert applied(member_from_mapping({"tier": "gold", "owned_coupons": {"BIG-50": 1}})) == ["BIG-50", "GOLD-5"]
    assert applied(member_from_mapping({"tier": "gold"})) == ["GOLD-5"]
    for bad in ({"BIG-50": -1}, {"BIG-50": "1"}, ["BIG-50"]):
        with pytest.raises(QuoteInputError) as refused:
            member_from_mapping({"tier": "gold", "owned_coupons": bad})
        assert refused.value.field == "member.owned_coupons"


def test_a_quotes_redemption_list_shows_the_coupon_item(api):
    item = redemption(quote(api, "RICH"), "BUY-BIG-50")
    assert item["available"] is True


def test_lapsed_records_go_after_the_retention_and_the_bound_refuses_before_taking_points(api, redis_client):
    assert redeem(api, "TWICE", "r1").status_code == 200
    lapse = grant_expires(NOON, 30, CST)
    later = lapse + GRANT_RETENTION_DAYS * 86400
    assert redeem(api, "TWICE", "r2", now=later).status_code == 200  # the first record goes with this grant
    assert [g["id"] for g in grants(api, "TWICE", now=later)] == ["g2"]

    kept = {f"g{100 + k}": f"BIG-50 {NOON} {lapse} u O{k} {NOON}" for k in range(MAX_GRANTS)}
    redis_client.hset(grants_key("RICH"), mapping=kept)
    full = redeem(api, "RICH", "r-full")
    assert full.status_code == 409 and full.json()["error"]["code"] == "grants_full"
    ledger = api.get("/v1/members/RICH/ledger", headers={"X-Rights-Now": str(NOON)}).json()
    assert ledger["balance"] == 2500
