"""Draws in the live room: commit to a seed, take entries exactly once, draw, award once.

The winners are computed by engine/draws.py from the seed and the entry list; this module
keeps both in Redis. A draw's keys share the tag `{draw:<id>}`; an entry also touches the
member's slot (the points an entry costs), so it follows api/reservations.py:

1. `begin` (member slot): the attempt record `drw:{<member>}:<draw>:<key>` is created
   (running, the body's hash, a nonce), or the first answer is returned, or the request
   is refused (422 the same key with another body, 409 while the first attempt runs).
2. The seed is made if it is not yet (`draw_seed`: the first caller's random seed is
   kept): its SHA-256 is public before any entry exists.
3. The window is checked (refusals are kept under the key, as every answer).
4. `draw_reserve` (draw slot): the member's next entry number is held for this attempt;
   refused once the draw closed, when it holds `max_entries`, or when the member holds
   `entries_per_member`.
5. `draw_enter` (member slot): only while the record is still running with this nonce;
   refuses a frozen member, a debt or a short balance before any write, then takes the
   cost from the oldest lots with a ledger entry `draw:<id>` and marks the record done.
6. `draw_settle` (draw slot): the held number becomes an entry, or is let go on a refusal.

A crash between 4 and 6 leaves a hold: `settle_stale` (run before a draw, and when an
entry finds the draw full or the member's entries used up) fences an attempt silent for
STALE_SECONDS and keeps its entry exactly when its record says the member's side
happened.

Drawing (`run_draw`, an admin route, after the window closed): the draw is closed to new
entries, every hold settled, the winners computed from the seed and the entries and
stored with the seed as the result (a second draw returns the stored result), then each
winner's prize is awarded once per (draw, member) by `draw_award` in the member's slot:
a crash after the result and before an award is mended by drawing again.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import orjson

from engine.draws import ALGORITHM, SEED_BYTES, Entry, commitment, draw_winners
from engine.model import Draw
from engine.owned import grant_expires

from .access import RateLimit
from .ledger import earned_expiry
from .pickup_codes import ANY_LEADER, PickupCode, make_code
from .pickups import list_pending, mark_issued
from .redeem import IDEMPOTENCY_TTL_SECONDS, Answer
from .redis.keys import (
    DRAW_RECORD,
    draw_award_key,
    draw_entries_key,
    draw_key,
    draw_reservations_key,
    grants_key,
    ledger_key,
    lots_key,
    member_key,
    record_key,
)
from .redis.scripts import Scripts
from .reservations import STALE_SECONDS, reservation_id
from .reservations import begin as begin_attempt

_REASONS = {
    "member_frozen": lambda n: "the member is frozen for review: it enters no draw until unfrozen",
    "insufficient_points": lambda n: f"the balance is {n} points short of the entry's cost",
    "points_debt": lambda n: f"{n} points are owed from a refund; the next points earned pay them first",
    "not_open": lambda n: f"the draw is not open yet; it opens in {n} s",
    "draw_closed": lambda n: "the draw is closed",
    "entries_used_up": lambda n: f"the member has entered the most times allowed ({n})",
    "draw_full": lambda n: f"the draw holds the most entries allowed ({n})",
}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _refusal(status: int, code: str, field: str, reason: str, retry_after: int | None = None) -> Answer:
    body = orjson.dumps({"error": {"code": code, "field": field, "reason": reason}})
    return Answer(status, body, retry_after=retry_after)


def render(stored: str, request: dict) -> Answer:
    """A success is stored as `200 <entry> <tier> <weight> <cost> <at> <balance>`, a refusal
    as `<status> <reason code> <number>`."""
    parts = stored.split(" ")
    status = int(parts[0])
    if status == 200:
        number, tier, weight, cost, at, balance = parts[1:7]
        body = {
            "draw_id": request["draw_id"],
            "member_id": request["member_id"],
            "entry": int(number),
            "tier": tier,
            "weight": int(weight),
            "points": int(cost),
            "balance": int(balance),
            "at": int(at),
        }
        return Answer(200, orjson.dumps(body))
    reason, count = parts[1], int(parts[2])
    field = "member_id" if reason in ("member_frozen", "insufficient_points", "points_debt") else "draw_id"
    return _refusal(status, reason, field, _REASONS.get(reason, lambda n: reason)(count))


async def ensure_seed(scripts: Scripts, draw_id: str) -> tuple[str, str]:
    """(commitment, state) of the draw, its seed made now if it had none."""
    seed = secrets.token_bytes(SEED_BYTES)
    answer = await scripts.draw_seed(keys=[draw_key(draw_id)], args=[seed.hex(), commitment(seed)])
    return _text(answer[0]), _text(answer[1])


def _draw_keys(draw_id: str) -> list:
    return [draw_key(draw_id), draw_entries_key(draw_id), draw_reservations_key(draw_id)]


def _settle_keys(draw_id: str) -> list:
    return [draw_entries_key(draw_id), draw_reservations_key(draw_id), draw_key(draw_id)]


async def enter(
    scripts: Scripts,
    *,
    draw: Draw,
    request: dict,
    key: str,
    now: int,
    tier: str,
    rate: RateLimit | None = None,
) -> Answer:
    """Steps 1 to 6 of the module docstring; `tier` is the member's tier now, recorded
    with the entry together with its weight."""
    member_id = request["member_id"]
    name = f"{draw.id}:{key}"
    record = record_key(DRAW_RECORD, member_id, name)
    begun = await begin_attempt(scripts, DRAW_RECORD, member_id, name, request, IDEMPOTENCY_TTL_SECONDS, rate)
    state = begun[0]
    if state == "rate_limited":
        assert rate is not None
        return _refusal(
            429,
            "rate_limited",
            "member_id",
            f"more than {rate.limit} draw entries a minute for this member; retry after {begun[1]} s",
            retry_after=begun[1],
        )
    if state == "unknown_member":
        return _refusal(404, "unknown_member", "member_id", f"no member {member_id!r}")
    if state == "mismatch":
        return _refusal(422, "idempotency_key_reused", "Idempotency-Key", "this key was used with another body")
    if state == "running":
        return _refusal(409, "in_progress", "Idempotency-Key", "the first request with this key is still running")
    if state == "done":
        first = render(begun[1], request)
        return Answer(first.status, first.body, replayed=True)
    nonce = begun[1]
    member = member_key(member_id)

    async def finish(answer: str) -> Answer:
        await scripts.redeem_finish(keys=[member, record], args=[nonce, answer])
        return render(answer, request)

    await ensure_seed(scripts, draw.id)  # committed before the first entry
    if now < draw.opens:
        return await finish(f"409 not_open {draw.opens - now}")
    if now >= draw.closes:
        return await finish("409 draw_closed 0")
    weight = draw.weight(tier)
    reservation = reservation_id(DRAW_RECORD, member_id, name, nonce)
    reserve_args = [member_id, reservation, draw.entries_per_member, draw.max_entries, tier, weight, int(time.time())]
    held = await scripts.draw_reserve(keys=_draw_keys(draw.id), args=reserve_args)
    if _text(held[0]) in ("full", "used_up") and await settle_stale(scripts, draw.id):
        held = await scripts.draw_reserve(keys=_draw_keys(draw.id), args=reserve_args)
    verdict = _text(held[0])
    if verdict == "closed":
        return await finish("409 draw_closed 0")
    if verdict == "full":
        return await finish(f"409 draw_full {draw.max_entries}")
    if verdict == "used_up":
        return await finish(f"409 entries_used_up {draw.entries_per_member}")
    number = int(held[1])
    done = await scripts.draw_enter(
        keys=[member, lots_key(member_id), ledger_key(member_id), record],
        args=[nonce, now, draw.id, draw.cost, key, f"200 {number} {tier} {weight} {draw.cost} {now}"],
    )
    outcome = _text(done[0])
    await scripts.draw_settle(keys=_settle_keys(draw.id), args=[reservation, 1 if outcome == "ok" else 0, now])
    if outcome == "fenced":
        return _refusal(409, "in_progress", "Idempotency-Key", "another attempt with this key took over")
    return render(_text(done[1]), request)


async def settle_stale(scripts: Scripts, draw_id: str, wall_now: int | None = None) -> int:
    """Settle the draw's holds silent for STALE_SECONDS: fence the attempt, keep the entry
    when its record says the member's side happened. How many were settled."""
    wall = int(time.time()) if wall_now is None else wall_now
    redis = scripts.client
    settled = 0
    for raw, held in (await redis.hgetall(draw_reservations_key(draw_id))).items():
        reservation, since = _text(raw), int(_text(held).split(" ")[1])
        if since + STALE_SECONDS > wall:
            continue
        kind, member_id, name, nonce = reservation.split("|")
        verdict = await scripts.attempt_fence(keys=[record_key(kind, member_id, name)], args=[nonce])
        keep = _text(verdict[0]) == "done"
        at = int(_text(verdict[1]).split(" ")[5]) if keep else 0
        settled += await scripts.draw_settle(keys=_settle_keys(draw_id), args=[reservation, 1 if keep else 0, at])
    return settled


async def read_entries(redis, draw_id: str) -> tuple[list[Entry], int]:
    """The draw's entries, and how many numbers are still held by attempts under way."""
    entries, held = [], 0
    for raw, value in (await redis.hgetall(draw_entries_key(draw_id))).items():
        parts = _text(value).split(" ")
        if parts[0] != "e":
            held += 1
            continue
        member_id, number = _text(raw).rsplit("#", 1)
        entries.append(Entry(member_id, int(number), parts[1], int(parts[2])))
    return entries, held


def prize_list(draw: Draw) -> list:
    return [
        {"id": p.id, "name": p.name, "kind": p.kind, "sku": p.target if p.kind == "sku" else None}
        | {"coupon": p.target if p.kind == "coupon" else None, "points": p.points or None, "stock": p.stock}
        for p in draw.prizes
    ]


def result_document(draw: Draw, seed: bytes, entries: list[Entry], drawn_at: int) -> dict:
    """The results document: everything `rights draw verify` needs, the seed revealed."""
    winners = draw_winners(seed, entries, [p.id for p in draw.prize_slots()])
    ordered = sorted(entries, key=lambda e: (e.member_id.encode(), e.entry))
    return {
        "algorithm": ALGORITHM,
        "draw_id": draw.id,
        "room": draw.room,
        "opens": draw.opens,
        "closes": draw.closes,
        "drawn_at": drawn_at,
        "commitment": commitment(seed),
        "seed": seed.hex(),
        "weights": dict(draw.weights),
        "prizes": prize_list(draw),
        "entries_count": len(ordered),
        "entries": [e.as_dict() for e in ordered],
        "winners": [w.as_dict() for w in winners],
    }


@dataclass(frozen=True)
class Drawn:
    """A draw's outcome: its stored result (JSON text), or why not yet."""

    status: str  # drawn, not_closed, settling
    result: bytes = b""
    retry_after: int = 0


async def run_draw(scripts: Scripts, table, draw: Draw, now: int, secret: bytes) -> Drawn:
    """Close, settle, draw (once), then award every winner (idempotently)."""
    redis = scripts.client
    await ensure_seed(scripts, draw.id)
    stored = await redis.hget(draw_key(draw.id), "result")
    if stored is None:
        if now < draw.closes:
            return Drawn("not_closed", retry_after=draw.closes - now)
        for _ in range(5):
            closed = await scripts.draw_close(keys=_draw_keys(draw.id), args=["", 0])
            if _text(closed[0]) == "drawn":
                stored = closed[1]
                break
            await settle_stale(scripts, draw.id)
            entries, held = await read_entries(redis, draw.id)
            if held:
                return Drawn("settling", retry_after=STALE_SECONDS)
            seed = bytes.fromhex(_text(await redis.hget(draw_key(draw.id), "seed")))
            document = orjson.dumps(result_document(draw, seed, entries, now))
            answer = await scripts.draw_close(keys=_draw_keys(draw.id), args=[document, len(entries)])
            if _text(answer[0]) == "drawn":
                stored = answer[1]
                break
        else:
            return Drawn("settling", retry_after=1)
    result = stored if isinstance(stored, bytes) else stored.encode()
    await award_all(scripts, table, draw.id, orjson.loads(result), now, secret)
    return Drawn("drawn", result)


async def award_all(scripts: Scripts, table, draw_id: str, result: dict, now: int, secret: bytes) -> None:
    """Each winner's prize, once per (draw, member): a replay returns the first award, and
    a pickup code is (re)listed and marked issued, which is idempotent too."""
    redis = scripts.client
    prizes = {p["id"]: p for p in result["prizes"]}
    model = table.model
    for winner in result["winners"]:
        member_id, prize = winner["member_id"], prizes[winner["prize"]]
        leader = ANY_LEADER
        if prize["kind"] == "sku":
            raw_leader = await redis.hget(member_key(member_id), "leader")
            leader = _text(raw_leader) if raw_leader else ANY_LEADER
        code = make_code(secret, PickupCode(member_id, prize["sku"] or "-", leader, secrets.randbits(48)))
        expires = 0
        if prize["kind"] == "coupon" and prize["coupon"] in table.coupon_index:
            coupon = model.coupons[table.coupon_index[prize["coupon"]]]
            expires = grant_expires(now, coupon.valid_days or 30, model.utc_offset_seconds)
        elif prize["kind"] == "coupon":
            expires = grant_expires(now, 30, model.utc_offset_seconds)
        answer = await scripts.draw_award(
            keys=[
                member_key(member_id),
                lots_key(member_id),
                ledger_key(member_id),
                draw_award_key(member_id, draw_id),
                grants_key(member_id),
            ],
            args=[
                now,
                draw_id,
                winner["slot"],
                prize["id"],
                prize["kind"],
                prize["points"] or 0,
                prize["coupon"] or "",
                expires,
                code,
                leader,
                earned_expiry(model.points, model.utc_offset_seconds, now),
            ],
        )
        state = _text(answer[0])
        text = _text(answer[1]) if len(answer) > 1 else "withheld unknown_member"
        if state in ("ok", "done") and text.startswith("awarded code "):
            _, _, listed, listed_leader = text.split(" ")
            await list_pending(scripts, listed_leader, listed, member_id, prize["sku"], now, f"draw:{draw_id}")
            await mark_issued(scripts, listed_leader, listed)
        await redis.hset(draw_key(draw_id), f"award:{winner['slot']}", text)


async def results(scripts: Scripts, draw: Draw, with_codes: bool = False) -> dict:
    """The results document once drawn (with each award's state), else the commitment and
    the entry counts: the seed stays secret until the draw."""
    redis = scripts.client
    commitment_hex, state = await ensure_seed(scripts, draw.id)
    meta = {_text(k): _text(v) for k, v in (await redis.hgetall(draw_key(draw.id))).items()}
    if state == "drawn":
        document = orjson.loads(meta["result"])
        for winner in document["winners"]:
            award = meta.get(f"award:{winner['slot']}", "pending")
            parts = award.split(" ")
            winner["award"] = parts[0]  # awarded, withheld or pending
            if parts[0] == "withheld":
                winner["withheld"] = parts[1]
            if with_codes and award.startswith("awarded code "):
                winner["pickup_code"] = parts[2]
        return {"state": "drawn", "name": draw.name} | document
    entered = sum(int(v) for k, v in meta.items() if k.startswith("tier:"))  # kept as entries settle: no scan
    return {
        "algorithm": ALGORITHM,
        "draw_id": draw.id,
        "name": draw.name,
        "room": draw.room,
        "state": state,
        "opens": draw.opens,
        "closes": draw.closes,
        "commitment": commitment_hex,
        "weights": dict(draw.weights),
        "prizes": prize_list(draw),
        "entries_count": entered,
        "max_entries": draw.max_entries,
    }


def masked(member_id: str) -> str:
    """A member id as the open big screen shows it: M0**06 for M00006 (a winner can tell it is them)."""
    if len(member_id) <= 4:
        return member_id[:1] + "*" * (len(member_id) - 1)
    return member_id[:2] + "*" * (len(member_id) - 4) + member_id[-2:]


async def board(redis, draw: Draw) -> dict:
    """A draw on the big screen: entries per tier and, once drawn, the winners, their ids
    masked (one read of the draw's hash: the per-tier counts are kept as entries settle)."""
    meta = {_text(k): v for k, v in (await redis.hgetall(draw_key(draw.id))).items()}
    tiers = {name[5:]: int(value) for name, value in meta.items() if name.startswith("tier:")}
    winners = []
    if "result" in meta:
        winners = [
            {"slot": w["slot"], "prize": w["prize"], "member": masked(w["member_id"]), "tier": w["tier"]}
            for w in orjson.loads(meta["result"])["winners"]
        ]
    return {
        "id": draw.id,
        "name": draw.name,
        "state": _text(meta.get("state", b"open")),
        "entries": sum(tiers.values()),
        "entries_by_tier": dict(sorted(tiers.items())),
        "prizes": sum(p.stock for p in draw.prizes),
        "winners": winners,
    }
