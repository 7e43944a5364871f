"""What a crash leaves half done in a draw is mended, never doubled: an entry whose points
were taken but whose number was never settled is kept, one whose member script never ran
is let go (and its late script refused), and a result stored before its awards gets them
on the next draw, once."""

from __future__ import annotations

import time

import orjson
from conftest import at, in_a_worker

from api.draws import ensure_seed, read_entries, result_document, run_draw, settle_stale
from api.redis.keys import DRAW_RECORD, draw_key, ledger_key, lots_key, member_key, record_key
from api.reservations import STALE_SECONDS, reservation_id
from api.reservations import begin as begin_attempt
from api.store import MemberRecord, write_members
from engine.model import Draw, DrawPrize

OPEN, AFTER = at("2026-11-11 20:30"), at("2026-11-11 22:40")
HUNT = Draw(
    id="HUNT",
    name="treasure hunt",
    room="gala",
    opens=at("2026-11-11 20:00"),
    closes=at("2026-11-11 22:30"),
    cost=50,
    entries_per_member=1,
    max_entries=10,
    weights={},
    prizes=(DrawPrize("PTS", "points", "points", "", 300, 2),),
)


async def half_entry(scripts, member_id: str, key: str, run_member_script: bool) -> str:
    """An entry stopped after holding its number (and, when asked, after taking the points)."""
    name = f"{HUNT.id}:{key}"
    _, nonce = await begin_attempt(scripts, DRAW_RECORD, member_id, name, {"member_id": member_id}, 3600)
    reservation = reservation_id(DRAW_RECORD, member_id, name, nonce)
    draw_keys = [draw_key(HUNT.id), f"draw:{{draw:{HUNT.id}}}:entries", f"draw:{{draw:{HUNT.id}}}:resv"]
    await scripts.draw_reserve(keys=draw_keys, args=[member_id, reservation, 1, 10, "gold", 1, int(time.time())])
    if run_member_script:
        record = record_key(DRAW_RECORD, member_id, name)
        keys = [member_key(member_id), lots_key(member_id), ledger_key(member_id), record]
        await scripts.draw_enter(keys=keys, args=[nonce, OPEN, HUNT.id, 50, key, f"200 1 gold 1 50 {OPEN}"])
    return nonce


def test_holds_left_by_a_crash_are_kept_or_let_go_by_what_the_record_says(redis_client, redis_server):
    write_members(redis_client, [MemberRecord(id=m, tier="gold", points=100) for m in ("PAID", "UNPAID")])

    async def scenario(service):
        scripts = service.scripts
        await ensure_seed(scripts, HUNT.id)
        await half_entry(scripts, "PAID", "k", run_member_script=True)
        nonce = await half_entry(scripts, "UNPAID", "k", run_member_script=False)
        assert await settle_stale(scripts, HUNT.id) == 0  # fresh holds are left to their requests
        settled = await settle_stale(scripts, HUNT.id, wall_now=int(time.time()) + STALE_SECONDS + 1)
        entries, held = await read_entries(service.redis, HUNT.id)
        # the late member script of the fenced attempt refuses: no points taken
        record = record_key(DRAW_RECORD, "UNPAID", f"{HUNT.id}:k")
        keys = [member_key("UNPAID"), lots_key("UNPAID"), ledger_key("UNPAID"), record]
        late = await scripts.draw_enter(keys=keys, args=[nonce, OPEN, HUNT.id, 50, "k", "200 1 gold 1 50 0"])
        return settled, entries, held, late

    settled, entries, held, late = in_a_worker(redis_server, scenario)
    assert settled == 2 and held == 0
    assert [(e.member_id, e.entry) for e in entries] == [("PAID", 1)]
    assert late[0] == b"fenced"
    assert int(redis_client.hget(member_key("PAID"), "points")) == 50
    assert int(redis_client.hget(member_key("UNPAID"), "points")) == 100


def test_a_result_stored_before_its_awards_is_awarded_once_by_the_next_draw(redis_client, redis_server):
    write_members(redis_client, [MemberRecord(id=m, tier="gold", points=100) for m in ("A", "B", "C")])

    async def scenario(service):
        scripts = service.scripts
        await ensure_seed(scripts, HUNT.id)
        for member in ("A", "B", "C"):
            await half_entry(scripts, member, "k", run_member_script=True)
        await settle_stale(scripts, HUNT.id, wall_now=int(time.time()) + STALE_SECONDS + 1)
        entries, _ = await read_entries(service.redis, HUNT.id)
        seed = bytes.fromhex((await service.redis.hget(draw_key(HUNT.id), "seed")).decode())
        document = orjson.dumps(result_document(HUNT, seed, entries, AFTER))
        keys = [draw_key(HUNT.id), f"draw:{{draw:{HUNT.id}}}:entries", f"draw:{{draw:{HUNT.id}}}:resv"]
        await scripts.draw_close(keys=keys, args=["", 0])
        await scripts.draw_close(keys=keys, args=[document, len(entries)])  # the crash: no award yet
        first = await run_draw(scripts, service.table, HUNT, AFTER + 60, b"s" * 32)
        second = await run_draw(scripts, service.table, HUNT, AFTER + 120, b"s" * 32)
        return document, first, second

    document, first, second = in_a_worker(redis_server, scenario)
    assert first.result == second.result == document
    winners = {w["member_id"] for w in orjson.loads(document)["winners"]}
    assert len(winners) == 2
    for member in ("A", "B", "C"):
        expected = 100 - 50 + (300 if member in winners else 0)
        assert int(redis_client.hget(member_key(member), "points")) == expected, member
