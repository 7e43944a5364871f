"""Instant redemption: exactly once per idempotency key, never oversold, Cluster-safe.

A redemption touches two Redis Cluster slots, the member's and the item's: it follows
api/reservations.py (reserve the unit, run the member's script, commit or give back).

1. `begin` (member slot): the idempotency record `idem:{<member>}:<key>` is created
   (state `running`, the body's hash, a fresh nonce), or the first answer is returned,
   or the request is refused: 422 for the same key with another body, 409 while the
   first attempt runs. An attempt silent for STALE_SECONDS is taken over (new nonce).
2. The engine checks tier, room, window and task unlock (as a quote would).
3. One unit of the item's stock is reserved (started from the rules' stock).
4. `redeem` (member slot): only while the record is still `running` with this nonce;
   checks frozen, the per-member limit and the balance before any write, then takes
   the points from the oldest lots, writes the ledger entry and the count, and marks the
   record `done` with what the answer is rendered from.
5. Before the member's script, the code goes on the leader's pick list as pending
   (api/pickups.py: only listed codes can be handed over); after it, the code is marked
   issued and the reservation committed, or on a refusal the code dropped and the unit
   given back.

On one Redis server (not a Cluster) steps 1 and 3 to 5 are one script, lua/redeem_node.lua,
running the same scripts in the same order (api/redis/steps.py): one round trip, and
nothing half done for recover() to settle.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

import orjson

from .access import RateLimit
from .ledger_chain import link_redemption, redemption_link
from .pickup_codes import ANY_LEADER, PickupCode, make_code
from .pickups import drop_pending, list_pending, mark_issued, pending_call
from .redis.keys import (
    REDEMPTION_RECORD,
    REDEMPTIONS,
    grants_key,
    idempotency_key,
    ledger_key,
    lots_key,
    member_key,
    pick_list_key,
)
from .redis.scripts import Scripts
from .redis.steps import Steps
from .reservations import begin as begin_attempt
from .reservations import begin_call, begun, commit, release, reservation_id, reserve, reserve_call
from .reservations import recover as recover_pool

log = logging.getLogger("rights.api")

IDEMPOTENCY_TTL_SECONDS = 48 * 3600  # a replay answers the same for at least 24 hours


@dataclass(frozen=True)
class Answer:
    """An answer as stored: the status, then a success's or a refusal's fields."""

    status: int
    body: bytes
    replayed: bool = False
    retry_after: int | None = None  # seconds, on a 429


_REASONS = {
    "member_frozen": lambda n: "the member is frozen for review: it earns and spends nothing until unfrozen",
    "member_limit_reached": lambda n: f"the member has redeemed this item the most times allowed ({n})",
    "insufficient_points": lambda n: f"the balance is {n} points short",
    "points_debt": lambda n: f"{n} points are owed from a refund; the next points earned pay them first",
    "out_of_stock": lambda n: "none left",
    "tier_too_low": lambda n: "the member's tier may not redeem it",
    "tier_not_eligible": lambda n: "the member's tier may not redeem it",
    "segment_not_eligible": lambda n: "the member's tags are not in the segment it is for",
    "not_in_room": lambda n: "only in its live room",
    "outside_window": lambda n: f"not open now; it opens in {n} s" if n else "not open now",
    "task_locked": lambda n: f"locked: {n} more live sessions to watch",
    "grants_full": lambda n: f"the member holds the most coupon grants kept ({n}); used and lapsed ones go in time",
}


def render(stored: str, request: dict) -> Answer:
    """The answer from what the idempotency record holds, the same bytes every time.

    A success is stored as `200 <points> <cash> <at> <leader or -> <code> <balance>` (a
    coupon grant: `200 <points> <cash> <at> - - <balance> <grant id> <coupon> <expires>`), a
    refusal as `<status> <reason code> <number>`."""
    parts = stored.split(" ")
    status = int(parts[0])
    if status == 200:
        points, cash, at, leader, code, balance = parts[1:7]
        grant = None
        if len(parts) >= 10:  # a redemption that grants a coupon: `... <balance> <grant id> <coupon> <expires>`
            grant = {"id": parts[7], "coupon": parts[8], "granted": int(at), "expires": int(parts[9])}
        return Answer(
            200,
            orjson.dumps(
                {
                    "redemption_id": request["redemption_id"],
                    "member_id": request["member_id"],
                    "points": int(points),
                    "cash": int(cash),
                    "balance": int(balance),
                    "pickup_code": None if code == "-" else code,
                    "leader_id": None if leader == "-" else leader,
                    "coupon_grant": grant,
                    "at": int(at),
                }
            ),
        )
    reason, number = parts[1], int(parts[2])
    return _refusal(status, reason, "redemption_id", _REASONS.get(reason, lambda n: reason)(number))


def _refusal(status: int, code: str, field: str, reason: str, retry_after: int | None = None) -> Answer:
    """A refusal in the one error shape of api/errors.py."""
    body = orjson.dumps({"error": {"code": code, "field": field, "reason": reason}})
    return Answer(status, body, retry_after=retry_after)


ENGINE_GOES_ON = frozenset({"ok", "out_of_stock", "insufficient_points", "member_limit_reached", "points_debt"})


async def redeem(
    redis,
    scripts: Scripts,
    *,
    request: dict,
    key: str,
    now: int,
    item,
    engine_status: str,
    engine_hint: int,
    leader_id: str | None,
    secret: bytes,
    rate: RateLimit | None = None,
    grant_expires: int = 0,
    one_node: bool = False,
) -> Answer:
    """Steps 1 to 5 of the module docstring; `engine_status` is the quote's verdict on
    the item for this member now (tier, room, window, unlock). A replay is answered
    before the attempt counts against `rate`. An item with `grants_coupon` gives the
    member a grant of that coupon lapsing at `grant_expires` instead of a pickup code
    (lua/grants.lua, in the same script that takes the points). `one_node` (Redis is
    one server, not a Cluster): the steps run as one script, one round trip."""
    member_id = request["member_id"]
    if one_node:
        return await _on_one_node(
            scripts, request, key, now, item, engine_status, engine_hint, leader_id, secret, rate, grant_expires
        )
    member, idem = member_key(member_id), idempotency_key(member_id, key)
    opened = await begin_attempt(scripts, REDEMPTION_RECORD, member_id, key, request, IDEMPOTENCY_TTL_SECONDS, rate)
    if opened[0] != "begun":
        return await _not_begun(scripts, opened, request, rate)
    nonce = opened[1]

    if engine_status not in ENGINE_GOES_ON:
        answer = f"409 {engine_status} {engine_hint}"
        await scripts.redeem_finish(keys=[member, idem], args=[nonce, answer])
        return render(answer, request)
    reservation = reservation_id(REDEMPTION_RECORD, member_id, key, nonce)
    if item.stock is not None:
        if not await reserve(scripts, REDEMPTIONS, item.id, item.stock, reservation, item.release, now):
            answer = "409 out_of_stock 0"
            await scripts.redeem_finish(keys=[member, idem], args=[nonce, answer])
            return render(answer, request)
    leader = leader_id or ANY_LEADER
    code, prefix = _code_and_prefix(secret, item, member_id, leader, leader_id, now)
    if code != "-":  # listed pending first: once the points are taken the code is on its list, whatever happens next
        await list_pending(scripts, leader, code, member_id, item.id, now, key)
    # on a fault from here on the reservation stays for recover(), which knows from the
    # record whether the points were taken
    done = await scripts.redeem(
        keys=_member_keys(member_id, key), args=_member_args(nonce, now, item, key, prefix, grant_expires)
    )
    outcome = _text(done[0])
    if outcome == "ok":  # the rest runs to its end even if the request is given up on (a 503 overloaded)
        linked = (member_id, done[2], done[3], now) if len(done) >= 4 else None
        await asyncio.shield(_settled(redis, scripts, leader, code, item, reservation, linked))
        return render(_text(done[1]), request)
    await asyncio.shield(_refused(scripts, leader, code, item, reservation))
    if outcome == "fenced":
        return _refusal(409, "in_progress", "Idempotency-Key", "another attempt with this key took over")
    return render(_text(done[1]), request)


async def _on_one_node(
    scripts: Scripts,
    request: dict,
    key: str,
    now: int,
    item,
    engine_status,
    engine_hint,
    leader_id,
    secret,
    rate,
    expires,
) -> Answer:
    """The same steps as one script (lua/redeem_node.lua): what a redemption writes, it
    writes together, and a replay or a refusal of the attempt costs the same one call."""
    member_id = request["member_id"]
    steps = Steps()
    nonce, keys, args = begin_call(REDEMPTION_RECORD, member_id, key, request, IDEMPOTENCY_TTL_SECONDS, rate)
    steps.add("begin", keys, args, "attempt_begin")
    if engine_status not in ENGINE_GOES_ON:
        steps.add("refuse", [], [f"409 {engine_status} {engine_hint}"])
    else:
        reservation = reservation_id(REDEMPTION_RECORD, member_id, key, nonce)
        if item.stock is not None:
            steps.add("reserve", *reserve_call(REDEMPTIONS, item.id, item.stock, reservation, item.release, now))
        leader = leader_id or ANY_LEADER
        code, prefix = _code_and_prefix(secret, item, member_id, leader, leader_id, now)
        if code != "-":
            steps.add("list", *pending_call(leader, code, member_id, item.id, now, key))
            steps.add("issue", [pick_list_key(leader)], [code, "issued"])
            steps.add("drop", [pick_list_key(leader)], [code, ""])
        steps.add("redeem", _member_keys(member_id, key), _member_args(nonce, now, item, key, prefix, expires))
        steps.add("link", *redemption_link(member_id, "", "", now))  # its n and h put in by the script
    done = await steps.run(scripts, "redeem_node")
    outcome = _text(done[0])
    if outcome in ("ok", "refused"):
        return render(_text(done[1]), request)
    if outcome == "fenced":
        return _refusal(409, "in_progress", "Idempotency-Key", "another attempt with this key took over")
    return await _not_begun(scripts, begun(done, nonce), request, rate)


async def _not_begun(scripts: Scripts, opened: tuple, request: dict, rate: RateLimit | None) -> Answer:
    """The answer to an attempt that did not open: a replay's first answer, or why not."""
    state = opened[0]
    if state == "rate_limited":
        assert rate is not None, "the attempt is counted against a rate only when one is given"
        return _refusal(
            429,
            "rate_limited",
            "member_id",
            f"more than {rate.limit} redemption attempts a minute for this member; retry after {opened[1]} s",
            retry_after=opened[1],
        )
    if state == "unknown_member":
        return _refusal(404, "unknown_member", "member_id", f"no member {request['member_id']!r}")
    if state == "mismatch":
        return _refusal(422, "idempotency_key_reused", "Idempotency-Key", "this key was used with another body")
    if state == "running":
        return _refusal(409, "in_progress", "Idempotency-Key", "the first request with this key is still running")
    assert state == "done", state
    if opened[1].startswith("200 "):  # its code may have stayed pending if the first request stopped half way
        _, _, _, leader_field, code, _ = opened[1].split(" ")[1:7]
        if code != "-":  # "-": a coupon grant, no code
            await mark_issued(scripts, ANY_LEADER if leader_field == "-" else leader_field, code)
    first = render(opened[1], request)
    return Answer(first.status, first.body, replayed=True)


def _code_and_prefix(secret: bytes, item, member_id: str, leader: str, leader_id: str | None, now: int) -> tuple:
    """(pickup code, the ok answer's prefix): a coupon grant has no code ("-")."""
    if item.grants_coupon:
        return "-", f"200 {item.points} {item.cash} {now} - -"
    code = make_code(secret, PickupCode(member_id, item.id, leader, secrets.randbits(48)))
    return code, f"200 {item.points} {item.cash} {now} {leader_id or '-'} {code}"


def _member_keys(member_id: str, key: str) -> list:
    member = member_key(member_id)
    return [member, lots_key(member_id), ledger_key(member_id), idempotency_key(member_id, key), grants_key(member_id)]


def _member_args(nonce: str, now: int, item, key: str, prefix: str, grant_expires: int) -> list:
    """The member's script's ARGV (lua/redeem.lua), its brand put last by its caller."""
    limit = -1 if item.member_limit is None else item.member_limit
    return [nonce, now, item.id, item.points, limit, key, prefix, item.grants_coupon or "", grant_expires]


async def _settled(redis, scripts: Scripts, leader: str, code: str, item, reservation: str, linked=None) -> None:
    if linked is not None:  # the ledger entry into the brand chain; one lost to a fault: `rights ledger verify --all`
        try:
            await link_redemption(scripts, *linked)
        except Exception:
            log.exception("redemption of %s: ledger entry n=%s not linked into the brand chain", linked[0], linked[1])
    if code != "-":
        await mark_issued(scripts, leader, code)
    if item.stock is not None:
        await commit(redis, REDEMPTIONS, item.id, reservation)


async def _refused(scripts: Scripts, leader: str, code: str, item, reservation: str) -> None:
    if code != "-":
        await drop_pending(scripts, leader, code)
    if item.stock is not None:
        await release(scripts, REDEMPTIONS, item.id, reservation)


async def issued_by_attempt(redis, scripts: Scripts, leader: str, code: str, member_id: str, key: str) -> bool:
    """A pending code's truth, from the attempt that made it: True (and marked issued) when
    that attempt took the member's points for this very code."""
    state, answer = await redis.hmget(idempotency_key(member_id, key), "state", "answer")
    answer = _text(answer) if answer is not None else ""
    if _text(state) != "done" or not answer.startswith("200 ") or answer.split(" ")[5] != code:
        return False
    await mark_issued(scripts, leader, code)
    return True


async def recover(redis, scripts: Scripts, now: int | None = None) -> dict:
    """Settle the redemption reservations a crash left behind (api/reservations.py); a kept
    unit's code is marked issued on its leader's pick list, as the request would have done."""

    async def listed(member_id: str, key: str, answer: str) -> None:
        leader, code = answer.split(" ")[4:6]
        if code == "-":  # a coupon grant: no code to list
            return
        await mark_issued(scripts, ANY_LEADER if leader == "-" else leader, code)

    return await recover_pool(redis, scripts, REDEMPTIONS, now, listed)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
