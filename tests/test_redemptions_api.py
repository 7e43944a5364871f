"""Instant redemption through HTTP against a real redis-server: exactly once per key,
never oversold under a race, refusals with reasons, signed pickup codes handed over
once, and the recovery of attempts a crash left half done."""

from __future__ import annotations

import asyncio

import pytest
from conftest import at, client_for
from serving import wait_until

from api.redeem import recover
from api.redis.keys import REDEMPTIONS, idempotency_key, reservations_index_key, reservations_key, stock_key
from api.redis.scripts import Scripts
from api.store import MemberRecord, write_members

GALA_21 = at("2026-11-11 21:00")
GALA_END = at("2026-11-11 23:00")
SECRET = "test-pickup-secret"


@pytest.fixture(autouse=True)
def pickup_secret(monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", SECRET)


@pytest.fixture
def api(redis_client, redis_server, tmp_path):
    write_members(
        redis_client,
        [
            MemberRecord(id="G1", tier="gold", points=1850),
            MemberRecord(id="RICH", tier="gold", points=10_000, leader="L1"),
            MemberRecord(id="POOR", tier="gold", points=100),
            MemberRecord(id="ICE", tier="gold", points=5000, frozen=True),
            MemberRecord(id="WATCHER", tier="gold", points=5000, sessions_watched=3),
        ],
    )
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as client:
        yield client


def redeem(api, body, key="k1", now=GALA_21):
    headers = {"X-Rights-Now": str(now)}
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post("/v1/redemptions", json=body, headers=headers)


def balance(api, member_id, now=GALA_21):
    return api.get(f"/v1/members/{member_id}/ledger", headers={"X-Rights-Now": str(now)}).json()


def test_a_redemption_takes_the_points_and_issues_a_pickup_code(api):
    response = redeem(api, {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"})
    assert response.status_code == 200
    body = response.json()
    assert (body["points"], body["balance"], body["leader_id"], body["at"]) == (1800, 50, None, GALA_21)
    assert body["pickup_code"].startswith("P1~G1~OATMEAL-LOWGI~*~")
    ledger = balance(api, "G1")
    assert ledger["balance"] == 50 == sum(e["delta"] for e in ledger["entries"])
    assert (ledger["entries"][0]["reason"], ledger["entries"][0]["delta"]) == ("redeem:OATMEAL-LOWGI", -1800)


def test_a_replay_returns_the_first_answer_byte_for_byte(api):
    first = redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"})
    again = redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}, now=GALA_21 + 3600)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert balance(api, "RICH")["balance"] == 10_000 - 1800
    other = redeem(api, {"member_id": "RICH", "redemption_id": "OLIVE-OIL"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_refusal_is_kept_for_its_key_too(api, redis_client):
    refused = redeem(api, {"member_id": "POOR", "redemption_id": "OATMEAL-LOWGI"})
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "insufficient_points",
        "field": "redemption_id",
        "reason": "the balance is 1700 points short",
    }
    write_members(redis_client, [MemberRecord(id="POOR", tier="gold", points=5000)])
    assert redeem(api, {"member_id": "POOR", "redemption_id": "OATMEAL-LOWGI"}).content == refused.content
    assert redeem(api, {"member_id": "POOR", "redemption_id": "OATMEAL-LOWGI"}, key="k2").status_code == 200


def test_the_member_limit_holds(api):
    answers = [redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}, key=f"k{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 409]
    assert answers[2].json()["error"]["code"] == "member_limit_reached"


def test_the_flash_item_opens_in_the_last_five_minutes_of_its_room(api):
    early = redeem(api, {"member_id": "RICH", "redemption_id": "FLASH-EGGS", "room": "gala"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "outside_window"
    late = redeem(
        api, {"member_id": "RICH", "redemption_id": "FLASH-EGGS", "room": "gala"}, key="k2", now=GALA_END - 120
    )
    assert late.status_code == 200


@pytest.mark.parametrize(
    "body, key, status, code",
    [
        ({"member_id": "NOBODY", "redemption_id": "OATMEAL-LOWGI"}, "k1", 404, "unknown_member"),
        ({"member_id": "G1", "redemption_id": "CAVIAR"}, "k1", 404, "unknown_redemption"),
        ({"member_id": "ICE", "redemption_id": "OATMEAL-LOWGI"}, "k1", 403, "member_frozen"),
        ({"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"}, None, 422, "invalid_request"),
        ({"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"}, "bad key!", 422, "invalid_request"),
        ({"member_id": "G1", "redemption_id": "OATMEAL-LOWGI", "room": "moon"}, "k1", 422, "invalid_request"),
        ({"member_id": "G1"}, "k1", 422, "invalid_request"),
    ],
)
def test_refusals_say_why(api, body, key, status, code):
    response = redeem(api, body, key=key)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_pickup_code_is_handed_over_once_by_its_leader(api):
    code = redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}).json()["pickup_code"]
    assert code.startswith("P1~RICH~OATMEAL-LOWGI~L1~")
    wrong = api.post("/v1/pickups/verify", json={"leader_id": "L2", "code": code})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_leader")
    forged = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code[:-4] + "AAAA"})
    assert (forged.status_code, forged.json()["error"]["code"]) == (403, "invalid_code")
    handed = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code})
    assert handed.json() == {
        "handed_over": True,
        "member_id": "RICH",
        "redemption_id": "OATMEAL-LOWGI",
        "leader_id": "L1",
    }
    again = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_handed_over")


def _minted(leader_id: str, member_id: str = "RICH", serial: str = "42") -> str:
    """A code signed with a leader's own tag key, as that leader's app could sign one."""
    import base64
    import hashlib
    import hmac

    from api.pickup_codes import leader_key

    payload = f"P1~{member_id}~OATMEAL-LOWGI~{leader_id}~{serial}"
    tag = hmac.new(leader_key(SECRET.encode(), leader_id), payload.encode(), hashlib.sha256).digest()[:15]
    return f"{payload}~{base64.urlsafe_b64encode(tag).decode()}"


@pytest.mark.parametrize("leader_id", ["L1", "*"])
def test_a_code_a_leader_signed_itself_for_nothing_redeemed_is_not_handed_over(api, leader_id):
    minted = _minted(leader_id)
    response = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": minted})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "not_issued")
    # a real redemption for the same member and item issues its own code; the minted one stays refused
    issued = redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}).json()["pickup_code"]
    assert api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": minted}).status_code == 403
    assert api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": issued}).status_code == 200


def test_a_serial_that_is_not_ascii_digits_is_an_invalid_code(api):
    response = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": _minted("L1", serial="\u00b2")})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "invalid_code")


def test_an_any_leader_code_is_handed_over_once_by_whichever_leader_scans_it(api):
    code = redeem(api, {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"}).json()["pickup_code"]
    assert code.startswith("P1~G1~OATMEAL-LOWGI~*~")
    assert api.post("/v1/pickups/verify", json={"leader_id": "L7", "code": code}).status_code == 200
    again = api.post("/v1/pickups/verify", json={"leader_id": "L8", "code": code})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_handed_over")


def test_pick_lists_keep_codes_for_their_retention_then_refuse_them(redis_server, redis_client):
    from api.pickups import PICKUP_RETENTION_DAYS, hand_over, list_pending, mark_issued
    from api.redis.connect import async_client
    from api.redis.keys import pick_issued_key, pick_list_key

    day = 86400
    issued_at = 1_800_000_000.0

    async def scenario():
        client = async_client(redis_server.url)
        scripts = Scripts(client)
        try:
            for code in ("OLD", "HANDED"):
                await list_pending(scripts, "L1", code, "M1", "OATMEAL-LOWGI", 1, "k", wall_now=issued_at)
                await mark_issued(scripts, "L1", code)
            assert (await hand_over(scripts, "L1", "HANDED", 2, wall_now=issued_at + day))[0] == "handed_over"
            later = issued_at + PICKUP_RETENTION_DAYS * day + 1
            await list_pending(scripts, "L1", "NEW", "M2", "OATMEAL-LOWGI", 3, "k2", wall_now=later)
            listed = {k.decode() for k in await client.hkeys(pick_list_key("L1"))}
            indexed = {k.decode() for k in await client.zrange(pick_issued_key("L1"), 0, -1)}
            replay = await hand_over(scripts, "L1", "HANDED", 4, wall_now=later)
            return listed, indexed, replay
        finally:
            await client.aclose()

    listed, indexed, replay = asyncio.run(scenario())
    assert listed == indexed == {"NEW"}  # both past their retention, handed over or not
    assert replay == ("not_issued",)  # pruned: refused, never handed over a second time


def test_a_redemption_cut_off_after_the_points_were_taken_is_still_handed_over(api, redis_client):
    """The request stopped between the member's script and marking its code issued (a
    crash, a 503 overloaded): the code is pending on the list, and the attempt's own
    record, which holds this very code, makes it issued at the handover."""
    import orjson

    from api.redis.keys import pick_list_key

    code = redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}, key="cut").json()["pickup_code"]
    record = orjson.loads(redis_client.hget(pick_list_key("L1"), code))
    redis_client.hset(pick_list_key("L1"), code, orjson.dumps({**record, "state": "pending"}))
    handed = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code})
    assert handed.status_code == 200 and handed.json()["member_id"] == "RICH"
    again = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code})
    assert again.json()["error"]["code"] == "already_handed_over"


def test_a_pending_code_whose_attempt_took_no_points_is_not_issued(api, redis_client):
    from api.pickups import list_pending
    from api.redis.connect import async_client

    minted = _minted("L1")

    async def left_pending():  # listed before a member's script that never ran
        client = async_client(api.app.state.service.settings.redis_url)
        try:
            await list_pending(Scripts(client), "L1", minted, "RICH", "OATMEAL-LOWGI", GALA_21, "ghost")
        finally:
            await client.aclose()

    asyncio.run(left_pending())
    response = api.post("/v1/pickups/verify", json={"leader_id": "L1", "code": minted})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "not_issued")


def test_a_refused_redemption_leaves_no_code_on_the_list(api, redis_client):
    from api.redis.keys import pick_list_key

    refused = redeem(api, {"member_id": "POOR", "redemption_id": "OATMEAL-LOWGI"}, key="poor")
    assert refused.json()["error"]["code"] == "insufficient_points"
    assert redis_client.hlen(pick_list_key("*")) == 0


def test_a_leaders_app_verifies_codes_offline_with_its_own_key():
    from api.pickup_codes import CodeInvalid, PickupCode, leader_key, make_code, verify_code

    code = make_code(SECRET.encode(), PickupCode("M1", "OATMEAL-LOWGI", "L1", 7))
    assert verify_code(leader_key(SECRET.encode(), "L1"), code) == PickupCode("M1", "OATMEAL-LOWGI", "L1", 7)
    with pytest.raises(CodeInvalid):
        verify_code(leader_key(SECRET.encode(), "L2"), code)  # another leader's key cannot check it


def test_recovery_settles_what_a_crash_left_half_done(api, redis_client):
    from api.redis.connect import async_client

    # a crash after the unit was reserved, before the member's script: the unit comes back
    redis_client.set(stock_key(REDEMPTIONS, "OATMEAL-LOWGI"), 499)
    redis_client.hset(reservations_key(REDEMPTIONS, "OATMEAL-LOWGI"), "idem|G1|lost|n1", GALA_21)
    redis_client.zadd(reservations_index_key(REDEMPTIONS), {"OATMEAL-LOWGI": GALA_21})
    redis_client.hset(
        idempotency_key("G1", "lost"), mapping={"state": "running", "nonce": "n1", "started": GALA_21, "hash": "x"}
    )
    # a crash after the member's script, before the commit: the unit stays taken
    done = redeem(api, {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}, key="kept")
    assert done.status_code == 200
    kept = f"idem|RICH|kept|{_nonce(redis_client, 'RICH', 'kept')}"
    redis_client.hset(reservations_key(REDEMPTIONS, "OATMEAL-LOWGI"), kept, GALA_21)
    left_before = int(redis_client.get(stock_key(REDEMPTIONS, "OATMEAL-LOWGI")))

    async def run():
        client = async_client(api.app.state.service.settings.redis_url)
        try:
            return await recover(client, Scripts(client), now=GALA_21 + 60)
        finally:
            await client.aclose()

    assert asyncio.run(run()) == {"committed": 1, "released": 1}
    assert int(redis_client.get(stock_key(REDEMPTIONS, "OATMEAL-LOWGI"))) == left_before + 1
    assert redis_client.hlen(reservations_key(REDEMPTIONS, "OATMEAL-LOWGI")) == 0
    assert redis_client.hget(idempotency_key("G1", "lost"), "state") == b"abandoned"
    # the abandoned attempt's key starts afresh
    assert redeem(api, {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"}, key="lost").status_code == 200


def _nonce(redis_client, member_id, key):
    return redis_client.hget(idempotency_key(member_id, key), "nonce").decode()


@pytest.mark.slow
def test_2000_concurrent_redemptions_never_oversell(redis_client, redis_server, tmp_path):
    """500 members, 4 requests each, for an item with stock 100, against two worker
    processes with the default Redis timeout: exactly 100 succeed, every other answer is a
    409 (never a 503: Redis is healthy, the workers are only busy), no balance below zero,
    every ledger sums to its balance, and the stock ends at 0. `rights bench rush` runs
    it 20 times in a row."""
    from bench.rush_bench import run_once

    outcome = run_once(redis_server.url, tmp_path)
    print((tmp_path / "server.log").read_text()[-3000:])
    assert outcome["requests"] == 2000 and set(outcome["statuses"]) <= {200, 409}, outcome
    assert outcome["sold"] == 100 and outcome["stock_left"] == 0 and outcome["open_reservations"] == 0
    assert set(outcome["codes"]) <= {"out_of_stock", "insufficient_points"}
    assert outcome["books_hold"]


def test_a_replay_while_the_first_attempt_runs_is_told_so(api, redis_client):
    import time as clock

    from api.reservations import body_hash

    body = {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI", "room": None}
    redis_client.hset(
        idempotency_key("G1", "busy"),
        mapping={"state": "running", "nonce": "n1", "started": int(clock.time()), "hash": body_hash(body)},
    )
    response = redeem(api, {"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"}, key="busy")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "in_progress")


def test_checkout_stops_offering_an_item_sold_out_in_redis(api, redis_client):
    cart = {"member_id": "RICH", "lines": []}

    def oatmeal():
        answer = api.post("/v1/eligibility", json=cart, headers={"X-Rights-Now": str(GALA_21)}).json()
        return next(r for r in answer["redemptions"] if r["id"] == "OATMEAL-LOWGI")

    assert oatmeal()["available"] is True
    redis_client.set(stock_key(REDEMPTIONS, "OATMEAL-LOWGI"), 0)
    # once Redis has invalidated the worker's cached count
    shown = wait_until(lambda: not (answer := oatmeal())["available"] and answer, message="the item sold out")
    assert (shown["available"], shown["reason"]) == (False, "out_of_stock")


def test_a_redemption_for_a_segment_is_refused_to_a_member_outside_it(redis_client, redis_server, tmp_path):
    from engine.demo import DEMO_RULES

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        DEMO_RULES.read_text(encoding="utf-8")
        + "  - {id: BABY-BIB, name: bib, points: 100, segments: {any_of: [family_0_3]}}\n",
        encoding="utf-8",
    )
    write_members(
        redis_client,
        [
            MemberRecord(id="FAM", tier="gold", points=1000, tags=["family_0_3"]),
            MemberRecord(id="OFF", tier="gold", points=1000, tags=["office"]),
        ],
    )
    with client_for(redis_server, redis_timeout_ms=500, rules=str(rules), data_dir=str(tmp_path)) as api:
        refused = redeem(api, {"member_id": "OFF", "redemption_id": "BABY-BIB"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "segment_not_eligible"
        assert redeem(api, {"member_id": "FAM", "redemption_id": "BABY-BIB"}, key="k2").status_code == 200
        assert balance(api, "FAM")["balance"] == 900
