"""A draw of 10 prizes among 1,000 members entering at once, weighted by tier: every entry
recorded once (replays with the same key, second tries with another), points charged
once per entry, exactly 10 winners each awarded once even when two draws race, and the
result recomputed by `rights draw verify` from the revealed seed. Runs on one Redis and
on the local Cluster (slow)."""

from __future__ import annotations

import asyncio
import json

from conftest import at, in_a_worker

from api.draws import enter, results, run_draw
from api.redis.keys import draw_award_key
from api.store import MemberRecord, write_members
from engine.model import Draw, DrawPrize
from rights.cli import main as rights

OPEN, AFTER = at("2026-11-11 20:30"), at("2026-11-11 22:40")
IN_FLIGHT = 100  # requests under way at once: a worker's Redis pool (a Cluster client's is bounded) serves them
TIERS = {"silver": 600, "gold": 300, "black_gold": 100}
RUSH = Draw(
    id="RUSH",
    name="points treasure hunt",
    room="gala",
    opens=at("2026-11-11 20:00"),
    closes=at("2026-11-11 22:30"),
    cost=10,
    entries_per_member=2,
    max_entries=100_000,
    weights={"black_gold": 3, "gold": 2},
    prizes=(
        DrawPrize("CHEESE", "cheese", "sku", "CHEESE-LTD", 0, 2),
        DrawPrize("COUPON", "coupon", "coupon", "POINTS-50", 0, 3),
        DrawPrize("PTS", "500 points", "points", "", 500, 5),
    ),
)


def members() -> list[MemberRecord]:
    out = []
    for tier, n in TIERS.items():
        out += [MemberRecord(id=f"{tier[0].upper()}{i:04d}", tier=tier, points=100) for i in range(n)]
    return out


def test_1000_members_enter_at_once_and_10_prizes_are_awarded_once(redis_client, redis_server, tmp_path):
    everyone = members()
    write_members(redis_client, everyone)

    async def scenario(service):
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(member_id: str, key: str):
            request = {"member_id": member_id, "draw_id": RUSH.id}
            tier = everyone_tier[member_id]
            async with gate:
                return await enter(service.scripts, draw=RUSH, request=request, key=key, now=OPEN, tier=tier)

        everyone_tier = {m.id: m.tier for m in everyone}
        calls = [one(m.id, "a") for m in everyone]
        calls += [one(m.id, "a") for m in everyone[::7]]  # the same key again: the same entry
        calls += [one(m.id, "b") for m in everyone[::5]]  # another key: a second entry
        calls += [one(m.id, "c") for m in everyone[::10]]  # a third: past entries_per_member for some
        answers = await asyncio.gather(*calls)
        table = service.table
        drawn = await asyncio.gather(*[run_draw(service.scripts, table, RUSH, AFTER, b"s" * 32) for _ in range(3)])
        document = await results(service.scripts, RUSH)
        return answers, drawn, document

    answers, drawn, document = in_a_worker(redis_server, scenario)
    statuses = [a.status for a in answers]
    codes = [json.loads(a.body)["error"]["code"] for a in answers if a.status != 200]
    # every first try enters; a same-key repeat is answered 200 (replayed) or 409 in_progress
    # while the first runs; "c" is a third entry: refused as used up for members who also used "b"
    assert set(codes) <= {"in_progress", "entries_used_up"}
    entered = {(json.loads(a.body)["member_id"], json.loads(a.body)["entry"]) for a in answers if a.status == 200}
    expected = len(everyone) + len(everyone[::5]) + len({m.id for m in everyone[::10]} - {m.id for m in everyone[::5]})
    assert len(entered) == expected == document["entries_count"] == len(document["entries"])
    assert statuses.count(200) >= expected
    assert {d.status for d in drawn} == {"drawn"} and len({d.result for d in drawn}) == 1  # raced: one result

    winners = document["winners"]
    assert len(winners) == 10 and [w["slot"] for w in winners] == list(range(1, 11))
    assert len({w["member_id"] for w in winners}) == 10
    assert [w["prize"] for w in winners] == ["CHEESE"] * 2 + ["COUPON"] * 3 + ["PTS"] * 5
    assert all(w["award"] == "awarded" for w in winners)
    assert sum(1 for m in everyone if redis_client.exists(draw_award_key(m.id, RUSH.id))) == 10

    # points: 10 per entry, charged once; 500 credited once to each points winner
    per_member: dict = {}
    for member_id, _ in entered:
        per_member[member_id] = per_member.get(member_id, 0) + 1
    prize_of = {w["member_id"]: w["prize"] for w in winners}
    for m in everyone:
        balance = int(redis_client.hget(f"m:{{{m.id}}}", "points"))
        assert balance == 100 - 10 * per_member[m.id] + (500 if prize_of.get(m.id) == "PTS" else 0), m.id

    saved = tmp_path / "rush.json"
    saved.write_text(json.dumps(document))
    assert rights(["draw", "verify", str(saved)]) == 0
    assert rights(["draw", "verify", "--redis-url", redis_server.url, "--draw", RUSH.id]) == 0
