"""Several brands on one deployment: each brand's own rule tables, members, stock and admin
token, a request's brand named or implied by its room, and keys that never meet."""

from __future__ import annotations

import pytest
from conftest import at, client_for

from api.brands import scoped
from api.ledger import ledger_entries
from api.redis.keys import Scope, member_key
from api.store import MemberRecord, write_members
from engine.demo import DEMO_GRAIN_RULES

TOKEN = "test-admin-token-0123456789"
GRAIN_TOKEN = "grain-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
GRAIN_ADMIN = {"Authorization": f"Bearer {GRAIN_TOKEN}"}
GRAIN = DEMO_GRAIN_RULES.read_text()
LIVE = {"X-Rights-Now": str(at("2026-11-11 20:30"))}
GRAIN_SCOPE = Scope("grain", "grain")


@pytest.fixture
def tokens(monkeypatch):
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("RIGHTS_BRAND_ADMIN_TOKENS", f"grain={GRAIN_TOKEN}")


def push(client, text: str, brand: str | None, headers=ADMIN):
    params = {"author": "ops-li", **({"brand": brand} if brand else {})}
    return client.post("/v1/rules", content=text.encode(), params=params, headers=headers)


def quote(client, body: dict) -> dict:
    return client.post("/v1/eligibility", json=body, headers=LIVE).json()


def test_a_brand_pushed_is_served_by_its_room_or_its_name(redis_client, redis_server, tokens):
    with client_for(redis_server) as client:
        pushed = push(client, GRAIN, "grain")
        assert pushed.status_code == 201, pushed.text
        assert (pushed.json()["brand"], pushed.json()["version"].split("@")[0]) == ("grain", "grain-oil")
        rice = {"room": "grain-live", "lines": [{"sku": "RICE-5KG", "qty": 1}]}
        answer = quote(client, rice)
        assert answer["rules_version"] == pushed.json()["version"]
        assert answer["lines"][0]["unit_price"] == 3990  # grain's live price
        named = quote(client, {"brand": "grain", "lines": [{"sku": "MILLET-2KG", "qty": 1}]})
        assert named["rules_version"] == pushed.json()["version"]
        home = quote(client, {"room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]})
        assert home["rules_version"].startswith("dairy-gala@")  # the home brand's table is untouched
        unknown = client.post("/v1/eligibility", json={"brand": "nope", "lines": []}, headers=LIVE)
        assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "brand")
        status = client.get("/v1/rules", params={"brand": "grain"}, headers=ADMIN).json()
        assert status["active"]["version"] == pushed.json()["version"] and status["brands"] == ["main", "grain"]


def test_each_brand_has_its_own_members_in_the_same_slot(redis_client, redis_server, tokens):
    write_members(redis_client, [MemberRecord(id="B1", tier="gold", points=500)])
    with scoped(GRAIN_SCOPE):
        write_members(redis_client, [MemberRecord(id="B1", tier="silver", points=70)])
        grain_key = member_key("B1")
    assert grain_key == "m:{B1}~grain" and member_key("B1") == "m:{B1}"
    with client_for(redis_server) as client:
        assert push(client, GRAIN, "grain").status_code == 201
        home = quote(client, {"member_id": "B1", "room": "gala", "lines": []})["member"]
        grain = quote(client, {"member_id": "B1", "room": "grain-live", "lines": []})["member"]
        assert (home["tier"], home["points"]) == ("gold", 500)
        assert (grain["tier"], grain["points"]) == ("silver", 70)
        stranger = quote(client, {"member_id": "B2", "brand": "grain", "lines": []})["member"]
        assert stranger["status"] == "visitor"


def test_an_order_in_a_brands_room_earns_that_brands_points(redis_client, redis_server, tokens):
    with scoped(GRAIN_SCOPE):
        write_members(redis_client, [MemberRecord(id="B3", tier="gold", points=0)])
    write_members(redis_client, [MemberRecord(id="B3", tier="gold", points=0)])
    with client_for(redis_server) as client:
        version = push(client, GRAIN, "grain").json()["version"]
        order = {
            "order_id": "G-1",
            "member_id": "B3",
            "room": "grain-live",
            "lines": [{"sku": "RICE-5KG", "qty": 2}],
            "rules_version": version,
        }
        settled = client.post("/v1/orders", json=order, headers=LIVE)
        assert settled.status_code == 200, settled.text
        assert settled.json()["points"] > 0
        with scoped(GRAIN_SCOPE):
            assert int(redis_client.hget(member_key("B3"), "points")) == settled.json()["points"]
            assert len(ledger_entries(redis_client, "B3")) >= 1
        assert int(redis_client.hget(member_key("B3"), "points")) == 0  # the home brand's balance untouched
        ledger = client.get("/v1/members/B3/ledger", params={"brand": "grain"}).json()
        assert ledger["entries"][0]["reason"] == "order"


def test_a_room_belongs_to_one_brand(redis_client, redis_server, tokens):
    with client_for(redis_server) as client:
        taken = push(client, GRAIN.replace("grain-live", "gala"), "grain")
        assert (taken.status_code, taken.json()["error"]["code"]) == (409, "room_taken")
        bad = push(client, GRAIN, "Not_A_Brand")
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "brand")


def test_a_brand_admin_token_opens_that_brands_rule_tables_only(redis_client, redis_server, tokens):
    with client_for(redis_server) as client:
        assert push(client, GRAIN, "grain", GRAIN_ADMIN).status_code == 201
        home = push(client, GRAIN.replace("grain-live", "other-live"), None, GRAIN_ADMIN)
        assert home.status_code == 403 and "grain" in home.json()["error"]["reason"]
        assert client.get("/v1/rules", params={"brand": "grain"}, headers=GRAIN_ADMIN).status_code == 200
        freeze = client.post("/v1/members/B1/freeze", json={"reason": "x"}, headers=GRAIN_ADMIN)
        assert freeze.status_code == 403
        assert client.post("/v1/rules/rollback", params={"brand": "grain"}, headers=GRAIN_ADMIN).status_code == 404


def test_a_rollback_of_one_brand_leaves_the_others(redis_client, redis_server, tokens):
    with client_for(redis_server) as client:
        first = push(client, GRAIN, "grain").json()["version"]
        cheaper = GRAIN.replace("price: 4990", "price: 4790").replace("name: grain-oil", "name: cheaper-rice")
        second = push(client, cheaper, "grain").json()["version"]
        home_before = quote(client, {"lines": []})["rules_version"]
        assert quote(client, {"brand": "grain", "lines": []})["rules_version"] == second
        rolled = client.post("/v1/rules/rollback", params={"brand": "grain"}, headers=ADMIN)
        assert rolled.json() == {"version": first, "brand": "grain", "activated": True}
        assert quote(client, {"brand": "grain", "lines": []})["rules_version"] == first
        assert quote(client, {"lines": []})["rules_version"] == home_before


def test_a_channel_key_kept_to_a_brand_acts_for_that_brand_only(redis_client, redis_server, tokens):
    keys = "grainapp=grain-checkout-key-0123 checkout brand:grain; shop=every-brand-key-01234 checkout backend"
    with client_for(redis_server, api_keys=keys) as client:
        assert push(client, GRAIN, "grain").status_code == 201
        grain_key, shop_key = {"X-Api-Key": "grain-checkout-key-0123"}, {"X-Api-Key": "every-brand-key-01234"}
        cart = {"room": "grain-live", "lines": [{"sku": "RICE-5KG", "qty": 1}]}
        assert client.post("/v1/eligibility", json=cart, headers={**LIVE, **grain_key}).status_code == 200
        home = client.post("/v1/eligibility", json={"lines": []}, headers={**LIVE, **grain_key})
        assert (home.status_code, home.json()["error"]["code"], home.json()["error"]["field"]) == (
            403,
            "forbidden_scope",
            "brand",
        )
        assert "brand:main" in home.json()["error"]["reason"]
        assert client.post("/v1/eligibility", json={"lines": []}, headers={**LIVE, **shop_key}).status_code == 200
        alerts = client.get("/v1/stock/alerts", params={"brand": "grain"}, headers=shop_key)
        assert alerts.status_code == 200


def test_a_brand_scope_alone_is_not_a_key(monkeypatch):
    from api.access import ApiKeys

    with pytest.raises(ValueError, match="names no scope but brands"):
        ApiKeys("app=abcdefghijklmnop0123 brand:grain")
    grant = ApiKeys("app=abcdefghijklmnop0123 backend brand:grain,dairy").keys[0][1]
    assert grant.brands == {"grain", "dairy"} and grant.describe() == "backend brand:dairy,grain"


def test_a_brand_whose_table_cannot_be_compiled_is_told_not_fatal(redis_client, redis_server, tokens):
    from api.redis.keys import BRANDS_KEY, rules_keys

    keys = rules_keys("zbad")
    redis_client.hset(BRANDS_KEY, "zbad", b'{"added_at": 0, "by": "test"}')
    redis_client.set(keys.source("broken@000000000000"), b"tiers: [unclosed")
    redis_client.set(keys.active, "broken@000000000000")
    with client_for(redis_server) as client:  # the worker starts, serves the others, and says what it cannot
        assert quote(client, {"lines": []})["rules_version"].startswith("dairy-gala@")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "zbad" in ready.json()["reason"]
        assert push(client, GRAIN, "grain").status_code == 201  # a brand after it is still added
        assert quote(client, {"brand": "grain", "lines": []})["rules_version"].startswith("grain-oil@")


def test_a_new_brands_first_table_is_active_at_once_and_a_draw_id_is_one_brands(redis_client, redis_server, tokens):
    with client_for(redis_server) as client:
        later = client.post(
            "/v1/rules",
            content=GRAIN.encode(),
            params={"author": "ops", "brand": "grain", "activate_at": str(2_000_000_000)},
            headers=ADMIN,
        )
        assert (later.status_code, later.json()["error"]["field"]) == (422, "activate_at")
        home_draws = client.app.state.service.table.model.draws
        assert home_draws, "the demo table has a draw"
        draw = home_draws[0].id
        clash = GRAIN + (
            f"\ndraws:\n  - {{id: {draw}, name: copy, room: grain-live,"
            " prizes: [{id: P, name: p, points: 10, stock: 1}]}\n"
        )
        taken = push(client, clash, "grain")
        assert (taken.status_code, taken.json()["error"]["code"]) == (409, "draw_taken"), taken.text


def test_a_server_is_refused_a_redis_whose_home_brand_is_another(redis_client, redis_server):
    from api.serve.rules_at_start import decide
    from engine.demo import DEMO_RULES
    from engine.rules.load import compile_source

    source = DEMO_RULES.read_bytes()
    table = compile_source(source)
    decide(redis_server.url, table, source, "demo.yaml", False, home="dairy")
    with pytest.raises(RuntimeError, match="home brand is dairy"):
        decide(redis_server.url, table, source, "demo.yaml", False, home="main")


def test_the_ledger_chains_of_every_brand_are_verified_apart(redis_client, redis_server, tokens):
    from api.ledger_chain import heads, verify_member

    write_members(redis_client, [MemberRecord(id="B5", tier="gold", points=100)])
    with scoped(GRAIN_SCOPE):
        write_members(redis_client, [MemberRecord(id="B5", tier="gold", points=2000)])
    with client_for(redis_server) as client:
        assert push(client, GRAIN, "grain").status_code == 201
        redeemed = client.post(
            "/v1/redemptions",
            json={"member_id": "B5", "redemption_id": "MILLET-GIFT", "brand": "grain"},
            headers={**LIVE, "Idempotency-Key": "g-1"},
        )
        assert redeemed.status_code == 200, redeemed.text
    found = {head[0]: head[1] for head in heads(redis_client)}
    # an import begins no ledger; the grain member's redemption began its own: opening, redemption
    assert "B5" not in found and found["B5~grain"] == 2
    assert verify_member(redis_client, "B5~grain").finding is None
    with scoped(GRAIN_SCOPE):
        assert int(redis_client.hget(member_key("B5"), "points")) == 500
    assert int(redis_client.hget(member_key("B5"), "points")) == 100
