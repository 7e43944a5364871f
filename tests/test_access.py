"""Channel API keys with scopes on the member routes, the admin token on the admin ones,
and the per-member rate limits on events and redemptions."""

from __future__ import annotations

import pytest
from conftest import at, client_for

from api.access import ApiKeys, required_scope
from api.store import MemberRecord, write_members

GALA_21 = at("2026-11-11 21:00")
KEYS = "miniapp=mini-0123456789abcdef checkout; live=live-0123456789abcdef checkout backend"
SCOPED = (
    "shop=shop-0123456789abcdef checkout; erp=erp-0123456789abcdef backend; "
    "tuan=tuan-0123456789abcdef leader:L1,L2; hq=hq-0123456789abcdef0 leader:*"
)


def test_member_routes_need_a_channel_key_when_keys_are_set(redis_client, redis_server, tmp_path):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=100)])
    with client_for(redis_server, data_dir=str(tmp_path), api_keys=KEYS) as api:
        cart = {"member_id": "G1", "lines": [{"sku": "MILK-1L", "qty": 1}]}
        missing = api.post("/v1/eligibility", json=cart)
        assert (missing.status_code, missing.json()["error"]["field"]) == (401, "X-Api-Key")
        wrong = api.post("/v1/eligibility", json=cart, headers={"X-Api-Key": "live-0123456789abcdeX"})
        assert wrong.status_code == 403
        assert api.post("/v1/eligibility", json=cart, headers={"X-Api-Key": "live-0123456789abcdef"}).status_code == 200
        assert api.get("/v1/members/G1/ledger").status_code == 401
        assert api.get("/v1/members/G1/ledger", headers={"X-Api-Key": "live-0123456789abcdef"}).status_code == 200
        assert api.get("/v1/noop").status_code == 200 and api.get("/healthz").status_code == 200
        assert api.get("/v1/rules").status_code in (401, 403)  # the admin token, not a channel key


def test_an_id_named_like_an_admin_action_keeps_its_route_s_scope(redis_client, redis_server, tmp_path):
    """A draw or member whose id is `draw`, `freeze` or `verify` is read with the route's key,
    not waved through as an admin path; the admin actions themselves still need the token."""
    assert [required_scope(p) for p in ("/v1/draws/draw", "/v1/draws/freeze", "/v1/draws/unfreeze/entries")] == [
        "checkout"
    ] * 3
    assert required_scope("/v1/members/draw/ledger") == "backend"
    assert required_scope("/v1/members/freeze/coupons") == "backend"
    assert required_scope("/v1/rulesx") == "backend"  # not under /v1/rules: no admin route, no open door
    for admin in (
        "/v1/draws/draw/draw",
        "/v1/members/freeze/freeze",
        "/v1/members/M1/unfreeze",
        "/v1/members/M1/ledger/verify",
        "/v1/rules",
        "/v1/rules/rollback",
        "/v1/alliances/a/clearing",
    ):
        assert required_scope(admin) is None, admin
    with client_for(redis_server, data_dir=str(tmp_path), api_keys=KEYS) as api:
        for path in ("/v1/draws/draw", "/v1/draws/freeze", "/v1/members/freeze/ledger"):
            refused = api.get(path)
            assert (refused.status_code, refused.json()["error"]["field"]) == (401, "X-Api-Key"), path


def test_keys_are_checked_in_full_and_a_bad_setting_is_refused():
    keys = ApiKeys(KEYS)
    assert keys.grant(b"mini-0123456789abcdef").channel == "miniapp"
    assert keys.grant(b"mini-0123456789abcde") is None and keys.grant(None) is None
    for bad in (
        "miniapp=short checkout",
        "miniapp=mini-0123456789abcdef",
        "miniapp=mini-0123456789abcdef admin",
        "miniapp=mini-0123456789abcdef leader:",
        "miniapp=mini-0123456789abcdef,live=live-0123456789abcdef",
    ):
        with pytest.raises(ValueError, match="RIGHTS_API_KEYS entry 1"):
            ApiKeys(bad)


def test_a_key_file_takes_the_same_entries_and_names_its_bad_line(tmp_path):
    good = tmp_path / "keys.conf"
    good.write_text(
        "# the channels\nshop=shop-0123456789abcdef checkout  # the mini-program\n\n"
        "tuan=tuan-0123456789abcdef leader:L1\n"
    )
    keys = ApiKeys("", str(good))
    assert keys.grant(b"shop-0123456789abcdef").channel == "shop" and keys.grant(b"tuan-0123456789abcdef").acts_for(
        "L1"
    )
    bad = tmp_path / "bad.conf"
    bad.write_text("shop=shop-0123456789abcdef checkout\nerp=erp-0123456789abcdef everything\n")
    with pytest.raises(ValueError, match=f"RIGHTS_API_KEYS_FILE {bad}:2: unknown scope 'everything'"):
        ApiKeys("", str(bad))


def test_each_scope_is_refused_outside_itself(redis_client, redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "scopes-secret")
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=5000, leader="L1")])
    now = {"X-Rights-Now": str(GALA_21)}
    with client_for(redis_server, data_dir=str(tmp_path), api_keys=SCOPED) as api:

        def call(key, method, path, body=None, **headers):
            return api.request(method, path, json=body, headers={"X-Api-Key": key, **now, **headers})

        shop, erp, tuan, hq = (
            "shop-0123456789abcdef",
            "erp-0123456789abcdef",
            "tuan-0123456789abcdef",
            "hq-0123456789abcdef0",
        )
        cart = {"member_id": "G1", "lines": [{"sku": "MILK-1L", "qty": 1}]}
        backend_calls = [
            ("POST", "/v1/events", {"event_id": "s1", "member_id": "G1", "type": "share"}),
            ("GET", "/v1/members/G1/ledger", None),
            ("GET", "/v1/members/G1/expiring", None),
            ("POST", "/v1/orders/O1/refund", {"member_id": "G1"}),
            ("POST", "/v1/orders", {"order_id": "O1", "member_id": "G1", "lines": cart["lines"], "rules_version": "x"}),
        ]
        assert call(shop, "POST", "/v1/eligibility", cart).status_code == 200
        for key in (erp, tuan):
            refused = call(key, "POST", "/v1/eligibility", cart)
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden_scope")
            assert "needs checkout" in refused.json()["error"]["reason"]
        for method, path, body in backend_calls:
            for key in (shop, tuan):
                refused = call(key, method, path, body)
                assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden_scope"), path
                assert "needs backend" in refused.json()["error"]["reason"]
            assert call(erp, method, path, body).status_code != 403, path
        code = call(
            erp,
            "POST",
            "/v1/redemptions",
            {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"},
            **{"Idempotency-Key": "k1"},
        ).json()["pickup_code"]
        for key in (shop, erp):
            refused = call(key, "POST", "/v1/pickups/verify", {"leader_id": "L1", "code": code})
            assert "needs leader:<id>" in refused.json()["error"]["reason"]
            assert call(key, "GET", "/v1/leaders/L1/feed").status_code == 403
        not_mine = call(tuan, "POST", "/v1/pickups/verify", {"leader_id": "L3", "code": code})
        assert (not_mine.status_code, not_mine.json()["error"]["field"]) == (403, "leader_id")
        assert "needs scope leader:L3" in not_mine.json()["error"]["reason"]
        assert call(tuan, "GET", "/v1/leaders/L3/feed").json()["error"]["code"] == "forbidden_scope"
        for key, leader in ((tuan, "L2"), (hq, "L3")):  # past the key's check: no such leader was imported here
            assert call(key, "GET", f"/v1/leaders/{leader}/feed").json()["error"]["code"] == "unknown_leader"
        assert call(tuan, "POST", "/v1/pickups/verify", {"leader_id": "L1", "code": code}).status_code == 200


def test_events_past_the_rate_limit_get_429_with_retry_after(redis_client, redis_server, tmp_path):
    write_members(
        redis_client, [MemberRecord(id="G1", tier="gold", points=100), MemberRecord(id="G2", tier="gold", points=100)]
    )
    with client_for(redis_server, data_dir=str(tmp_path), events_per_minute=3, redemptions_per_minute=2) as api:
        answers = [
            api.post(
                "/v1/events",
                json={"event_id": f"s{k}", "member_id": "G1", "type": "share"},
                headers={"X-Rights-Now": str(GALA_21)},
            )
            for k in range(4)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["error"]["code"] == "rate_limited"
        assert 58 <= int(answers[-1].headers["retry-after"]) <= 60  # the first of the three, a minute on
        other = api.post(
            "/v1/events",
            json={"event_id": "s9", "member_id": "G2", "type": "share"},
            headers={"X-Rights-Now": str(GALA_21)},
        )
        assert other.status_code == 200  # the limit is per member
        tries = [
            api.post(
                "/v1/redemptions",
                json={"member_id": "G2", "redemption_id": "OATMEAL-LOWGI"},
                headers={"Idempotency-Key": f"k{k}", "X-Rights-Now": str(GALA_21)},
            )
            for k in range(3)
        ]
        assert [t.status_code for t in tries][-1] == 429


def _attempts_after(redis_server, member: str, ages_ms: list, tries: int) -> list:
    """The member's window holding attempts made `ages_ms` ago (by Redis's clock, newest
    first), then `tries` redemption attempts against a limit of 3: each one's (state, wait)."""
    from conftest import in_a_worker

    from api import reservations
    from api.access import RateLimit

    rate = RateLimit.of(member, "redemptions", 3)
    assert rate is not None

    async def attempt(service):
        seconds, micros = await service.redis.time()  # seeded just before the attempts
        now_ms = seconds * 1000 + micros // 1000
        if ages_ms:
            await service.redis.rpush(rate.key, *[now_ms - age for age in ages_ms])
        return [
            await reservations.begin(service.scripts, "idem", member, f"k{k}", {"k": k}, 60, rate) for k in range(tries)
        ]

    return in_a_worker(redis_server, attempt)


def test_the_rate_window_moves_so_a_burst_before_a_minute_ends_blocks_the_next_minute(redis_client, redis_server):
    """A fixed clock-minute window lets a burst at 12:00:59 and another at 12:01:00 through,
    twice the limit in two seconds; the moving window counts the last 60 s wherever the
    clock minute turns, and says how long to wait."""
    write_members(redis_client, [MemberRecord(id=f"W{k}", tier="gold", points=0) for k in range(4)])
    burst = _attempts_after(redis_server, "W0", [1000, 1000, 1000], 2)
    assert [state for state, _ in burst] == ["rate_limited", "rate_limited"]
    assert all(58 <= wait <= 59 for _, wait in burst), burst
    assert redis_client.llen("rate:{W0}:redemptions") == 3  # a refused attempt is not recorded

    almost = _attempts_after(redis_server, "W1", [1000, 30_000, 59_000], 1)
    assert almost == [("rate_limited", 1)]  # the oldest leaves the window within the second
    gone = _attempts_after(redis_server, "W2", [1000, 30_000, 60_500], 2)
    assert [state for state, *_ in gone] == ["begun", "rate_limited"]  # one slot freed, one used
    assert 29 <= gone[1][1] <= 30  # then the 30 s old one is next to leave

    fresh = _attempts_after(redis_server, "W3", [], 4)
    assert [state for state, *_ in fresh] == ["begun", "begun", "begun", "rate_limited"]
    assert 59 <= fresh[3][1] <= 60
    assert 0 < redis_client.pttl("rate:{W3}:redemptions") <= 60_000  # gone a minute after its last attempt


def test_every_refusal_of_the_keys_is_in_the_openapi_document(redis_client, redis_server, tmp_path):
    """Each route the keys guard answers 401 without a key and 403 with a checkout-only key
    where it needs another scope; its OpenAPI entry lists both, and every route but the
    probes lists 503 (the in-flight limit, Redis)."""
    with client_for(redis_server, data_dir=str(tmp_path), api_keys=SCOPED) as api:
        spec = api.get("/openapi.json").json()
        guarded = 0
        for route, operations in spec["paths"].items():
            concrete = route.replace("{", "").replace("}", "")  # any id: the key check comes first
            for method, operation in operations.items():
                answers = set(operation["responses"])
                if route not in ("/healthz", "/readyz", "/metrics"):
                    assert "503" in answers, (method, route)
                status = api.request(method.upper(), concrete).status_code
                if status == 401:
                    guarded += 1
                    assert {"401", "403"} <= answers, (method, route, sorted(answers))
                    keyed = api.request(method.upper(), concrete, headers={"X-Api-Key": "tuan-0123456789abcdef"})
                    assert str(keyed.status_code) in answers, (method, route, keyed.status_code)
        assert guarded >= 15
