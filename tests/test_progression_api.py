"""Tier progression through HTTP, against a real redis-server: a visitor who watches three
days in a row becomes silver on the third watch, an order that crosses the spend threshold
raises the tier in its own answer, the review lowers a tier lazily on the first touch, and
the quote shows the way to the next tier."""

from __future__ import annotations

import orjson
import pytest
from conftest import at, client_for
from serving import wait_until

from api.store import MemberRecord, write_members

DAY = 86_400
T0 = at("2026-11-11 21:00")  # a Wednesday evening, +08:00

RULES = """\
name: progression-story
tiers:
  - {id: silver, name: 银卡 silver, reach: {tasks: [watch_days], growth: 100}}
  - {id: gold, name: 金卡 gold, points_multiplier: 1.5, reach: {spend: 50000}}
products:
  - {sku: MILK, price: 30000}
rooms:
  - {id: daily, name: Daily live, start: "2026-11-01T00:00:00+08:00", end: "2026-12-31T00:00:00+08:00"}
points:
  events:
    watch: {points: 20, counts_toward: [watch_days]}
progression:
  tasks:
    watch_days: {streak_days: 3, hint: "watch {left} more day"}
  growth_per_yuan: 1
  review_months: 13
"""


@pytest.fixture
def api(redis_client, redis_server, tmp_path):
    path = tmp_path / "progression.yaml"
    path.write_text(RULES, encoding="utf-8")
    write_members(
        redis_client,
        [MemberRecord(id="V1"), MemberRecord(id="V2"), MemberRecord(id="S1", tier="silver", points=100)],
    )
    with client_for(redis_server, redis_timeout_ms=300, rules=str(path)) as client:
        yield client


def watch(api, member_id: str, event_id: str, now: int) -> dict:
    body = {"event_id": event_id, "member_id": member_id, "type": "watch", "room": "daily", "seconds": 900}
    response = api.post("/v1/events", json=body, headers={"X-Rights-Now": str(now)})
    assert response.status_code == 200, response.text
    return response.json()


def order(api, member_id: str, order_id: str, now: int, room: str | None = None) -> dict:
    body = {
        "room": room,
        "order_id": order_id,
        "member_id": member_id,
        "lines": [{"sku": "MILK", "qty": 1}],
        "fulfillment": "delivery",
        "rules_version": api.app.state.service.table.version,
    }
    response = api.post("/v1/orders", json=body, headers={"X-Rights-Now": str(now)})
    assert response.status_code == 200, response.text
    return response.json()


def quote(api, member_id: str, now: int) -> dict:
    body = {"member_id": member_id, "lines": [{"sku": "MILK", "qty": 1}]}
    response = api.post("/v1/eligibility", content=orjson.dumps(body), headers={"X-Rights-Now": str(now)})
    assert response.status_code == 200, response.text
    return response.json()


def tiers(api, member_id: str, now: int) -> dict:
    response = api.get(f"/v1/members/{member_id}/tiers", headers={"X-Rights-Now": str(now)})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_visitor_who_watches_three_days_in_a_row_becomes_silver_on_the_third(api):
    assert watch(api, "V1", "w1", T0)["tier"] is None
    assert watch(api, "V1", "w1b", T0 + 600)["tier"] is None  # the same day counts once
    assert watch(api, "V1", "w2", T0 + DAY)["tier"] is None
    third = watch(api, "V1", "w3", T0 + 2 * DAY)
    assert third["tier"] == {"from": "visitor", "to": "silver", "reason": "task:watch_days"}
    assert third["points"] == 20
    # a replay of the same event answers the same, and changes nothing
    replay = api.post(
        "/v1/events",
        json={"event_id": "w3", "member_id": "V1", "type": "watch", "room": "daily", "seconds": 900},
        headers={"X-Rights-Now": str(T0 + 2 * DAY + 60)},
    )
    assert replay.headers["Idempotent-Replay"] == "true" and replay.json() == third
    page = tiers(api, "V1", T0 + 2 * DAY)
    assert page["tier"] == "silver" and page["tier_since"] == T0 + 2 * DAY
    assert page["history"] == [
        {"at": T0 + 2 * DAY, "from": "visitor", "to": "silver", "reason": "task:watch_days", "ref": "ev:w3"}
    ]
    assert quote(api, "V1", T0 + 2 * DAY)["tier"] == "silver"


def test_a_broken_streak_starts_again(api):
    watch(api, "V2", "a1", T0)
    watch(api, "V2", "a2", T0 + DAY)
    assert watch(api, "V2", "a3", T0 + 3 * DAY)["tier"] is None  # a day missed
    assert tiers(api, "V2", T0 + 3 * DAY)["history"] == []


def test_the_order_that_crosses_the_spend_threshold_raises_the_tier_in_its_answer(api):
    first = order(api, "S1", "o1", T0)
    assert first["tier"] is None and first["payable"] == 30000
    second = order(api, "S1", "o2", T0 + 3600)
    assert second["tier"] == {"from": "silver", "to": "gold", "reason": "spend"}
    assert order(api, "S1", "o2", T0 + 3600) == second  # a replay: the same answer
    assert quote(api, "S1", T0 + 3700)["tier"] == "gold"


def test_a_refund_takes_the_orders_spend_and_growth_back_once(api, redis_client):
    from api.redis.keys import member_key

    order(api, "S1", "o1", T0)
    assert order(api, "S1", "o2", T0 + 3600)["tier"]["to"] == "gold"
    figures = ("sp:202611", "growth")
    assert redis_client.hmget(member_key("S1"), figures) == [b"60000", b"600"]
    refund = api.post("/v1/orders/o2/refund", json={"member_id": "S1"}, headers={"X-Rights-Now": str(T0 + 7200)})
    assert refund.status_code == 200, refund.text
    assert redis_client.hmget(member_key("S1"), figures) == [b"30000", b"300"]
    again = api.post("/v1/orders/o2/refund", json={"member_id": "S1"}, headers={"X-Rights-Now": str(T0 + 7300)})
    assert again.json() == refund.json()  # a replay takes nothing twice
    assert redis_client.hmget(member_key("S1"), figures) == [b"30000", b"300"]
    page = tiers(api, "S1", T0 + 7400)
    assert page["tier"] == "gold" and page["history"][0]["reason"] == "spend"  # the tier waits for its review


def test_the_review_lowers_the_tier_lazily_on_the_first_touch(api):
    order(api, "S1", "o1", T0)
    order(api, "S1", "o2", T0 + 3600)  # gold; its review 13 months on
    page = tiers(api, "S1", T0 + 3600)
    review_at = page["review_at"]
    assert page["tier"] == "gold" and review_at == at("2027-12-12 00:00")
    # before the review nothing changes; the first touch at or after it reviews
    assert quote(api, "S1", review_at - 1)["tier"] == "gold"
    later = quote(api, "S1", review_at + 5)
    # the spend is older than 12 months now; the growth (600) still reaches silver
    assert later["tier"] == "silver"
    page = tiers(api, "S1", review_at + 10)
    assert page["tier"] == "silver"
    assert page["history"][0] == {"at": review_at + 5, "from": "gold", "to": "silver", "reason": "review", "ref": None}
    assert page["history"][1]["reason"] == "spend"
    assert page["review_at"] == at("2029-01-13 00:00")  # 13 months after the review's day


def test_the_quote_shows_the_way_to_the_next_tier(api):
    watch(api, "V2", "b1", T0)
    watch(api, "V2", "b2", T0 + DAY)
    progress = quote(api, "V2", T0 + DAY + 60)["tier_progress"]
    assert progress == {
        "tier": "silver",
        "name": "银卡 silver",
        "hints": [
            {"code": "reached", "value": 0, "text": "this order reaches 银卡 silver"},
            {"code": "task", "task": "watch_days", "value": 1, "text": "watch 1 more day"},
        ],
    }
    progress = quote(api, "S1", T0)["tier_progress"]
    assert progress["tier"] == "gold"
    assert progress["hints"] == [{"code": "spend_more", "value": 20000, "text": "spend 200.00 more to reach 金卡 gold"}]


def test_new_members_and_tier_upgrades_count_on_the_rooms_screen(api):
    for day in range(3):
        watch(api, "V1", f"w{day}", T0 + day * DAY)  # a visitor becomes silver: a new member
    order(api, "S1", "o1", T0, room="daily")
    assert order(api, "S1", "o2", T0 + 60, room="daily")["tier"]["to"] == "gold"  # an upgrade

    def counted():
        data = api.get("/dashboard/data?room=daily").json()
        return data if (data["new_members"], data["tier_upgrades"]) == (1, 1) else None

    data = wait_until(counted, message="the tier changes flushed to Redis")
    assert data["orders"] == 2


def test_the_tiers_route_refuses_unknown_and_bad_members(api):
    assert api.get("/v1/members/NOBODY/tiers").json()["error"]["code"] == "unknown_member"
    assert api.get("/v1/members/-bad/tiers").status_code == 422


def test_an_import_keeps_the_progression_figures(api, redis_client):
    watch(api, "V2", "c1", T0)
    watch(api, "V2", "c2", T0 + DAY)
    write_members(redis_client, [MemberRecord(id="V2", name="Ms Zhang")])
    assert watch(api, "V2", "c3", T0 + 2 * DAY)["tier"] == {
        "from": "visitor",
        "to": "silver",
        "reason": "task:watch_days",
    }


def test_an_order_whose_count_was_cut_short_counts_on_its_replay_and_only_once(api, monkeypatch):
    from api import progression

    api.app.state.service.one_node = False  # the steps one call each, as on a Cluster: one may be cut short

    order(api, "S1", "o1", T0)
    real, calls = progression.run, []

    async def cut_short(*args, **kwargs):
        calls.append(kwargs.get("ref"))
        if len(calls) == 1:
            raise RuntimeError("the worker stopped between the settlement and the count")
        return await real(*args, **kwargs)

    monkeypatch.setattr(progression, "run", cut_short)
    with pytest.raises(RuntimeError):
        order(api, "S1", "o2", T0 + 60)
    replay = order(api, "S1", "o2", T0 + 120)
    assert replay["tier"] == {"from": "silver", "to": "gold", "reason": "spend"}
    assert order(api, "S1", "o2", T0 + 180) == replay  # counted once: the same answer again
    assert quote(api, "S1", T0 + 200)["tier_progress"] is None


def test_an_order_refunded_before_its_count_never_counts(api, monkeypatch, redis_client):
    from api import progression
    from api.redis.keys import member_key

    api.app.state.service.one_node = False  # the steps one call each, as on a Cluster: one may be cut short

    order(api, "S1", "o1", T0)
    real, calls = progression.run, []

    async def cut_short(*args, **kwargs):
        calls.append(kwargs.get("ref"))
        if len(calls) == 1:
            raise RuntimeError("the worker stopped between the settlement and the count")
        return await real(*args, **kwargs)

    monkeypatch.setattr(progression, "run", cut_short)
    with pytest.raises(RuntimeError):
        order(api, "S1", "o2", T0 + 60)
    refund = api.post("/v1/orders/o2/refund", json={"member_id": "S1"}, headers={"X-Rights-Now": str(T0 + 90)})
    assert refund.status_code == 200, refund.text
    assert order(api, "S1", "o2", T0 + 120)["tier"] is None  # the replay finds it refunded: nothing counts
    assert redis_client.hmget(member_key("S1"), ("sp:202611", "growth")) == [b"30000", b"300"]
    assert tiers(api, "S1", T0 + 150)["tier"] == "silver"


def test_a_replay_after_the_review_answers_as_the_first_did(api):
    order(api, "S1", "o1", T0)
    first = order(api, "S1", "o2", T0 + 3600)
    assert first["tier"] == {"from": "silver", "to": "gold", "reason": "spend"}
    review_at = tiers(api, "S1", T0 + 3600)["review_at"]
    assert order(api, "S1", "o2", review_at + 5) == first  # the review is not the replay's change
    page = tiers(api, "S1", review_at + 10)
    assert page["tier"] == "silver"
    assert page["history"][0] == {"at": review_at + 5, "from": "gold", "to": "silver", "reason": "review", "ref": None}


def test_an_event_held_at_its_cap_adds_no_growth(redis_client, redis_server, tmp_path):
    """The demo's watch: 20 points a session, growth 5 with them; a second watch in the same
    session earns 0 and adds nothing, though it still counts its day toward the streak."""
    from api.redis.keys import member_key
    from engine.demo import DEMO_RULES

    write_members(redis_client, [MemberRecord(id="W1", tier="silver")])
    with client_for(redis_server, redis_timeout_ms=300, rules=str(DEMO_RULES)) as api:
        gala = at("2026-11-11 21:00")
        for event_id, earned in (("g1", 20), ("g2", 0)):
            body = {"event_id": event_id, "member_id": "W1", "type": "watch", "room": "gala", "seconds": 900}
            answer = api.post("/v1/events", json=body, headers={"X-Rights-Now": str(gala)})
            assert answer.status_code == 200 and answer.json()["points"] == earned, answer.text
            assert redis_client.hget(member_key("W1"), "growth") == b"5"


def test_a_refund_takes_back_what_its_order_counted_whatever_the_rules_say_now(api, redis_client):
    """The order's record keeps what its count added (spend, growth, month); a refund takes
    back exactly that, even if the rules' growth_per_yuan changed in between."""
    from api.redis.keys import member_key, order_key

    order(api, "S1", "o1", T0)
    order(api, "S1", "o2", T0 + 60)
    assert redis_client.hget(order_key("S1", "o2"), "progress") == b"30000 300 202611"
    redis_client.hset(order_key("S1", "o2"), "progress", "30000 100 202611")  # as if counted at 1/3 the rate
    refund = api.post("/v1/orders/o2/refund", json={"member_id": "S1"}, headers={"X-Rights-Now": str(T0 + 90)})
    assert refund.status_code == 200, refund.text
    assert redis_client.hmget(member_key("S1"), ("sp:202611", "growth")) == [b"30000", b"500"]


def test_a_member_of_a_tier_the_rules_do_not_know_keeps_it_and_its_events_count(api, redis_client):
    """An imported tier the table does not name (one since retired, say) is not changed by
    progression, but the member's events still count, for when the tier is known again."""
    from api.redis.keys import member_key

    write_members(redis_client, [MemberRecord(id="P1", tier="platinum")])
    for day in range(3):
        assert watch(api, "P1", f"p{day}", T0 + day * DAY)["tier"] is None
    assert redis_client.hmget(member_key("P1"), ("tier", "t:watch_days")) == [
        b"platinum",
        b"20770 3",
    ]  # a 3-day streak to 2026-11-13
