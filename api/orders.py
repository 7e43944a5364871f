"""Settling an order and refunding it: points credited, coupon usage and stock consumed,
a pickup leader assigned, each exactly once.

The order record `ord:{<member>}:<order id>` (member slot) follows the pattern of
api/reservations.py: `running` with a nonce while the order settles, `done` with the
answer once the member's script has run. A settled order's record is kept for
ORDER_RETENTION_DAYS from its first attempt (its replays and its refund need it); a
refused attempt leaves no record, so the checkout may quote again
and retry with the same order id. Coupon stock is a shared pool (`stock:{c:<coupon>}`),
reserved before the member's script and committed or given back after it.
"""
from __future__ import annotations

from typing import Optional

import orjson

from .ledger import _LOTS
from .reservations import StockScripts, commit, release, reservation_id, reserve
from .reservations import begin as begin_attempt
from .redis.keys import COUPONS, ORDER_RECORD, ledger_key, lots_key, member_key, order_key

ORDER_RETENTION_DAYS = 400  # a settled order's record: its replays and its refund, for 13 months

# KEYS: order   ARGV: nonce   (a refused attempt leaves nothing behind)
_DROP = r"""
if redis.call('HGET', KEYS[1], 'state') == 'running' and redis.call('HGET', KEYS[1], 'nonce') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS: member, lots, led, order
# ARGV: nonce, now, order id, points, expires, coupons ("id,id"), limited coupons ("id=limit;..."),
#       limited skus ("sku=qty=limit;..."), leader to bind ("" none), answer (without the balance)
_SETTLE = _LOTS + r"""
if redis.call('HGET', KEYS[4], 'state') ~= 'running' or redis.call('HGET', KEYS[4], 'nonce') ~= ARGV[1] then
  return {'fenced'}
end
if redis.call('HGET', KEYS[1], 'frozen') == '1' then return {'refused', 'member_frozen'} end
for id, limit in string.gmatch(ARGV[7], '([^=;]+)=(%d+)') do
  if tonumber(redis.call('HGET', KEYS[1], 'c:' .. id) or '0') + 1 > tonumber(limit) then
    return {'refused', 'coupon_limit:' .. id}
  end
end
for sku, qty, limit in string.gmatch(ARGV[8], '([^=;]+)=(%d+)=(%d+)') do
  if tonumber(redis.call('HGET', KEYS[1], 's:' .. sku) or '0') + tonumber(qty) > tonumber(limit) then
    return {'refused', 'sku_limit:' .. sku}
  end
end
local now, points, expires = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local after = balance_after_credit(KEYS[1], live_balance(KEYS[1], KEYS[2], now), points)
if after > MAX_BALANCE then return {'refused', 'balance_limit:' .. after} end
-- every refusal is behind us: the writes
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
if points > 0 then
  balance = credit(KEYS[1], KEYS[2], KEYS[3], live, balance, points, expires, 'order', ARGV[3], now)
end
for id in string.gmatch(ARGV[6], '[^,]+') do redis.call('HINCRBY', KEYS[1], 'c:' .. id, 1) end
for sku, qty in string.gmatch(ARGV[8], '([^=;]+)=(%d+)=%d+') do redis.call('HINCRBY', KEYS[1], 's:' .. sku, qty) end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'leader', ARGV[9]) end
publish(KEYS[1], balance, live)
local answer = ARGV[10] .. ' ' .. balance
redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer, 'points', points, 'coupons', ARGV[6],
           'skus', ARGV[8])
return {'ok', answer}
"""

# KEYS: member, lots, led, order   ARGV: now, order id, policy for points spent already (debt / forgive)
_REFUND = _LOTS + r"""
if redis.call('HGET', KEYS[4], 'state') ~= 'done' then return {'unknown_order'} end
local prior = redis.call('HGET', KEYS[4], 'refund')
if prior then return {'replay', prior, redis.call('HGET', KEYS[4], 'coupons')} end
local now, points = tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[4], 'points'))
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
local taken = math.min(points, balance)
if taken > 0 then
  take(KEYS[2], live, taken)
  balance = balance - taken
  entry(KEYS[3], -taken, 'refund', ARGV[2], now, 0, balance)
end
local owed = 0
if points > taken and ARGV[3] == 'debt' then  -- spent already: owed, paid by the next credits
  owed = points - taken
  local debt = redis.call('HINCRBY', KEYS[1], 'debt', owed)
  entry(KEYS[3], 0, 'debt', ARGV[2], now, 0, balance, debt)
end
local coupons = redis.call('HGET', KEYS[4], 'coupons')
for id in string.gmatch(coupons, '[^,]+') do
  if tonumber(redis.call('HINCRBY', KEYS[1], 'c:' .. id, -1)) <= 0 then redis.call('HDEL', KEYS[1], 'c:' .. id) end
end
for sku, qty in string.gmatch(redis.call('HGET', KEYS[4], 'skus'), '([^=;]+)=(%d+)=%d+') do
  if tonumber(redis.call('HINCRBY', KEYS[1], 's:' .. sku, -tonumber(qty))) <= 0 then
    redis.call('HDEL', KEYS[1], 's:' .. sku)
  end
end
publish(KEYS[1], balance, live)
local answer = taken .. ' ' .. (points - taken) .. ' ' .. balance .. ' ' .. now .. ' ' .. owed .. ' ' ..
               debt_of(KEYS[1])
redis.call('HSET', KEYS[4], 'refund', answer)
return {'ok', answer, coupons}
"""



class OrderScripts(StockScripts):
    def __init__(self, redis):
        super().__init__(redis)
        self.drop = redis.register_script(_DROP)
        self.settle = redis.register_script(_SETTLE)
        self.refund = redis.register_script(_REFUND)


class Refused(Exception):
    def __init__(self, status: int, code: str, reason: str, field: Optional[str] = None):
        self.status, self.code, self.reason, self.field = status, code, reason, field


def render_settled(answer: str, order_id: str, member_id: str) -> bytes:
    """A settled order's answer from its record: the same bytes for every replay.

    Stored as `200 <version> <subtotal> <discount> <payable> <points> <coupons or -> <leader
    or -> <new neighbour 0/1> <at> <balance>`."""
    (_, version, subtotal, discount, payable, points, coupons, leader, neighbour, at,
     balance) = answer.split(" ")
    return orjson.dumps({"order_id": order_id, "member_id": member_id, "rules_version": version,
                         "subtotal": int(subtotal), "discount": int(discount), "payable": int(payable),
                         "points": int(points), "balance": int(balance),
                         "coupons": coupons.split(",") if coupons != "-" else [],
                         "leader_id": None if leader == "-" else leader, "new_neighbour": neighbour == "1",
                         "at": int(at)})


def render_refund(answer: str, order_id: str, member_id: str, coupons: str) -> bytes:
    """Stored as `<taken> <not recovered> <balance> <at> <owed by this refund> <debt after>`
    (refunds recorded before debts existed have the first four)."""
    taken, short, balance, at, *debt = answer.split(" ")
    owed, debt_after = (int(debt[0]), int(debt[1])) if debt else (0, 0)
    return orjson.dumps({"order_id": order_id, "member_id": member_id, "points_reversed": int(taken),
                         "points_not_recovered": int(short), "points_owed": owed, "points_debt": debt_after,
                         "balance": int(balance), "coupons_restored": [c for c in coupons.split(",") if c],
                         "at": int(at)})


async def begin(scripts: OrderScripts, member_id: str, order_id: str, body: dict):
    """('new', nonce) to go on, ('done', answer) for a replay; Refused otherwise."""
    started = await begin_attempt(scripts, ORDER_RECORD, member_id, order_id, body, ORDER_RETENTION_DAYS * 86400)
    if started[0] == "unknown_member":
        raise Refused(404, "unknown_member", f"no member {member_id!r}", "member_id")
    if started[0] == "mismatch":
        raise Refused(422, "order_id_reused", "this order id was settled with another body", "order_id")
    if started[0] == "running":
        raise Refused(409, "in_progress", "this order is being settled by another request", "order_id")
    return ("done", started[1]) if started[0] == "done" else ("new", started[1])


async def drop(scripts: OrderScripts, member_id: str, order_id: str, nonce: str) -> None:
    await scripts.drop(keys=[order_key(member_id, order_id)], args=[nonce])


async def reserve_coupons(scripts: OrderScripts, coupons: list, member_id: str, order_id: str,
                          nonce: str) -> Optional[str]:
    """Reserve one unit of each coupon's total stock ((id, stock) pairs); the id of the
    first one sold out (having given back what was reserved), or None."""
    reservation = reservation_id(ORDER_RECORD, member_id, order_id, nonce)
    taken = []
    for coupon_id, stock in coupons:
        if not await reserve(scripts, COUPONS, coupon_id, stock, reservation):
            for done in taken:
                await release(scripts, COUPONS, done, reservation)
            return coupon_id
        taken.append(coupon_id)
    return None


async def finish_coupons(redis, scripts: OrderScripts, coupons: list, member_id: str, order_id: str, nonce: str,
                         settled: bool) -> None:
    reservation = reservation_id(ORDER_RECORD, member_id, order_id, nonce)
    for coupon_id, _ in coupons:
        if settled:
            await commit(redis, COUPONS, coupon_id, reservation)
        else:
            await release(scripts, COUPONS, coupon_id, reservation)


async def settle(scripts: OrderScripts, member_id: str, order_id: str, nonce: str, *, now: int, points: int,
                 expires: int, coupons: list, limited_coupons: dict, limited_skus: dict, bind_leader: str,
                 answer: str) -> tuple:
    done = await scripts.settle(
        keys=[member_key(member_id), lots_key(member_id), ledger_key(member_id), order_key(member_id, order_id)],
        args=[nonce, now, order_id, points, expires, ",".join(coupons),
              ";".join(f"{c}={limit}" for c, limit in limited_coupons.items()),
              ";".join(f"{s}={qty}={limit}" for s, (qty, limit) in limited_skus.items()), bind_leader, answer])
    return _text(done[0]), _text(done[1]) if len(done) > 1 else None


async def refund(scripts: OrderScripts, member_id: str, order_id: str, now: int, policy: str = "debt") -> tuple:
    """Reverse a settled order once; `policy` is the rules' points.refund for points the
    member has spent already."""
    done = await scripts.refund(
        keys=[member_key(member_id), lots_key(member_id), ledger_key(member_id), order_key(member_id, order_id)],
        args=[now, order_id, policy])
    return tuple(_text(part) for part in done)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
