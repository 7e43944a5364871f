"""Instant redemption: exactly once per idempotency key, never oversold, Cluster-safe.

A redemption touches two Redis Cluster slots: the member's (points, ledger, per-member
count, the idempotency record) and the item's (units left). No transaction may span
two slots, so the item's unit is reserved first and then committed or given back:

1. `begin` (member slot): the idempotency record `idem:{<member>}:<key>` is created
   (state `running`, the body's hash, a fresh nonce), or the first answer is returned,
   or the request is refused: 422 for the same key with another body, 409 while the
   first attempt runs. An attempt silent for STALE_SECONDS is taken over (new nonce).
2. The engine checks tier, room, window and task unlock (as a quote would).
3. `reserve` (item slot): one unit off `rstock:{r:<item>}` (started from the rules'
   stock on first use) and a reservation `<member>|<key>|<nonce>` in `rres:{r:<item>}`.
4. `redeem` (member slot): only while the record is still `running` with this nonce;
   checks frozen, the per-member limit and the balance before any write, then takes
   the points from the oldest lots, writes the ledger entry and the count, and marks the
   record `done` with what the answer is rendered from.
5. The reservation is dropped (committed), or on a refusal given back.

A crash between the steps leaves a reservation behind; `recover()` (run by every worker
every few seconds) settles the ones older than STALE_SECONDS: it fences the attempt
(`running` with that nonce becomes `abandoned`, so a late `redeem` refuses), then
commits the reservation if the record says the redemption happened and gives the unit
back otherwise. Giving back is idempotent (only the caller that removes the reservation
adds the unit), so the sweep and a slow request never both return one.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import orjson

from .ledger import _LOTS, ledger_key, lots_key
from .pickup_codes import ANY_LEADER, PickupCode, make_code
from .store import member_key

IDEMPOTENCY_TTL_SECONDS = 48 * 3600  # a replay answers the same for at least 24 hours
STALE_SECONDS = 30

# KEYS: member, idem   ARGV: body hash, nonce, now, ttl, stale after
_BEGIN = r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_member'} end
local state = redis.call('HGET', KEYS[2], 'state')
if state and state ~= 'abandoned' then
  if redis.call('HGET', KEYS[2], 'hash') ~= ARGV[1] then return {'mismatch'} end
  if state == 'done' then return {'done', redis.call('HGET', KEYS[2], 'answer')} end
  if tonumber(redis.call('HGET', KEYS[2], 'started')) + tonumber(ARGV[5]) > tonumber(ARGV[3]) then
    return {'running'}
  end
end
redis.call('HSET', KEYS[2], 'state', 'running', 'hash', ARGV[1], 'nonce', ARGV[2], 'started', ARGV[3])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return {'begun'}
"""

# KEYS: stock, reservations   ARGV: starting stock, reservation id, now
_RESERVE = r"""
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if tonumber(redis.call('GET', KEYS[1])) <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: stock, reservations   ARGV: reservation id
_RELEASE = r"""
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then
  redis.call('INCR', KEYS[1])
  return 1
end
return 0
"""

# KEYS: member, idem   ARGV: nonce, answer (a refusal decided before the member's checks)
_FINISH = r"""
if redis.call('HGET', KEYS[2], 'state') ~= 'running' or redis.call('HGET', KEYS[2], 'nonce') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[2], 'state', 'done', 'answer', ARGV[2])
return 1
"""

# KEYS: member, idem   ARGV: nonce   -> the record's state for that nonce, fencing a running one
_FENCE = r"""
local state, nonce = redis.call('HGET', KEYS[2], 'state'), redis.call('HGET', KEYS[2], 'nonce')
if nonce ~= ARGV[1] then return {'gone'} end
if state == 'running' then
  redis.call('HSET', KEYS[2], 'state', 'abandoned')
  return {'abandoned'}
end
local answer = redis.call('HGET', KEYS[2], 'answer')
if state == 'done' and string.sub(answer, 1, 3) == '200' then return {'redeemed', answer} end
return {'refused'}
"""

# KEYS: member, lots, led, idem
# ARGV: nonce, now, redemption id, points, member limit (-1: none), idempotency key, ok answer prefix
_REDEEM = _LOTS + r"""
if redis.call('HGET', KEYS[4], 'state') ~= 'running' or redis.call('HGET', KEYS[4], 'nonce') ~= ARGV[1] then
  return {'fenced'}
end
local now, points, limit = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function refuse(answer)
  redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer)
  return {'refused', answer}
end
if redis.call('HGET', KEYS[1], 'frozen') == '1' then return refuse('403 member_frozen 0') end
local used = tonumber(redis.call('HGET', KEYS[1], 'r:' .. ARGV[3]) or '0')
if limit >= 0 and used >= limit then return refuse('409 member_limit_reached ' .. limit) end
-- the balance a sweep would leave, read before any write
local balance = 0
for _, lot in ipairs(read_lots(KEYS[2])) do
  if lot.expires == 0 or lot.expires > now then balance = balance + lot.left end
end
if redis.call('HEXISTS', KEYS[2], '#') == 0 then balance = tonumber(redis.call('HGET', KEYS[1], 'points') or '0') end
if balance < points then return refuse('409 insufficient_points ' .. (points - balance)) end
-- every refusal is behind us: the writes
local live
balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
if points > 0 then
  take(KEYS[2], live, points)
  balance = balance - points
  entry(KEYS[3], -points, 'redeem:' .. ARGV[3], ARGV[6], now, 0, balance)
end
redis.call('HINCRBY', KEYS[1], 'r:' .. ARGV[3], 1)
publish(KEYS[1], balance, live)
local answer = ARGV[7] .. ' ' .. balance
redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer)
return {'ok', answer}
"""


def idempotency_key(member_id: str, key: str) -> str:
    return f"idem:{{{member_id}}}:{key}"


def stock_key(redemption_id: str) -> str:
    return f"rstock:{{r:{redemption_id}}}"


def reservations_key(redemption_id: str) -> str:
    return f"rres:{{r:{redemption_id}}}"


def pickup_list_key(leader_id: str) -> str:
    return f"pick:{{leader:{leader_id}}}"


def handed_key(leader_id: str) -> str:
    return f"handed:{{leader:{leader_id}}}"


class RedeemScripts:
    def __init__(self, redis):
        self.begin = redis.register_script(_BEGIN)
        self.reserve = redis.register_script(_RESERVE)
        self.release = redis.register_script(_RELEASE)
        self.finish = redis.register_script(_FINISH)
        self.fence = redis.register_script(_FENCE)
        self.redeem = redis.register_script(_REDEEM)


@dataclass(frozen=True)
class Answer:
    """An answer as stored: the status, then a success's or a refusal's fields."""

    status: int
    body: bytes


def body_hash(body: dict) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


_REASONS = {
    "member_frozen": lambda n: "the member is frozen for review: it earns and spends nothing until unfrozen",
    "member_limit_reached": lambda n: f"the member has redeemed this item the most times allowed ({n})",
    "insufficient_points": lambda n: f"the balance is {n} points short",
    "out_of_stock": lambda n: "none left",
    "tier_too_low": lambda n: "the member's tier may not redeem it",
    "tier_not_eligible": lambda n: "the member's tier may not redeem it",
    "not_in_room": lambda n: "only in its live room",
    "outside_window": lambda n: f"not open now; it opens in {n} s" if n else "not open now",
    "task_locked": lambda n: f"locked: {n} more live sessions to watch",
}


def render(stored: str, request: dict) -> Answer:
    """The answer from what the idempotency record holds, the same bytes every time.

    A success is stored as `200 <points> <cash> <at> <leader or -> <code> <balance>`, a
    refusal as `<status> <reason code> <number>`."""
    parts = stored.split(" ")
    status = int(parts[0])
    if status == 200:
        points, cash, at, leader, code, balance = parts[1:7]
        return Answer(200, orjson.dumps({
            "redemption_id": request["redemption_id"], "member_id": request["member_id"], "points": int(points),
            "cash": int(cash), "balance": int(balance), "pickup_code": code,
            "leader_id": None if leader == "-" else leader, "at": int(at)}))
    reason, number = parts[1], int(parts[2])
    return Answer(status, orjson.dumps({"error": {"code": reason, "field": "redemption_id",
                                                  "reason": _REASONS.get(reason, lambda n: reason)(number)}}))


async def redeem(redis, scripts: RedeemScripts, *, request: dict, key: str, now: int, item, engine_status: str,
                 engine_hint: int, leader_id: Optional[str], secret: bytes) -> Answer:
    """Steps 1 to 5 of the module docstring; `engine_status` is the quote's verdict on
    the item for this member now (tier, room, window, unlock)."""
    member_id = request["member_id"]
    member, idem = member_key(member_id), idempotency_key(member_id, key)
    nonce = secrets.token_hex(8)
    begun = await scripts.begin(keys=[member, idem],
                                args=[body_hash(request), nonce, now, IDEMPOTENCY_TTL_SECONDS, STALE_SECONDS])
    state = _text(begun[0])
    if state == "unknown_member":
        return Answer(404, orjson.dumps({"error": {"code": "unknown_member", "field": "member_id",
                                                   "reason": f"no member {member_id!r}"}}))
    if state == "mismatch":
        return Answer(422, orjson.dumps({"error": {"code": "idempotency_key_reused", "field": "Idempotency-Key",
                                                   "reason": "this key was used with another body"}}))
    if state == "running":
        return Answer(409, orjson.dumps({"error": {"code": "in_progress", "field": "Idempotency-Key",
                                                   "reason": "the first request with this key is still running"}}))
    if state == "done":
        return render(_text(begun[1]), request)

    if engine_status not in ("ok", "out_of_stock", "insufficient_points", "member_limit_reached"):
        answer = f"409 {engine_status} {engine_hint}"
        await scripts.finish(keys=[member, idem], args=[nonce, answer])
        return render(answer, request)
    reservation = f"{member_id}|{key}|{nonce}"
    stock_keys = [stock_key(item.id), reservations_key(item.id)]
    if item.stock is not None:
        if not await scripts.reserve(keys=stock_keys, args=[item.stock, reservation, now]):
            answer = "409 out_of_stock 0"
            await scripts.finish(keys=[member, idem], args=[nonce, answer])
            return render(answer, request)
    leader = leader_id or ANY_LEADER
    code = make_code(secret, PickupCode(member_id, item.id, leader, secrets.randbits(48)))
    prefix = f"200 {item.points} {item.cash} {now} {leader_id or '-'} {code}"
    # on a fault from here on the reservation stays for recover(), which knows from the
    # record whether the points were taken
    done = await scripts.redeem(keys=[member, lots_key(member_id), ledger_key(member_id), idem],
                                args=[nonce, now, item.id, item.points,
                                      -1 if item.member_limit is None else item.member_limit, key, prefix])
    outcome = _text(done[0])
    if outcome == "ok":
        await list_for_pickup(redis, leader, code, member_id, item.id, now)  # before the commit: see recover()
        if item.stock is not None:
            await redis.hdel(stock_keys[1], reservation)
        return render(_text(done[1]), request)
    if item.stock is not None:
        await scripts.release(keys=stock_keys, args=[reservation])
    if outcome == "fenced":
        return Answer(409, orjson.dumps({"error": {"code": "in_progress", "field": "Idempotency-Key",
                                                   "reason": "another attempt with this key took over"}}))
    return render(_text(done[1]), request)


async def recover(redis, scripts: RedeemScripts, redemption_ids, now: Optional[int] = None) -> dict:
    """Settle reservations older than STALE_SECONDS (see the module docstring)."""
    now = int(time.time()) if now is None else now
    settled = {"committed": 0, "released": 0}
    for redemption_id in redemption_ids:
        stock_keys = [stock_key(redemption_id), reservations_key(redemption_id)]
        for field, since in (await redis.hgetall(stock_keys[1])).items():
            reservation = _text(field)
            if int(since) + STALE_SECONDS > now:
                continue
            member_id, key, nonce = reservation.split("|")
            fenced = await scripts.fence(keys=[member_key(member_id), idempotency_key(member_id, key)], args=[nonce])
            if _text(fenced[0]) == "redeemed":  # the points were taken: the unit is theirs
                _, _, at, leader, code, _ = _text(fenced[1]).split(" ")[1:7]
                await list_for_pickup(redis, ANY_LEADER if leader == "-" else leader, code, member_id,
                                      redemption_id, int(at))
                settled["committed"] += await redis.hdel(stock_keys[1], reservation)
            else:
                settled["released"] += await scripts.release(keys=stock_keys, args=[reservation])
    return settled


async def list_for_pickup(redis, leader: str, code: str, member_id: str, redemption_id: str, at: int) -> None:
    """Put a code on its leader's pickup list (idempotent: the code is the field)."""
    await redis.hset(pickup_list_key(leader), code,
                     orjson.dumps({"member_id": member_id, "redemption_id": redemption_id, "at": at}))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
