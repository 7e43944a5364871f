"""Draws through HTTP against a real redis-server: the commitment before any entry,
entries exactly once per key and refused with reasons, the draw once (again returns the
same result), prizes awarded once, and the result recomputed by `rights draw verify`."""

from __future__ import annotations

import json

import pytest
from conftest import at, client_for

from api.redis.keys import draw_award_key, draw_entries_key, grants_key, pick_list_key
from api.store import MemberRecord, write_members
from engine.draws import verify
from rights.cli import main as rights

OPEN = at("2026-11-11 20:30")  # GALA-LUCKY takes entries 20:00-22:30
BEFORE = at("2026-11-11 19:00")
AFTER = at("2026-11-11 22:40")
TOKEN = "draw-admin-token-0123456789"
SECRET = "test-pickup-secret"


@pytest.fixture(autouse=True)
def secrets_set(monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", SECRET)
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)


@pytest.fixture
def api(redis_client, redis_server, tmp_path):
    write_members(
        redis_client,
        [MemberRecord(id=f"S{i}", tier="silver", points=100) for i in range(8)]
        + [
            MemberRecord(id="G1", tier="gold", points=1000, leader="L1"),
            MemberRecord(id="B1", tier="black_gold", points=5000),
            MemberRecord(id="ICE", tier="gold", points=5000, frozen=True),
            MemberRecord(id="VISITOR", points=5000),
            MemberRecord(id="LAPSED", tier="gold", points=5000, paid_until=OPEN - 1),
        ],
    )
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as client:
        yield client


def enter(api, member_id, key="k1", now=OPEN, draw="GALA-LUCKY"):
    headers = {"X-Rights-Now": str(now)}
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post(f"/v1/draws/{draw}/entries", json={"member_id": member_id}, headers=headers)


def draw(api, now=AFTER, token=TOKEN):
    headers = {"X-Rights-Now": str(now)}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return api.post("/v1/draws/GALA-LUCKY/draw", headers=headers)


def test_the_commitment_is_public_before_any_entry_and_the_seed_is_not(api):
    first = api.get("/v1/draws/GALA-LUCKY").json()
    assert first["state"] == "open" and first["entries_count"] == 0
    assert len(first["commitment"]) == 64 and "seed" not in first and "winners" not in first
    assert api.get("/v1/draws/GALA-LUCKY").json()["commitment"] == first["commitment"]  # made once
    assert enter(api, "B1").status_code == 200
    assert api.get("/v1/draws/GALA-LUCKY").json()["commitment"] == first["commitment"]


def test_an_entry_records_tier_and_weight_and_a_replay_is_byte_for_byte(api):
    first = enter(api, "B1")
    assert first.status_code == 200
    body = first.json()
    assert (body["entry"], body["tier"], body["weight"], body["points"], body["balance"]) == (
        1,
        "black_gold",
        3,
        0,
        5000,
    )
    again = enter(api, "B1", now=OPEN + 60)
    assert again.content == first.content
    other = enter(api, "B1", key="k2")
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "entries_used_up",
        "field": "draw_id",
        "reason": "the member has entered the most times allowed (1)",
    }
    assert api.get("/v1/draws/GALA-LUCKY").json()["entries_count"] == 1


@pytest.mark.parametrize(
    ("member", "now", "status", "code", "field"),
    [
        ("G1", BEFORE, 409, "not_open", "draw_id"),
        ("G1", AFTER, 409, "draw_closed", "draw_id"),
        ("ICE", OPEN, 403, "member_frozen", "member_id"),
        ("NOBODY", OPEN, 404, "unknown_member", "member_id"),
        ("VISITOR", OPEN, 403, "members_only", "member_id"),
        ("LAPSED", OPEN, 403, "members_only", "member_id"),
    ],
)
def test_refusals_say_which_field_and_why(api, member, now, status, code, field):
    response = enter(api, member, now=now)
    assert response.status_code == status
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


def test_bad_input_is_refused_before_anything_is_recorded(api):
    assert enter(api, "G1", draw="NO-SUCH").json()["error"]["code"] == "unknown_draw"
    assert enter(api, "G1", draw="NO-SUCH").status_code == 404
    missing = enter(api, "G1", key=None)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "Idempotency-Key"
    bad = api.post("/v1/draws/GALA-LUCKY/entries", json={"member_id": 7}, headers={"Idempotency-Key": "k"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "member_id"
    assert api.get("/v1/draws/NO-SUCH").status_code == 404


def test_drawing_needs_the_admin_token_and_a_closed_window(api):
    assert draw(api, token=None).status_code == 401
    assert draw(api, token="wrong-token-wrong-token").status_code == 403
    early = draw(api, now=OPEN)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_closed"
    assert int(early.headers["Retry-After"]) > 0


def test_a_draw_awards_each_prize_once_and_drawing_again_returns_the_same(api, redis_client, tmp_path):
    members = [f"S{i}" for i in range(8)] + ["G1", "B1"]
    for member in members:
        assert enter(api, member).status_code == 200
    first = draw(api)
    assert first.status_code == 200
    result = first.json()
    assert result["state"] == "drawn" and len(result["seed"]) == 64
    assert len(result["winners"]) == 10 == len({w["member_id"] for w in result["winners"]})  # ten entrants, ten prizes
    assert [w["prize"] for w in result["winners"]] == ["CHEESE-BOX"] * 2 + ["COUPON-50"] * 3 + ["POINTS-500"] * 5
    assert all(w["award"] == "awarded" for w in result["winners"])
    assert verify(result) == []
    again = draw(api, now=AFTER + 600)
    assert again.json()["winners"] == result["winners"] and again.json()["seed"] == result["seed"]

    # each prize landed once: points in the ledger, coupon grants, codes on the pick lists
    for winner in result["winners"]:
        member = winner["member_id"]
        assert redis_client.exists(draw_award_key(member, "GALA-LUCKY"))
        if winner["prize"] == "POINTS-500":
            ledger = api.get(f"/v1/members/{member}/ledger", headers={"X-Rights-Now": str(AFTER)}).json()
            assert [e["delta"] for e in ledger["entries"] if e["reason"] == "draw:GALA-LUCKY"] == [500]
        if winner["prize"] == "COUPON-50":
            grants = redis_client.hgetall(grants_key(member))
            assert sum(1 for k, v in grants.items() if k != b"n" and v.startswith(b"POINTS-50 ")) == 1
        if winner["prize"] == "CHEESE-BOX":
            code = winner["pickup_code"]
            leader = "L1" if member == "G1" else "*"
            assert json.loads(redis_client.hget(pick_list_key(leader), code))["state"] == "issued"
            handed = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code})
            assert handed.status_code == 200
    public = api.get("/v1/draws/GALA-LUCKY").json()
    assert "pickup_code" not in json.dumps(public)  # codes only in the admin answer
    assert public["winners"] == [{k: v for k, v in w.items() if k != "pickup_code"} for w in result["winners"]]

    # entering after the draw is refused; the entry list is kept
    assert enter(api, "ICE", key="late", now=OPEN).json()["error"]["code"] == "draw_closed"
    assert redis_client.hlen(draw_entries_key("GALA-LUCKY")) == 10

    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(public))
    assert rights(["draw", "verify", str(saved)]) == 0
    tampered = dict(public, winners=list(reversed(public["winners"])))
    saved.write_text(json.dumps(tampered))
    assert rights(["draw", "verify", str(saved)]) == 1


def test_the_dashboard_shows_entries_by_tier_and_winners(api):
    for member in ("S1", "S2", "G1", "B1"):
        assert enter(api, member).status_code == 200
    board = api.get("/dashboard/data", params={"room": "gala"}).json()
    (lucky,) = board["draws"]
    assert lucky["entries_by_tier"] == {"black_gold": 1, "gold": 1, "silver": 2} and lucky["winners"] == []
    draw(api)
    lucky = api.get("/dashboard/data", params={"room": "gala"}).json()["draws"][0]
    assert lucky["state"] == "drawn" and len(lucky["winners"]) == 4
    assert {w["member"] for w in lucky["winners"]} == {"S*", "G*", "B*"}  # masked: the screen is open


@pytest.mark.slow
def test_rights_draw_run_and_verify_url_against_a_server(redis_client, redis_server, serve, tmp_path, monkeypatch):
    """`rights draw run` and `rights draw verify --url` against a real `rights serve`: the
    demo draw closed on 11 November 2026, before any clock this runs on."""
    import urllib.request

    write_members(redis_client, [MemberRecord(id=f"S{i}", tier="silver", points=0) for i in range(12)])
    env = {"REDIS_URL": redis_server.url, "RIGHTS_ADMIN_TOKEN": TOKEN, "RIGHTS_ALLOW_CLOCK_OVERRIDE": "true"}
    url = serve(env=env).url
    for i in range(12):
        req = urllib.request.Request(
            f"{url}/v1/draws/GALA-LUCKY/entries",
            data=json.dumps({"member_id": f"S{i}"}).encode(),
            headers={"Content-Type": "application/json", "Idempotency-Key": "k", "X-Rights-Now": str(OPEN)},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as answer:
            assert answer.status == 200
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)
    out = tmp_path / "drawn.json"
    assert rights(["draw", "run", "GALA-LUCKY", "--server", url, "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["winners"]) == 10
    assert rights(["draw", "verify", "--url", f"{url}/v1/draws/GALA-LUCKY"]) == 0
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", "wrong-token-wrong-token")
    assert rights(["draw", "run", "GALA-LUCKY", "--server", url]) == 1


def test_a_checkout_key_enters_and_reads_a_backend_key_does_not_and_drawing_is_admin_only(
    redis_client, redis_server, tmp_path
):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    shop, erp = "shop-key-0123456789abcdef", "erp-key-0123456789abcdefg"
    keys = f"miniapp={shop} checkout; erp={erp} backend"
    with client_for(redis_server, data_dir=str(tmp_path), api_keys=keys) as api:
        body, now = {"member_id": "G1"}, {"X-Rights-Now": str(OPEN), "Idempotency-Key": "k"}
        path = "/v1/draws/GALA-LUCKY/entries"
        assert api.post(path, json=body, headers=now).status_code == 401
        refused = api.post(path, json=body, headers={**now, "X-Api-Key": erp})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_scope"
        assert api.post(path, json=body, headers={**now, "X-Api-Key": shop}).status_code == 200
        assert api.get("/v1/draws/GALA-LUCKY", headers={"X-Api-Key": shop}).status_code == 200
        assert api.get("/v1/draws/GALA-LUCKY", headers={"X-Api-Key": erp}).status_code == 403
        drawing = {"X-Rights-Now": str(AFTER), "X-Api-Key": shop}
        assert api.post("/v1/draws/GALA-LUCKY/draw", headers=drawing).status_code == 401  # a key is no admin token
        admin = {"X-Rights-Now": str(AFTER), "Authorization": f"Bearer {TOKEN}"}
        assert api.post("/v1/draws/GALA-LUCKY/draw", headers=admin).status_code == 200
