"""Behaviour events and the points ledger through HTTP, against a real redis-server:
points arrive at once, an event counts once, caps hold, anti-cheat refuses impossible
watch times, expired points lapse, and the ledger always sums to the balance."""

from __future__ import annotations

import re

import orjson
import pytest
import yaml
from conftest import at, client_for

from api.store import MemberRecord, write_members
from engine.demo import DEMO_RULES
from engine.rules.validate import build_table

GALA_21 = at("2026-11-11 21:00")  # the gala room is live 20:00-23:00


def _client(redis_server, rules: str = str(DEMO_RULES)):
    return client_for(redis_server, redis_timeout_ms=300, rules=rules)


@pytest.fixture
def api(redis_client, redis_server):
    write_members(
        redis_client,
        [MemberRecord(id="G1", tier="gold", points=1850), MemberRecord(id="ICE", tier="gold", points=300, frozen=True)],
    )
    with _client(redis_server) as client:
        yield client


@pytest.fixture
def expiring_rules(tmp_path):
    """The demo table with points that lapse after a day, and watch points for one session."""
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["points"].pop("expire_after_months")
    data["points"]["expire_after_days"] = 1
    data["points"]["events"]["watch"]["session_only"] = True
    path = tmp_path / "expiring.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def event(api, body, now=GALA_21):
    response = api.post("/v1/events", json=body, headers={"X-Rights-Now": str(now)})
    return response


def ledger(api, member_id, now=GALA_21, **params):
    return api.get(f"/v1/members/{member_id}/ledger", params=params, headers={"X-Rights-Now": str(now)})


def quoted_points(api, member_id, now=GALA_21):
    body = {"member_id": member_id, "lines": [{"sku": "MILK-1L", "qty": 1}]}
    response = api.post("/v1/eligibility", content=orjson.dumps(body), headers={"X-Rights-Now": str(now)})
    return response.json()["member"]["points"]


def all_entries(api, member_id, now=GALA_21):
    entries, before = [], None
    while True:
        page = ledger(api, member_id, now, limit=2, **({"before": before} if before else {})).json()
        entries += page["entries"]
        before = page["next"]
        if before is None:
            return page["balance"], entries


def test_a_watch_event_credits_at_once_and_checkout_sees_it(api):
    response = event(api, {"event_id": "w1", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 900})
    assert response.status_code == 200
    assert response.json() == {
        "event_id": "w1",
        "member_id": "G1",
        "type": "watch",
        "points": 20,
        "balance": 1870,
        "expires": 1825948800,  # the demo's expire_after_months: 12, usable through 2027-11-11 (+08:00)
        "note": None,
        "tier": None,  # the demo's tiers have a reach: one watch day moves no one up
    }
    assert quoted_points(api, "G1") == 1870


def test_the_same_event_id_counts_once_and_gets_the_first_answer(api):
    body = {"event_id": "s1", "member_id": "G1", "type": "share"}
    first = event(api, body)
    again = event(api, body, now=GALA_21 + 60)
    assert first.content == again.content
    assert again.headers["idempotent-replay"] == "true" and "idempotent-replay" not in first.headers
    assert ledger(api, "G1").json()["balance"] == 1855


def test_caps_per_session_and_per_day_hold(api):
    watch = {"member_id": "G1", "type": "watch", "room": "gala", "seconds": 700}
    assert event(api, {"event_id": "w1", **watch}).json()["points"] == 20
    capped = event(api, {"event_id": "w2", **watch}).json()
    assert (capped["points"], capped["note"], capped["balance"]) == (0, "cap_per_session", 1870)
    shares = [event(api, {"event_id": f"s{k}", "member_id": "G1", "type": "share"}).json() for k in range(4)]
    assert [s["points"] for s in shares] == [5, 5, 5, 0]
    assert shares[-1]["note"] == "cap_per_day"
    next_day = event(api, {"event_id": "s9", "member_id": "G1", "type": "share"}, now=GALA_21 + 86400)
    assert next_day.json()["points"] == 5


def test_watch_time_beyond_the_live_time_is_refused(api):
    # at 21:00 the gala room has been live for 3,600 s
    response = event(api, {"event_id": "w1", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 3601})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "seconds"
    short = event(api, {"event_id": "w2", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 599})
    assert (short.json()["points"], short.json()["note"]) == (0, "below_min_seconds")
    assert ledger(api, "G1").json()["balance"] == 1850
    for late in (at("2026-11-11 23:00"), at("2026-11-13 21:00")):  # the gala's session ended at 23:00
        watch = {"event_id": f"late{late}", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 600}
        refused = event(api, watch, now=late)
        assert (refused.status_code, refused.json()["error"]["field"]) == (422, "room"), refused.text
    assert ledger(api, "G1").json()["balance"] == 1850


@pytest.mark.parametrize(
    "body, field",
    [
        ({"event_id": "x", "member_id": "G1", "type": "watch", "room": "gala"}, "seconds"),
        ({"event_id": "x", "member_id": "G1", "type": "watch", "seconds": 700}, "room"),
        ({"event_id": "x", "member_id": "G1", "type": "share", "seconds": 700}, "seconds"),
        ({"event_id": "x", "member_id": "G1", "type": "share", "room": "nowhere"}, "room"),
        ({"event_id": "x", "member_id": "G1", "type": "like"}, "type"),
        ({"event_id": "", "member_id": "G1", "type": "share"}, "event_id"),
        ({"event_id": "x", "member_id": "G1", "type": "watch", "room": "gala", "seconds": "700"}, "seconds"),
    ],
)
def test_bad_events_name_the_field(api, body, field):
    response = event(api, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_unknown_and_frozen_members_earn_nothing(api):
    unknown = event(api, {"event_id": "s1", "member_id": "NOBODY", "type": "share"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_member")
    frozen = event(api, {"event_id": "s1", "member_id": "ICE", "type": "share"})
    assert (frozen.status_code, frozen.json()["error"]["code"]) == (403, "member_frozen")
    assert ledger(api, "ICE").json()["balance"] == 300


def test_the_ledger_pages_newest_first_and_sums_to_the_balance(api, redis_client):
    for k in range(3):
        event(api, {"event_id": f"s{k}", "member_id": "G1", "type": "share"})
    event(api, {"event_id": "p1", "member_id": "G1", "type": "photo_review"})
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=1000)])  # an import lowers it
    balance, entries = all_entries(api, "G1")
    assert balance == 1000 == sum(e["delta"] for e in entries)
    assert [e["reason"] for e in entries] == [
        "import",
        "event:photo_review",
        "event:share",
        "event:share",
        "event:share",
        "opening",
    ]
    assert entries[0]["delta"] == -(1850 + 15 + 30 - 1000)
    assert [e["balance"] for e in entries] == [1000, 1895, 1865, 1860, 1855, 1850]


def test_bad_ledger_requests(api):
    assert ledger(api, "NOBODY").status_code == 404
    assert ledger(api, "G1", before="yesterday").json()["error"]["field"] == "before"
    assert ledger(api, "G1", limit=0).status_code == 422


def test_points_lapse_when_they_expire(redis_client, redis_server, expiring_rules):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=1850)])
    with _client(redis_server, expiring_rules) as api:
        shared = event(api, {"event_id": "s1", "member_id": "G1", "type": "share"}).json()
        assert (shared["points"], shared["expires"]) == (5, GALA_21 + 86400)
        assert quoted_points(api, "G1", now=GALA_21 + 86399) == 1855
        assert quoted_points(api, "G1", now=GALA_21 + 86400) == 1850  # lapsed before the quote
        balance, entries = all_entries(api, "G1", now=GALA_21 + 86400)
        assert balance == 1850 == sum(e["delta"] for e in entries)
        assert (entries[0]["reason"], entries[0]["delta"]) == ("expired", -5)


def test_session_only_points_lapse_when_the_session_ends(redis_client, redis_server, expiring_rules):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=100)])
    gala_end = at("2026-11-11 23:00")
    with _client(redis_server, expiring_rules) as api:
        watched = event(
            api, {"event_id": "w1", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 700}
        ).json()
        assert (watched["points"], watched["expires"]) == (20, gala_end)
        assert quoted_points(api, "G1", now=gala_end - 1) == 120
        assert quoted_points(api, "G1", now=gala_end) == 100
        after = event(
            api,
            {"event_id": "w2", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 700},
            now=gala_end + 10,
        )
        assert after.status_code == 422 and after.json()["error"]["field"] == "room"


def test_a_member_written_before_the_ledger_gets_an_opening_lot(api, redis_client):
    redis_client.hset("m:{OLD}", mapping={"tier": "gold", "points": 700})  # no lots yet
    assert event(api, {"event_id": "s1", "member_id": "OLD", "type": "share"}).json()["balance"] == 705
    balance, entries = all_entries(api, "OLD")
    assert balance == 705 and [e["reason"] for e in entries] == ["event:share", "opening"]


def test_a_body_that_is_not_a_json_object_is_refused_clearly(api):
    malformed = api.post("/v1/events", content=b"{bad", headers={"content-type": "application/json"})
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "malformed_json")
    untyped = api.post("/v1/events", content=orjson.dumps({"event_id": "s1", "member_id": "G1", "type": "share"}))
    assert untyped.status_code == 422 and "Content-Type" in untyped.json()["error"]["reason"]


def test_too_many_invites_in_an_hour_freeze_the_member_until_an_admin_unfreezes(api, monkeypatch):
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", "t0ken-for-tests")
    invite = {"member_id": "G1", "type": "invite_order"}
    answers = [event(api, {"event_id": f"i{k}", **invite}, now=GALA_21 + k) for k in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [403]  # the demo rule: at most 10 an hour
    assert answers[-1].json()["error"]["code"] == "member_frozen"
    assert event(api, {"event_id": "s1", "member_id": "G1", "type": "share"}).status_code == 403
    redeemed = api.post(
        "/v1/redemptions",
        json={"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"},
        headers={"Idempotency-Key": "k1", "X-Rights-Now": str(GALA_21)},
    )
    assert redeemed.status_code == 403  # spends nothing either
    assert api.post("/v1/members/G1/unfreeze").status_code == 401
    admin = {"Authorization": "Bearer t0ken-for-tests"}
    assert api.post("/v1/members/G1/unfreeze", headers=admin).json() == {"member_id": "G1", "frozen": False}
    assert event(api, {"event_id": "s1", "member_id": "G1", "type": "share"}).status_code == 200
    frozen = api.post("/v1/members/G1/freeze", json={"reason": "review"}, headers=admin)
    assert frozen.json() == {"member_id": "G1", "frozen": True}
    reasons = [e["reason"] for e in ledger(api, "G1").json()["entries"]]
    assert reasons[:4] == ["frozen", "event:share", "unfrozen", "frozen"]
    assert api.post("/v1/members/NOBODY/freeze", headers=admin).status_code == 404


def test_the_scripts_survive_a_script_cache_flush(api, redis_client):
    """Redis forgets its scripts on a restart or SCRIPT FLUSH; the next call loads them again."""
    assert event(api, {"event_id": "s1", "member_id": "G1", "type": "share"}).status_code == 200
    redis_client.script_flush()
    assert event(api, {"event_id": "s2", "member_id": "G1", "type": "share"}).json()["balance"] == 1860
    redeemed = api.post(
        "/v1/redemptions",
        json={"member_id": "G1", "redemption_id": "OLIVE-OIL"},
        headers={"Idempotency-Key": "k1", "X-Rights-Now": str(GALA_21)},
    )
    assert redeemed.status_code == 200


def test_spending_takes_the_oldest_points_first(redis_client, redis_server, expiring_rules):
    """1,850 opening points (never lapse), then 5 from a share (lapse in a day): spending
    1,800 takes them from the opening lot, so the day after, the 5 lapse whole and 50 stay."""
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=1850)])
    with _client(redis_server, expiring_rules) as api:
        assert event(api, {"event_id": "s1", "member_id": "G1", "type": "share"}).json()["balance"] == 1855
        spent = api.post(
            "/v1/redemptions",
            json={"member_id": "G1", "redemption_id": "OATMEAL-LOWGI"},
            headers={"Idempotency-Key": "k1", "X-Rights-Now": str(GALA_21 + 60)},
        )
        assert spent.json()["balance"] == 55
        balance, entries = all_entries(api, "G1", now=GALA_21 + 86400)
        assert balance == 50 and (entries[0]["reason"], entries[0]["delta"]) == ("expired", -5)


# -- event kinds the rule table names -------------------------------------------------------


@pytest.fixture
def authored(redis_client, redis_server, tmp_path):
    """The demo table with kinds of its own: a daily check-in (once a day), a comment
    capped per ISO week, and a reply that needs a live room."""
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["points"]["events"].update(
        check_in={"points": 5, "cap_per_day": 5, "counts_toward": ["daily_visits"]},
        comment={"points": 2, "cap_per_week": 6},
        live_reply={"points": 3, "session_only": True, "cap_per_session": 6},
        like={"points": 1, "freeze_above_per_hour": 3},
    )
    data["progression"]["tasks"]["daily_visits"] = {"streak_days": 7}
    path = tmp_path / "authored.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=1850)])
    with _client(redis_server, str(path)) as client:
        yield client


def test_a_daily_check_in_earns_once_a_day(authored):
    check_in = {"member_id": "G1", "type": "check_in"}
    first = event(authored, {"event_id": "c1", **check_in}).json()
    assert (first["type"], first["points"], first["balance"], first["note"]) == ("check_in", 5, 1855, None)
    again = event(authored, {"event_id": "c2", **check_in}, now=GALA_21 + 2 * 3600).json()  # 23:00, same day
    assert (again["points"], again["balance"], again["note"]) == (0, 1855, "cap_per_day")
    next_day = event(authored, {"event_id": "c3", **check_in}, now=GALA_21 + 4 * 3600).json()  # 01:00 next day
    assert (next_day["points"], next_day["balance"], next_day["note"]) == (5, 1860, None)
    reasons = [e["reason"] for e in ledger(authored, "G1", now=GALA_21 + 4 * 3600).json()["entries"]]
    assert reasons.count("event:check_in") == 2


def test_a_week_cap_holds_through_the_iso_week_and_opens_on_monday(authored):
    # 2026-11-11 is the Wednesday of ISO week 46; Sunday 15th 23:59 is its last minute (+08:00)
    comment = {"member_id": "G1", "type": "comment"}
    days = [GALA_21 + k * 86400 for k in range(3)]  # Wed, Thu, Fri
    earned = [event(authored, {"event_id": f"m{k}", **comment}, now=t).json()["points"] for k, t in enumerate(days)]
    assert earned == [2, 2, 2]
    sunday = event(authored, {"event_id": "m-sun", **comment}, now=at("2026-11-15 23:59")).json()
    assert (sunday["points"], sunday["note"]) == (0, "cap_per_week")
    monday = event(authored, {"event_id": "m-mon", **comment}, now=at("2026-11-16 00:00")).json()
    assert (monday["points"], monday["note"], monday["balance"]) == (2, None, 1858)


def test_an_authored_session_kind_needs_a_live_room_and_its_session_cap_holds(authored):
    reply = {"member_id": "G1", "type": "live_reply"}
    no_room = event(authored, {"event_id": "r0", **reply})
    assert (no_room.status_code, no_room.json()["error"]["field"]) == (422, "room")
    earned = [event(authored, {"event_id": f"r{k}", "room": "gala", **reply}).json() for k in range(1, 4)]
    assert [e["points"] for e in earned] == [3, 3, 0]
    assert earned[-1]["note"] == "cap_per_session"
    assert earned[0]["expires"] is not None  # lapses when the gala session ends
    seconds = event(authored, {"event_id": "r9", "room": "gala", "seconds": 60, **reply})
    assert (seconds.status_code, seconds.json()["error"]["field"]) == (422, "seconds")


def test_an_unknown_kind_is_refused_with_the_kinds_the_table_knows(authored):
    response = event(authored, {"event_id": "x", "member_id": "G1", "type": "chek_in"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "type"
    assert error["reason"] == (
        "unknown event kind 'chek_in' (did you mean 'check_in'?); the rules know "
        "watch, share, invite_order, photo_review, check_in, comment, like, live_reply"  # the file's order
    )
    assert ledger(authored, "G1").json()["balance"] == 1850


@pytest.fixture
def four_kinds(redis_client, redis_server, tmp_path):
    """The demo table without its own `check_in`: it names only the four kinds every table knows."""
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    del data["points"]["events"]["check_in"]
    path = tmp_path / "four-kinds.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=1850)])
    with _client(redis_server, str(path)) as client:
        yield client


def test_without_authored_kinds_the_four_kinds_are_as_before(four_kinds):
    api = four_kinds
    unknown = event(api, {"event_id": "x", "member_id": "G1", "type": "check_in"}).json()["error"]
    assert unknown == {
        "code": "invalid_request",
        "field": "type",
        "reason": "unknown event kind 'check_in'; the rules know watch, share, invite_order, photo_review",
    }
    earned = [
        event(api, {"event_id": "w", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 600}),
        event(api, {"event_id": "s", "member_id": "G1", "type": "share"}),
        event(api, {"event_id": "i", "member_id": "G1", "type": "invite_order"}),
        event(api, {"event_id": "p", "member_id": "G1", "type": "photo_review"}),
    ]
    assert [r.json()["points"] for r in earned] == [20, 5, 100, 30]
    short = event(api, {"event_id": "w2", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 599})
    assert (short.json()["points"], short.json()["note"]) == (0, "below_min_seconds")


def test_a_kind_every_table_knows_but_this_table_does_not_reward_is_refused(redis_client, redis_server, tmp_path):
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    del data["points"]["events"]["photo_review"]
    path = tmp_path / "no-reviews.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=1850)])
    with _client(redis_server, str(path)) as client:
        error = event(client, {"event_id": "p", "member_id": "G1", "type": "photo_review"}).json()["error"]
    assert (error["field"], error["reason"]) == ("type", "the rules give no points for photo_review events")


def test_the_openapi_type_is_a_pattern_naming_the_four_kinds(api):
    schema = api.get("/openapi.json").json()["components"]["schemas"]["EventRequest"]
    kind = schema["properties"]["type"]
    assert "enum" not in kind and kind["pattern"] == "^[a-z][a-z0-9_]{0,63}$"
    assert "watch, share, invite_order, photo_review" in kind["description"]
    assert re.match(kind["pattern"], schema["examples"][0]["type"])


def test_an_authored_kind_past_its_hourly_threshold_freezes_the_member(authored):
    like = {"member_id": "G1", "type": "like"}
    answers = [event(authored, {"event_id": f"l{k}", **like}, now=GALA_21 + k) for k in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    assert answers[-1].json()["error"]["reason"] == (
        "more than 3 like events in one hour: the member is frozen for review"
    )
    assert event(authored, {"event_id": "c1", "member_id": "G1", "type": "check_in"}).status_code == 403
    assert ledger(authored, "G1").json()["entries"][0]["reason"] == "frozen"


def test_the_documented_event_example_is_a_valid_table():
    """docs/RULES.md's worked example of event rules, on the demo table."""
    text = (DEMO_RULES.parents[2] / "docs" / "RULES.md").read_text(encoding="utf-8")
    block = text.split("Worked example: a daily check-in", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    example = yaml.safe_load(block)
    data["points"]["events"].update(example["points"]["events"])
    data["progression"]["tasks"].update(example["progression"]["tasks"])
    table = build_table(data)
    assert table.points.events["check_in"].counts_toward == ("daily_visits",)
    assert (table.points.events["comment"].cap_per_week, table.points.events["check_in"].cap_per_day) == (6, 5)


def test_a_member_with_one_ledger_entry_has_no_stream_until_its_second(api, redis_client):
    from api.ledger import freeze
    from api.ledger_chain import verify_member
    from api.redis.keys import ledger_key, member_key
    from api.redis.scripts import Scripts

    first = ledger(api, "G1").json()  # reading opens the ledger: its `opening` entry
    assert [(e["reason"], e["delta"], e["balance"]) for e in first["entries"]] == [("opening", 1850, 1850)]
    entry = first["entries"][0]
    assert re.fullmatch(r"\d{13}-0", entry["id"]) and entry["ref"] == "" and entry["expires"] is None
    assert not redis_client.exists(ledger_key("G1"))  # held in the member hash
    assert ledger(api, "G1", before=entry["id"]).json()["entries"] == []
    assert verify_member(redis_client, "G1").finding is None

    redis_client.hset(member_key("G1"), "e:delta", 9999)  # an edit of the held entry shows
    assert "edited" in str(verify_member(redis_client, "G1").finding)
    redis_client.hset(member_key("G1"), "e:delta", 1850)

    freeze(Scripts(redis_client), "G1", True, GALA_21, "review")  # the second entry: both in the stream
    assert redis_client.xlen(ledger_key("G1")) == 2
    assert not [f for f in redis_client.hkeys(member_key("G1")) if f.startswith(b"e:")]
    after = ledger(api, "G1").json()["entries"]
    assert [e["reason"] for e in after] == ["frozen", "opening"] and after[1] == entry
    report = verify_member(redis_client, "G1")
    assert report.finding is None and report.last_n == 2


def test_a_first_entry_too_long_for_the_hash_begins_the_stream(api, redis_client):
    from api.ledger import freeze
    from api.ledger_chain import verify_member
    from api.redis.keys import ledger_key, member_key
    from api.redis.scripts import Scripts

    write_members(redis_client, [MemberRecord(id="Z1", tier="gold")])  # no points: no opening entry
    freeze(Scripts(redis_client), "Z1", True, GALA_21, "r" * 65)  # a ref past the hash's 64 bytes
    assert redis_client.xlen(ledger_key("Z1")) == 1 and not redis_client.hexists(member_key("Z1"), "e:id")
    assert [e["ref"] for e in ledger(api, "Z1").json()["entries"]] == ["r" * 65]
    assert verify_member(redis_client, "Z1").finding is None


def test_a_held_entry_is_read_once_when_it_moves_while_being_read(api, redis_client):
    from api.ledger import freeze, ledger_entries
    from api.redis.scripts import Scripts

    ledger(api, "G1")  # opens the ledger: one entry, held in the member hash
    scripts = Scripts(redis_client)

    class SecondEntryInBetween:
        """The member's second entry lands between the reader's two reads."""

        def __getattr__(self, name):
            return getattr(redis_client, name)

        def hmget(self, *args):
            values = redis_client.hmget(*args)
            freeze(scripts, "G1", True, GALA_21, "review")  # moves the held entry into the stream
            return values

    reasons = [fields[b"reason"] for _, fields in ledger_entries(SecondEntryInBetween(), "G1")]
    assert reasons == [b"opening", b"frozen"]


def test_a_held_entry_stays_first_when_a_stream_began_without_it(api, redis_client):
    """A worker of a release that holds no entry (a rolling upgrade) appends the second entry
    to a new stream: the held entry stays held, and every reader puts it first."""
    from api.ledger import freeze, ledger_entries
    from api.ledger_chain import GENESIS, chain_hash, verify_member
    from api.redis.keys import ledger_key, member_key
    from api.redis.scripts import Scripts

    first = ledger(api, "G1").json()["entries"][0]
    held = {
        name.decode()[2:]: value
        for name, value in redis_client.hgetall(member_key("G1")).items()
        if name.startswith(b"e:")
    }
    h1 = chain_hash(GENESIS, [b"1", held["delta"], held["reason"], b"", held["at"], b"0", held["balance"], b""])
    assert h1 == redis_client.hget(member_key("G1"), "chain_h").decode()
    second = {"delta": 0, "reason": "frozen", "ref": "old", "at": GALA_21, "expires": 0, "balance": 1850}
    h2 = chain_hash(h1, [str(v).encode() for v in [2, *second.values()]] + [b""])
    redis_client.xadd(ledger_key("G1"), {**second, "n": 2, "h": h2})  # as the earlier release writes it
    redis_client.hset(member_key("G1"), mapping={"chain_n": 2, "chain_h": h2, "frozen": 1})
    freeze(Scripts(redis_client), "G1", False, GALA_21 + 1, "cleared")  # this release's third entry
    assert redis_client.hexists(member_key("G1"), "e:id") and redis_client.xlen(ledger_key("G1")) == 2
    assert [f[b"reason"] for _, f in ledger_entries(redis_client, "G1")] == [b"opening", b"frozen", b"unfrozen"]
    page = ledger(api, "G1", limit=2).json()
    assert [e["reason"] for e in page["entries"]] == ["unfrozen", "frozen"]
    assert ledger(api, "G1", before=page["next"]).json()["entries"] == [first]
    report = verify_member(redis_client, "G1")
    assert report.finding is None and report.last_n == 3
