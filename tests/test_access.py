"""Channel API keys on the member routes, the admin token on the admin ones, and the
per-member rate limits on events and redemptions."""
from __future__ import annotations

import pytest
from conftest import at
from fastapi.testclient import TestClient

from api.access import ApiKeys
from api.app import create_app
from api.settings import Settings
from api.store import MemberRecord, write_members

GALA_21 = at("2026-11-11 21:00")
KEYS = "miniapp=mini-0123456789abcdef,live=live-0123456789abcdef"


def client_for(redis_server, tmp_path, **settings):
    return TestClient(create_app(Settings(redis_url=redis_server.url, access_log=False, allow_clock_override=True,
                                          data_dir=str(tmp_path), **settings)))


def test_member_routes_need_a_channel_key_when_keys_are_set(redis_client, redis_server, tmp_path):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=100)])
    with client_for(redis_server, tmp_path, api_keys=KEYS) as api:
        cart = {"member_id": "G1", "lines": [{"sku": "MILK-1L", "qty": 1}]}
        missing = api.post("/v1/eligibility", json=cart)
        assert (missing.status_code, missing.json()["error"]["field"]) == (401, "X-Api-Key")
        wrong = api.post("/v1/eligibility", json=cart, headers={"X-Api-Key": "live-0123456789abcdeX"})
        assert wrong.status_code == 403
        assert api.post("/v1/eligibility", json=cart, headers={"X-Api-Key": "live-0123456789abcdef"}).status_code == 200
        assert api.get("/v1/members/G1/ledger").status_code == 401
        assert api.get("/v1/noop").status_code == 200 and api.get("/healthz").status_code == 200
        assert api.get("/v1/rules").status_code in (401, 403)  # the admin token, not a channel key


def test_keys_are_checked_in_full_and_a_bad_setting_is_refused():
    keys = ApiKeys(KEYS)
    assert keys.channel(b"mini-0123456789abcdef") == "miniapp"
    assert keys.channel(b"mini-0123456789abcde") is None and keys.channel(None) is None
    with pytest.raises(ValueError):
        ApiKeys("miniapp=short")


def test_events_past_the_rate_limit_get_429_with_retry_after(redis_client, redis_server, tmp_path):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=100),
                                 MemberRecord(id="G2", tier="gold", points=100)])
    with client_for(redis_server, tmp_path, events_per_minute=3, redemptions_per_minute=2) as api:
        answers = [api.post("/v1/events", json={"event_id": f"s{k}", "member_id": "G1", "type": "share"},
                            headers={"X-Rights-Now": str(GALA_21)}) for k in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["error"]["code"] == "rate_limited"
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 61
        other = api.post("/v1/events", json={"event_id": "s9", "member_id": "G2", "type": "share"},
                         headers={"X-Rights-Now": str(GALA_21)})
        assert other.status_code == 200  # the limit is per member
        tries = [api.post("/v1/redemptions", json={"member_id": "G2", "redemption_id": "OATMEAL-LOWGI"},
                          headers={"Idempotency-Key": f"k{k}", "X-Rights-Now": str(GALA_21)}) for k in range(3)]
        assert [t.status_code for t in tries][-1] == 429
