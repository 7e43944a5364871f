"""The eligibility API through HTTP, against a real redis-server: the gala-night scenarios,
identities, visitors and lapsed members, every kind of bad input, and Redis going away."""

from __future__ import annotations

import orjson
import pytest
from conftest import at, client_for
from serving import wait_until

from api.members_io import demo_members
from api.store import MemberRecord, write_members

GALA_21 = at("2026-11-11 21:00")


@pytest.fixture
def api(redis_client, redis_server):
    write_members(redis_client, demo_members(50))
    write_members(
        redis_client,
        [
            MemberRecord(id="BG1", tier="black_gold", points=1850, identities={"phone": "13900000001"}),
            MemberRecord(id="G1", tier="gold", points=1850, birthday_month=3, identities={"openid": "oGOLD1"}),
            MemberRecord(id="S1", tier="silver", points=100),
            MemberRecord(id="LAPSED", tier="gold", points=500, paid_until=GALA_21 - 86400),
            MemberRecord(id="USED", tier="black_gold", coupon_uses={"BG-CHEESE-ZERO": 1}),
        ],
    )
    with client_for(redis_server, redis_timeout_ms=300) as client:
        yield client


def eligibility(api, body, now=GALA_21):
    response = api.post("/v1/eligibility", content=orjson.dumps(body), headers={"X-Rights-Now": str(now)})
    return response.status_code, response.json()


def coupon(result, coupon_id):
    for entry in result["coupons_applied"]:
        if entry["id"] == coupon_id:
            return {"applied": True, **entry}
    return {"applied": False, **next(c for c in result["coupons_not_applied"] if c["id"] == coupon_id)}


# -- the engine's scenarios, through HTTP --------------------------------------------------


def test_black_gold_buys_the_limited_cheese_and_gold_is_refused(api):
    status, body = eligibility(api, {"member_id": "BG1", "lines": [{"sku": "CHEESE-LTD", "qty": 1}]})
    assert status == 200
    assert (body["lines"][0]["unit_price"], body["lines"][0]["price_layer"]) == (8910, "tier")
    assert body["member"] == {
        "id": "BG1",
        "status": "member",
        "tier": "black_gold",
        "member_tier": "black_gold",
        "points": 1850,
        "frozen": False,
        "paid_until": None,
    }
    assert body["rules_version"].startswith("dairy-gala@")
    _, gold = eligibility(api, {"member_id": "G1", "lines": [{"sku": "CHEESE-LTD", "qty": 1}]})
    assert gold["lines"][0]["reason"] == "tier_too_low"


def test_gold_85_percent_only_inside_the_gala_window(api):
    cart = {"member_id": "G1", "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]}
    _, inside = eligibility(api, cart)
    assert coupon(inside, "GOLD-GALA-85")["amount"] == 836
    assert inside["totals"] == {"subtotal": 5570, "discount": 836, "payable": 4734}
    _, before = eligibility(api, cart, now=at("2026-11-11 19:50"))
    assert coupon(before, "GOLD-GALA-85")["hint"]["text"] == "opens in 10 minutes"


def test_zero_price_cheese_once_then_member_limit(api):
    _, first = eligibility(api, {"member_id": "BG1", "room": "gala", "lines": [{"sku": "CHEESE-LTD", "qty": 1}]})
    assert coupon(first, "BG-CHEESE-ZERO")["amount"] == 8910
    _, again = eligibility(api, {"member_id": "USED", "room": "gala", "lines": [{"sku": "CHEESE-LTD", "qty": 1}]})
    assert coupon(again, "BG-CHEESE-ZERO")["reason"] == "member_limit_reached"


def test_threshold_against_percent_in_one_stack_group(api):
    _, silver = eligibility(api, {"member_id": "S1", "room": "gala", "lines": [{"sku": "POWDER-900", "qty": 1}]})
    assert coupon(silver, "SPEND199-SAVE30")["amount"] == 3000
    assert coupon(silver, "SILVER-95")["reason"] == "lost_to_better_combination"


def test_points_with_multipliers_and_live_bonus(api):
    cart = {"member_id": "G1", "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]}
    _, body = eligibility(api, cart)
    assert body["points"]["total"] == 473 * 3 // 2 * 2 + 50


def test_redemptions_with_the_balance_and_flash_window(api):
    cart = {"member_id": "G1", "room": "gala", "lines": []}
    _, early = eligibility(api, cart, now=at("2026-11-11 22:54"))
    items = {r["id"]: r for r in early["redemptions"]}
    assert items["OATMEAL-LOWGI"]["available"] and not items["FLASH-EGGS"]["available"]
    _, flash = eligibility(api, cart, now=at("2026-11-11 22:55"))
    assert {r["id"]: r for r in flash["redemptions"]}["FLASH-EGGS"]["available"]


def test_pickup_ten_percent_below_delivery(api):
    _, body = eligibility(api, {"member_id": "G1", "lines": [{"sku": "MILK-1L", "qty": 1}], "fulfillment": "pickup"})
    assert (body["lines"][0]["unit_price"], body["lines"][0]["price_layer"]) == (1251, "pickup")


# -- who is asking ---------------------------------------------------------------------------


def test_identity_by_openid_and_by_phone(api):
    _, by_openid = eligibility(
        api, {"identity": {"channel": "openid", "value": "oGOLD1"}, "lines": [{"sku": "MILK-1L", "qty": 1}]}
    )
    assert by_openid["member"]["id"] == "G1" and by_openid["tier"] == "gold"
    _, by_phone = eligibility(
        api, {"identity": {"channel": "phone", "value": "13900000001"}, "lines": [{"sku": "MILK-1L", "qty": 1}]}
    )
    assert by_phone["member"]["id"] == "BG1"


def test_unknown_identity_is_a_visitor_with_a_join_offer(api):
    _, body = eligibility(
        api, {"identity": {"channel": "openid", "value": "oNOBODY"}, "lines": [{"sku": "POWDER-900", "qty": 1}]}
    )
    assert body["member"]["status"] == "visitor" and body["tier"] == "visitor"
    offer = body["join_offer"]
    assert offer["tier"] == "silver"
    assert offer["points"] > 0 and body["points"]["total"] == 0
    assert offer["saves"] == body["totals"]["payable"] - offer["payable"]


def test_visitor_join_offer_says_what_the_cheapest_tier_saves(api):
    _, body = eligibility(api, {"lines": [{"sku": "MILK-1L", "qty": 3}]}, now=at("2026-11-12 10:00"))
    # no coupon for visitors here: base 15.90 a unit against silver's 14.90
    offer = body["join_offer"]
    assert (body["totals"]["payable"], offer["payable"], offer["saves"]) == (4770 - 1000, 4470, 4770 - 1000 - 4470)


def test_lapsed_member_is_priced_as_a_visitor_and_told(api):
    _, body = eligibility(api, {"member_id": "LAPSED", "lines": [{"sku": "MILK-1L", "qty": 1}]})
    assert body["member"]["status"] == "lapsed"
    assert body["member"]["member_tier"] == "gold" and body["tier"] == "visitor"
    assert body["lines"][0]["price_layer"] == "base"
    assert body["join_offer"] is not None


def test_unknown_sku_is_a_line_not_an_error(api):
    status, body = eligibility(api, {"member_id": "G1", "lines": [{"sku": "NOPE", "qty": 1}]})
    assert status == 200 and body["lines"][0]["reason"] == "unknown_sku"


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({"lines": [{"sku": "MILK-1L", "qty": 0}]}, "lines[0].qty"),
        ({"lines": [{"sku": "MILK-1L", "qty": 10**9}]}, "lines[0].qty"),
        ({"lines": [{"sku": "MILK-1L", "qty": "2"}]}, "lines[0].qty"),
        ({"lines": [{"sku": 7, "qty": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "MILK-1L", "qty": 1}] * 201}, "lines"),
        ({"lines": "MILK-1L"}, "lines"),
        ({}, "lines"),
        ({"lines": [], "room": "nowhere"}, "room"),
        ({"lines": [], "fulfillment": "drone"}, "fulfillment"),
        ({"lines": [], "member_id": "bad id!"}, "member_id"),
        ({"lines": [], "identity": {"channel": "fax", "value": "1"}}, "identity.channel"),
        ({"lines": [], "coupon": "FREE"}, "coupon"),
        ({"lines": [], "location": {"lat": 91, "lon": 0}}, "location.lat"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, body, field):
    status, answer = eligibility(api, body)
    assert status == 422
    assert answer["error"]["field"] == field and answer["error"]["reason"]


def test_malformed_json_is_a_400(api):
    response = api.post("/v1/eligibility", content=b'{"lines": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("route", ["/v1/events", "/v1/orders", "/v1/redemptions", "/v1/pickups/verify"])
def test_a_body_nested_too_deep_for_the_json_reader_is_malformed_json(api, route):
    deep = b'{"member_id": "M1", "lines": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    response = api.post(route, content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert (
        response.json()["error"]["code"] == "malformed_json"
        and "nested too deeply" in response.json()["error"]["reason"]
    )


def test_a_trailing_slash_redirects_to_the_route_on_this_server_whatever_the_host_header(api):
    response = api.get("/v1/members/M00001/ledger/?limit=2", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/v1/members/M00001/ledger?limit=2"


def test_oversized_body_is_a_413(api):
    response = api.post("/v1/eligibility", content=b"{" + b" " * 70_000 + b"}")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_unknown_member_id_is_a_visitor(api):
    _, body = eligibility(api, {"member_id": "NOBODY", "lines": []})
    assert body["member"]["status"] == "visitor"


# -- operations ------------------------------------------------------------------------------


def test_health_readiness_and_metrics(api):
    assert api.get("/healthz").json() == {"alive": True}
    ready = api.get("/readyz").json()
    assert ready["ready"] is True and ready["rules_version"].startswith("dairy-gala@")
    eligibility(api, {"member_id": "G1", "lines": [{"sku": "MILK-1L", "qty": 1}]})
    from prometheus_client.parser import text_string_to_metric_families

    scraped = {family.name: family for family in text_string_to_metric_families(api.get("/metrics").text)}
    served = {tuple(sorted(s.labels.items())): s.value for s in scraped["rights_requests"].samples}
    assert served[(("method", "POST"), ("route", "/v1/eligibility"), ("status", "200"))] >= 1
    engine = {s.name: s.value for s in scraped["rights_engine_seconds"].samples if not s.labels}
    assert engine["rights_engine_seconds_count"] >= 1 and scraped["rights_redis_lookup_seconds"].type == "histogram"
    (version,) = scraped["rights_rules_version_info"].samples
    assert version.labels["version"].startswith("dairy-gala@") and version.value == 1
    assert version.labels["brand"] == "main"


def test_metrics_counters_never_fall_when_workers_stop_and_are_forgotten(redis_client, redis_server):
    """A stopped worker's counts stay in the sums (Prometheus reads a fall as a restart of the
    counter and shows a spike); an hour on they move into one retired snapshot, and the sums
    are the same before and after."""
    import time

    from conftest import in_a_worker
    from prometheus_client.parser import text_string_to_metric_families

    from api.metrics import Metrics, forget_silent_workers, render
    from api.redis.keys import METRICS_KEY

    def worker(requests: int, at: float) -> bytes:
        metrics = Metrics()
        for _ in range(requests):
            metrics.request("/v1/eligibility", "POST", 200, 0.001)
        return orjson.dumps({**orjson.loads(metrics.snapshot()), "at": at})

    def scrape() -> tuple:
        snapshots = [orjson.loads(v) for v in redis_client.hgetall(METRICS_KEY).values()]
        families = {f.name: f for f in text_string_to_metric_families(render(snapshots, Metrics()))}
        (served,) = [s.value for s in families["rights_requests"].samples if s.labels.get("status") == "200"]
        return served, families["rights_workers"].samples[0].value

    now = time.time()
    redis_client.delete(METRICS_KEY)
    redis_client.hset(METRICS_KEY, mapping={"alive": worker(5, now), "stopped": worker(7, now - 30)})
    assert scrape() == (12, 1)  # the stopped worker still counts; it is not a worker any more
    redis_client.hset(METRICS_KEY, mapping={"gone-1": worker(3, now - 4000), "gone-2": worker(4, now - 5000)})
    assert scrape() == (19, 1)

    async def forget(service):
        return await forget_silent_workers(service.redis, service.scripts)

    assert in_a_worker(redis_server, forget) == 2
    assert sorted(redis_client.hkeys(METRICS_KEY)) == [b"alive", b"retired", b"stopped"]
    assert scrape() == (19, 1)
    redis_client.hset(METRICS_KEY, "gone-3", worker(1, now - 4000))
    assert in_a_worker(redis_server, forget) == 1 and scrape() == (20, 1)
    assert in_a_worker(redis_server, forget) == 0


def test_a_worker_cut_off_past_the_hour_is_not_counted_twice(redis_client, redis_server):
    """A worker that could not publish for an hour has its last snapshot folded into
    `retired`; when it publishes again, it counts on under a new field from there."""
    from conftest import in_a_worker
    from prometheus_client.parser import text_string_to_metric_families

    from api.metrics import Metrics, forget_silent_workers, render
    from api.redis.keys import METRICS_KEY

    def served(snapshots: list) -> float:
        families = {f.name: f for f in text_string_to_metric_families(render(snapshots, Metrics()))}
        return sum(s.value for s in families["rights_requests"].samples if s.labels.get("route") == "/cut-off")

    async def scenario(service):
        metrics = service.metrics
        for _ in range(5):
            metrics.request("/cut-off", "GET", 200, 0.001)
        await service.publish_snapshot()
        first = metrics.field
        stored = orjson.loads(await service.redis.hget(METRICS_KEY, first))
        await service.redis.hset(METRICS_KEY, first, orjson.dumps({**stored, "at": stored["at"] - 4000}))
        assert await forget_silent_workers(service.redis, service.scripts) == 1  # silent for over an hour
        for _ in range(3):  # counted while cut off
            metrics.request("/cut-off", "GET", 200, 0.001)
        await service.publish_snapshot()  # finds its field gone
        await service.publish_snapshot()  # under a new field, what came after the folded snapshot
        return first, metrics.field

    redis_client.delete(METRICS_KEY)
    first, second = in_a_worker(redis_server, scenario)
    fields = redis_client.hgetall(METRICS_KEY)
    assert first != second and first.encode() not in fields and second.encode() in fields
    assert served([orjson.loads(v) for v in fields.values()]) == 8


def test_openapi_documents_every_route_with_examples(api):
    spec = api.get("/openapi.json").json()
    assert "EligibilityRequest" in spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            contents = [c for r in operation["responses"].values() for c in r.get("content", {}).values()]
            assert any("example" in c or "examples" in c for c in contents), (method, path)
    body = spec["paths"]["/v1/eligibility"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]


def test_redis_killed_then_restarted(api, redis_server):
    cart = {"member_id": "G1", "lines": [{"sku": "MILK-1L", "qty": 1}]}
    assert eligibility(api, cart)[0] == 200
    redis_server.kill()
    try:
        # the member may still come from the worker's cache until it sees the connection drop;
        # then every answer is bounded by RIGHTS_REDIS_TIMEOUT_MS: a 503, not a hang
        status, body = wait_until(
            lambda: (answer := eligibility(api, cart))[0] != 200 and answer, message="an answer without Redis"
        )
        assert status == 503 and body["error"]["code"] == "redis_unavailable"
        assert api.get("/readyz").status_code == 503
    finally:
        redis_server.start()
    status, body = wait_until(
        lambda: (answer := eligibility(api, cart))[0] == 200 and answer, message="the pool reconnected on its own"
    )
    assert status == 200 and body["member"]["id"] == "G1"  # AOF kept the member
    assert api.get("/readyz").status_code == 200


def test_members_are_cached_and_a_write_anywhere_invalidates_them(api, redis_client):
    """The second read of a member is served by the worker's tracked cache; a write to the
    member by any other client (an order settling, an import) reaches the cache through
    Redis's invalidation messages, so the next quotes see it."""
    cache = api.app.state.service.cache
    wait_until(lambda: cache.active, message="the tracking connection, which comes up with the app")
    cart = {"member_id": "S1", "lines": [{"sku": "MILK-1L", "qty": 1}]}
    assert eligibility(api, cart)[1]["tier"] == "silver"
    hits = cache.hits
    assert eligibility(api, cart)[1]["tier"] == "silver"
    assert cache.hits == hits + 1
    redis_client.hset("m:{S1}", mapping={"tier": "gold", "points": 4000})
    body = wait_until(
        lambda: (answer := eligibility(api, cart)[1])["tier"] == "gold" and answer,
        message="the write invalidating the cached member",
    )
    assert (body["tier"], body["member"]["points"]) == ("gold", 4000)


def test_identity_rebound_reaches_the_cache(api, redis_client):
    ask = {"identity": {"channel": "openid", "value": "oGOLD1"}, "lines": []}
    assert eligibility(api, ask)[1]["member"]["id"] == "G1"
    redis_client.set("idn:{openid:oGOLD1}", "S1")
    wait_until(lambda: eligibility(api, ask)[1]["member"]["id"] == "S1", message="the identity bound to S1")


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"member_id": "M1", "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 9999}], "fulfillment": "pickup"},
        {
            "identity": {"channel": "openid", "value": "oX"},
            "lines": [{"sku": "A", "qty": 1}],
            "location": {"lat": 31.2, "lon": 121.5},
        },
        {"lines": [{"sku": "A", "qty": 0}]},
        {"lines": [{"sku": "A", "qty": 10000}]},
        {"lines": [{"sku": "", "qty": 1}]},
        {"lines": [{"sku": "A" * 65, "qty": 1}]},
        {"lines": [{"sku": "A", "qty": 1}] * 201},
        {"lines": [], "fulfillment": "drone"},
        {"lines": [], "identity": {"channel": "fax", "value": "1"}},
        {"lines": [], "identity": {"channel": "phone", "value": "has space"}},
        {"lines": [], "location": {"lat": 91, "lon": 0}},
        {"lines": [], "extra": 1},
        {"lines": [], "member_id": "bad id!"},
        {"lines": [], "member_id": "M1", "identity": {"channel": "app", "value": "u1"}},
        {"lines": [{"sku": "A", "qty": 1, "price": 1}]},
        {"lines": [{"sku": "A", "qty": "2"}]},
        {"lines": [{"sku": 7, "qty": 1}]},
        {},
    ],
)
def test_the_hand_checks_keep_the_documented_model(body):
    """The eligibility route checks its body by hand; the OpenAPI model documents it. The
    two must accept and refuse the same bodies."""
    from pydantic import ValidationError

    from api.checkout.request import RequestInvalid, parse_request
    from api.schemas import EligibilityRequest

    try:
        EligibilityRequest.model_validate(body)
        documented = True
    except ValidationError:
        documented = False
    try:
        parse_request(body)
        checked = True
    except RequestInvalid:
        checked = False
    assert checked == documented


def test_every_route_refuses_a_body_over_the_limit_even_without_content_length(api):
    def chunks():
        for _ in range(100):
            yield b" " * 1024  # 100 KiB, streamed: no Content-Length

    response = api.post("/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (413, "body_too_large")
    sized = api.post("/v1/orders", content=b" " * 70_000, headers={"Content-Type": "application/json"})
    assert sized.status_code == 413


def test_a_method_a_route_does_not_take_says_which_it_does(api):
    response = api.put("/v1/eligibility")
    assert response.status_code == 405 and "POST" in response.headers["allow"]


# -- segments: a member's imported tags ----------------------------------------------------


def test_an_imported_members_tags_reach_the_segment_coupon(tmp_path, redis_client, redis_server):
    from rights.cli import main

    rows = [
        {"id": "FAM1", "tier": "gold", "openid": "oFAM1", "tags": ["family_0_3", "fitness"]},
        {"id": "OFF1", "tier": "gold", "openid": "oOFF1", "tags": ["office"]},
    ]
    path = tmp_path / "members.jsonl"
    path.write_text("\n".join(orjson.dumps(r).decode() for r in rows) + "\n")
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 0
    with client_for(redis_server) as api:
        cart = {"lines": [{"sku": "CHEESE-KIDS", "qty": 1}]}
        _, family = eligibility(api, {"identity": {"channel": "openid", "value": "oFAM1"}, **cart})
        assert coupon(family, "FAMILY-CHEESE-5OFF") == {
            "applied": True,
            "id": "FAMILY-CHEESE-5OFF",
            "name": "宝宝家庭儿童奶酪立减5元 kids' cheese 5 yuan off for families with a 0-3 year old",
            "kind": "amount_off",
            "amount": 500,
        }
        assert family["totals"] == {"subtotal": 4490, "discount": 500, "payable": 3990}
        _, office = eligibility(api, {"member_id": "OFF1", **cart})
        refused = coupon(office, "FAMILY-CHEESE-5OFF")
        assert (refused["applied"], refused["reason"]) == (False, "segment_not_eligible")
        assert refused["hint"] == {
            "code": "needs_any_of",
            "value": ["family_0_3"],
            "text": "for members tagged family_0_3",
        }
        _, visitor = eligibility(api, cart)
        assert coupon(visitor, "FAMILY-CHEESE-5OFF")["reason"] == "segment_not_eligible"


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/eligibility", {"member_id": "M00001", "lines": []}),
        ("/v1/events", {"event_id": "far-1", "member_id": "M00001", "type": "share"}),
        (
            "/v1/orders",
            {"order_id": "far-1", "member_id": "M00001", "rules_version": "x", "lines": [{"sku": "MILK-1L", "qty": 1}]},
        ),
    ],
    ids=["eligibility", "events", "orders"],
)
def test_an_instant_past_the_year_3000_is_refused_before_anything_is_written(api, route, body):
    """A rehearsal's X-Rights-Now that large once swept points as lapsed (ledger entries at
    the smallest 64-bit instant) before the quote refused it."""
    before = api.get("/v1/members/M00001/ledger").json()
    for instant in ("99999999999999999999", "253402300799", "32503680000"):
        response = api.post(route, json=body, headers={"X-Rights-Now": instant})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "X-Rights-Now"
    assert api.get("/v1/members/M00001/ledger").json() == before


def test_a_body_sent_without_the_json_type_is_refused_except_by_the_checkout(api):
    event = b'{"event_id": "ct-1", "member_id": "M00001", "type": "share"}'
    refused = api.post("/v1/events", content=event, headers={"Content-Type": "text/plain"})
    assert refused.status_code == 422
    assert "Content-Type: application/json" in refused.json()["error"]["reason"]
    cart = b'{"member_id": "M00001", "lines": [{"sku": "MILK-1L", "qty": 1}]}'
    assert api.post("/v1/eligibility", content=cart, headers={"Content-Type": "text/plain"}).status_code == 200
