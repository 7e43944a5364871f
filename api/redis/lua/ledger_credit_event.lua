-- Credit one event, once per event id, within the caps and the kind's hourly rate.
-- KEYS: member_key, lots_key, ledger_key, events_key, caps_key, events_index_key[, rate_key]
-- ARGV: now, event id, reason, points, expires, note, session field, session cap (-1: none),
--       day field, day cap (-1: none), caps ttl, rate field, most events per rate field (-1: none),
--       wall-clock now, forget event ids seen before (wall clock), prune batch,
--       week field, week cap (-1: none)[, rate limit, rate counter ttl]
--       ..., and last the alliance brand ('' none)
-- The caps hash's TTL (caps ttl, from its last write) outlives the week a week field counts.
--#include lots
--#include rate
BRAND = ARGV[#ARGV]  -- the brand it acts for in an alliance, '' outside one (api/redis/scripts.py)

if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_member'} end
local forgotten = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', ARGV[15], 'LIMIT', 0, tonumber(ARGV[16]))
for _, old in ipairs(forgotten) do
  redis.call('HDEL', KEYS[4], old)
  redis.call('ZREM', KEYS[6], old)
end
local prior = redis.call('HGET', KEYS[4], ARGV[2])
if prior then return {'replay', prior} end
if KEYS[7] then  -- a replay is answered above, uncounted; a new event counts against the member's rate
  local wait = rate_wait(KEYS[7], tonumber(ARGV[19]), tonumber(ARGV[20]))
  if wait > 0 then return {'rate_limited', wait} end
end
if redis.call('HGET', KEYS[1], 'frozen') == '1' then return {'member_frozen'} end
local now, points, expires = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local note = ARGV[6]
local caps = {{ARGV[7], tonumber(ARGV[8]), 'cap_per_session'}, {ARGV[9], tonumber(ARGV[10]), 'cap_per_day'},
  {ARGV[17], tonumber(ARGV[18]), 'cap_per_week'}}
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
    entry(KEYS[1], KEYS[3], 0, 'frozen', 'rate:' .. ARGV[12], now, 0, tonumber(redis.call('HGET', KEYS[1], 'points') or '0'))
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
