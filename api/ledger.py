"""The points ledger in Redis: lots, entries, and the scripts that change them.

A member's balance is made of lots: each credit is a lot (points left, expiry), and
spending takes from the oldest lots first. Every change is an entry in the member's
ledger stream. The balance is always the sum of the live lots; the `points` field of the
member hash is a copy of it, kept by the same script that changes the lots, so that a
quote reads the balance with the rest of the member in one HGETALL. `lapse_at` there is
the earliest expiry among the lots (0: none), so that a reader knows when a sweep is due
without reading the lots.

Keys, all with the member id as hash tag (one Redis Cluster slot per member):

    lots:{<id>}   hash    lot number -> "<points left> <expiry, Unix seconds; 0: never>";
                          field "#" holds the last lot number given
    led:{<id>}    stream  entries: delta, reason, ref, at, expires, balance (after)
    ev:{<id>}     hash    event id -> "<points> <balance> <expires> <note> <reason>": an event
                          counts once, and its replay is answered from this
    ev:{<id>}:at  zset    event id -> the wall-clock second it was credited; ids older than
                          EVENT_REPLAY_DAYS are dropped from both by the next credit
    caps:{<id>}   hash    points earned per event kind and session / day, for the caps

Every script makes all of its refusals before its first write (Redis does not roll a
script back), and redis-py reloads a script the server has forgotten (NOSCRIPT). Two
writes come first on purpose: forgetting event ids past their replay window, and
counting the attempt against the member's rate a minute (an attempt counts, refused or
not; a replay does not).
"""
from __future__ import annotations

import time
from typing import Optional

from engine.model import MAX_POINTS

from .access import RATE_KEY_TTL_SECONDS, RateWindow
from .redis.keys import caps_key, events_index_key, events_key, ledger_key, lots_key, member_key

CAPS_TTL_SECONDS = 8 * 86400  # cap counters outlive any day and any live session they count
EVENT_REPLAY_DAYS = 30  # an event id counts once within this many days of its credit
PRUNE_BATCH = 64  # forgotten event ids dropped per credit: bounded work that outpaces any rate limit

# -- Lua shared by the scripts ------------------------------------------------------------

_LOTS = f"local MAX_BALANCE = {MAX_POINTS}\n" + r"""
local function read_lots(key)
  local raw = redis.call('HGETALL', key)
  local lots = {}
  for i = 1, #raw, 2 do
    if raw[i] ~= '#' then
      local left, expires = string.match(raw[i + 1], '^(%d+) (%d+)$')
      lots[#lots + 1] = {n = tonumber(raw[i]), field = raw[i], left = tonumber(left), expires = tonumber(expires)}
    end
  end
  table.sort(lots, function(a, b) return a.n < b.n end)
  return lots
end

local function entry(led, delta, reason, ref, at, expires, balance, debt)
  if debt then  -- the points owed after this entry, on the entries that change them
    redis.call('XADD', led, '*', 'delta', delta, 'reason', reason, 'ref', ref, 'at', at,
               'expires', expires, 'balance', balance, 'debt', debt)
  else
    redis.call('XADD', led, '*', 'delta', delta, 'reason', reason, 'ref', ref, 'at', at,
               'expires', expires, 'balance', balance)
  end
end

-- lapse the lots whose expiry has passed; the balance and the live lots after. A member
-- written before the ledger existed has a balance and no lots: it becomes one opening lot.
local function sweep(member, lots_key, led, now)
  if redis.call('HEXISTS', lots_key, '#') == 0 then
    local opening = tonumber(redis.call('HGET', member, 'points') or '0') or 0
    redis.call('HSET', lots_key, '#', 1)
    if opening > 0 then
      redis.call('HSET', lots_key, 1, opening .. ' 0')
      entry(led, opening, 'opening', '', now, 0, opening)
    end
  end
  local lots = read_lots(lots_key)
  local balance = 0
  for _, lot in ipairs(lots) do balance = balance + lot.left end
  local live = {}
  for _, lot in ipairs(lots) do
    if lot.expires > 0 and lot.expires <= now then
      redis.call('HDEL', lots_key, lot.field)
      balance = balance - lot.left
      entry(led, -lot.left, 'expired', 'lot:' .. lot.field, now, lot.expires, balance)
    else
      live[#live + 1] = lot
    end
  end
  return balance, live
end

local function next_lapse(live)
  local soonest = 0
  for _, lot in ipairs(live) do
    if lot.left > 0 and lot.expires > 0 and (soonest == 0 or lot.expires < soonest) then soonest = lot.expires end
  end
  return soonest
end

local function add_lot(lots_key, live, points, expires)
  local n = redis.call('HINCRBY', lots_key, '#', 1)
  redis.call('HSET', lots_key, n, points .. ' ' .. expires)
  live[#live + 1] = {n = n, field = tostring(n), left = points, expires = expires}
end

-- take points from the oldest lots first; the caller has checked the balance covers it
local function take(lots_key, live, points)
  for _, lot in ipairs(live) do
    if points == 0 then break end
    local used = math.min(lot.left, points)
    lot.left = lot.left - used
    points = points - used
    if lot.left == 0 then
      redis.call('HDEL', lots_key, lot.field)
    else
      redis.call('HSET', lots_key, lot.field, lot.left .. ' ' .. lot.expires)
    end
  end
end

local function publish(member, balance, live)
  redis.call('HSET', member, 'points', balance, 'lapse_at', next_lapse(live))
end

-- the balance a sweep would leave now, read without writing (for refusals made before any write)
local function live_balance(member, lots_key, now)
  if redis.call('HEXISTS', lots_key, '#') == 0 then return tonumber(redis.call('HGET', member, 'points') or '0') or 0 end
  local balance = 0
  for _, lot in ipairs(read_lots(lots_key)) do
    if lot.expires == 0 or lot.expires > now then balance = balance + lot.left end
  end
  return balance
end

local function debt_of(member)
  return tonumber(redis.call('HGET', member, 'debt') or '0') or 0
end

-- what the balance becomes after a credit of `points`: a debt from a refund is paid first
local function balance_after_credit(member, balance, points)
  return balance + math.max(0, points - debt_of(member))
end

-- credit `points`: an entry for the credit, then one paying any debt from it; the rest is a lot
local function credit(member, lots_key, led, live, balance, points, expires, reason, ref, now)
  local debt = debt_of(member)
  local paid = math.min(debt, points)
  balance = balance + points
  entry(led, points, reason, ref, now, expires, balance)
  if paid > 0 then
    balance = balance - paid
    redis.call('HSET', member, 'debt', debt - paid)
    entry(led, -paid, 'debt_paid', ref, now, 0, balance, debt - paid)
  end
  if points > paid then add_lot(lots_key, live, points - paid, expires) end
  return balance
end
"""

# KEYS: member, lots, led   ARGV: now
_SWEEP = _LOTS + r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]))
publish(KEYS[1], balance, live)
return balance
"""

# KEYS: member, lots, led   ARGV: target balance, now, ref
_SET_BALANCE = _LOTS + r"""
local target, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
local delta = target - balance
if delta > 0 then
  add_lot(KEYS[2], live, delta, 0)
elseif delta < 0 then
  take(KEYS[2], live, -delta)
end
if delta ~= 0 then entry(KEYS[3], delta, 'import', ARGV[3], now, 0, target) end
publish(KEYS[1], target, live)
return delta
"""

# KEYS: member, lots, led, ev, caps, ev index[, rate counter]
# ARGV: now, event id, reason, points, expires, note, session field, session cap (-1: none),
#       day field, day cap (-1: none), caps ttl, rate field, most events per rate field (-1: none),
#       wall-clock now, forget event ids seen before (wall clock), prune batch[, rate limit, rate counter ttl]
_CREDIT_EVENT = _LOTS + r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_member'} end
local forgotten = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', ARGV[15], 'LIMIT', 0, tonumber(ARGV[16]))
for _, old in ipairs(forgotten) do
  redis.call('HDEL', KEYS[4], old)
  redis.call('ZREM', KEYS[6], old)
end
local prior = redis.call('HGET', KEYS[4], ARGV[2])
if prior then return {'replay', prior} end
if KEYS[7] then  -- a replay is answered above, uncounted; a new event counts against the member's rate
  local count = redis.call('INCR', KEYS[7])
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[18]))
  if count > tonumber(ARGV[17]) then return {'rate_limited'} end
end
if redis.call('HGET', KEYS[1], 'frozen') == '1' then return {'member_frozen'} end
local now, points, expires = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local note = ARGV[6]
local caps = {{ARGV[7], tonumber(ARGV[8]), 'cap_per_session'}, {ARGV[9], tonumber(ARGV[10]), 'cap_per_day'}}
for _, cap in ipairs(caps) do
  if cap[2] >= 0 and points > 0 then
    local earned = tonumber(redis.call('HGET', KEYS[5], cap[1]) or '0')
    if earned + points > cap[2] then
      points = math.max(0, cap[2] - earned)
      note = cap[3]
    end
  end
end
if balance_after_credit(KEYS[1], live_balance(KEYS[1], KEYS[2], now), points) > MAX_BALANCE then
  return {'balance_limit'}
end
-- every refusal is behind us; an event past the kind's hourly rate freezes the member instead
local rate_limit = tonumber(ARGV[13])
if rate_limit >= 0 then
  local seen = tonumber(redis.call('HGET', KEYS[5], ARGV[12]) or '0')
  if seen + 1 > rate_limit then  -- too many: frozen for review, this event earns nothing
    redis.call('HSET', KEYS[1], 'frozen', 1)
    entry(KEYS[3], 0, 'frozen', 'rate:' .. ARGV[12], now, 0, tonumber(redis.call('HGET', KEYS[1], 'points') or '0'))
    return {'frozen_now'}
  end
  redis.call('HINCRBY', KEYS[5], ARGV[12], 1)
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[11]))
end
-- the writes
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
if points > 0 then
  balance = credit(KEYS[1], KEYS[2], KEYS[3], live, balance, points, expires, ARGV[3], ARGV[2], now)
  for _, cap in ipairs(caps) do
    if cap[2] >= 0 then redis.call('HINCRBY', KEYS[5], cap[1], points) end
  end
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[11]))
else
  expires = 0
end
publish(KEYS[1], balance, live)
local record = points .. ' ' .. balance .. ' ' .. expires .. ' ' .. note .. ' ' .. ARGV[3]
redis.call('HSET', KEYS[4], ARGV[2], record)
redis.call('ZADD', KEYS[6], ARGV[14], ARGV[2])
return {'ok', record}
"""


# KEYS: member, led   ARGV: frozen (1/0), now, reason
_FREEZE = r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local was = redis.call('HGET', KEYS[1], 'frozen') == '1'
redis.call('HSET', KEYS[1], 'frozen', ARGV[1])
if was ~= (ARGV[1] == '1') then
  redis.call('XADD', KEYS[2], '*', 'delta', 0, 'reason', ARGV[1] == '1' and 'frozen' or 'unfrozen', 'ref', ARGV[3],
             'at', ARGV[2], 'expires', 0, 'balance', tonumber(redis.call('HGET', KEYS[1], 'points') or '0'))
end
return 1
"""


class Scripts:
    """The ledger scripts registered on one client (sync or asyncio redis-py)."""

    def __init__(self, redis):
        self.sweep = redis.register_script(_SWEEP)
        self.set_balance = redis.register_script(_SET_BALANCE)
        self.credit_event = redis.register_script(_CREDIT_EVENT)
        self.freeze = redis.register_script(_FREEZE)


def set_balance(scripts: Scripts, member_id: str, points: int, now: int, ref: str, client=None):
    """Bring a member's balance to `points` through the ledger (an `import` entry): a lot
    for a rise, the oldest lots first for a fall. Returns the script call (a pipeline
    queues it)."""
    return scripts.set_balance(keys=[member_key(member_id), lots_key(member_id), ledger_key(member_id)],
                               args=[points, now, ref], client=client)


def sweep(scripts: Scripts, member_id: str, now: int, client=None):
    """Lapse a member's expired lots now; the balance after (-1: no such member)."""
    return scripts.sweep(keys=[member_key(member_id), lots_key(member_id), ledger_key(member_id)], args=[now],
                         client=client)


def credit_event(scripts: Scripts, member_id: str, *, now: int, event_id: str, reason: str, points: int,
                 expires: int, note: str, session_field: str, session_cap: Optional[int], day_field: str,
                 day_cap: Optional[int], rate_field: str = "", rate_limit: Optional[int] = None,
                 rate: Optional[RateWindow] = None, wall_now: Optional[float] = None):
    """Credit one event, once per event id within EVENT_REPLAY_DAYS; a replay is answered
    from its record and not counted against `rate` (the member's events a minute)."""
    wall = int(time.time() if wall_now is None else wall_now)
    keys = [member_key(member_id), lots_key(member_id), ledger_key(member_id), events_key(member_id),
            caps_key(member_id), events_index_key(member_id)]
    args = [now, event_id, reason, points, expires, note, session_field, -1 if session_cap is None else session_cap,
            day_field, -1 if day_cap is None else day_cap, CAPS_TTL_SECONDS, rate_field,
            -1 if rate_limit is None else rate_limit, wall, wall - EVENT_REPLAY_DAYS * 86400, PRUNE_BATCH]
    if rate is not None:
        keys.append(rate.key)
        args += [rate.limit, RATE_KEY_TTL_SECONDS]
    return scripts.credit_event(keys=keys, args=args)


def freeze(scripts: Scripts, member_id: str, frozen: bool, now: int, reason: str):
    """Freeze or unfreeze a member (a `frozen` / `unfrozen` ledger entry when it changes);
    -1 when there is no such member."""
    return scripts.freeze(keys=[member_key(member_id), ledger_key(member_id)], args=[int(frozen), now, reason])


def parse_entry(entry_id, fields: dict) -> dict:
    """A ledger stream entry as the API shows it."""
    def text(name: str) -> str:
        value = fields.get(name.encode(), fields.get(name, b""))
        return value.decode() if isinstance(value, bytes) else value

    expires = int(text("expires") or 0)
    out = {"id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id, "delta": int(text("delta")),
           "reason": text("reason"), "ref": text("ref"), "at": int(text("at")), "expires": expires or None,
           "balance": int(text("balance"))}
    debt = text("debt")
    if debt:  # only the entries that change a debt from a refund carry it
        out["debt"] = int(debt)
    return out
