-- Reverse a settled order once: points taken back (or owed), coupons' uses and skus' quantities given back.
-- The order's points that lapsed unspent left the balance then: they are neither taken again nor owed.
-- The rest is taken from the order's own lot first, then from the oldest lots.
-- The member's coupon grants the order used come back while they still hold (lua/grants.lua).
-- KEYS: member_key, lots_key, ledger_key, order_key, grants_key
-- ARGV: now, order id, policy for points spent already (debt / forgive)
--       ..., and last the alliance brand ('' none)
-- Returns {'ok' | 'replay', answer, coupons, grants given back, '1' when the order's stocked coupons' units
-- go back once each, replays included (api/reservations.give_back); '' for a refund recorded before that}
--#include lots
--#include grants
BRAND = ARGV[#ARGV]  -- the brand it acts for in an alliance, '' outside one (api/redis/scripts.py)

if redis.call('HGET', KEYS[4], 'state') ~= 'done' then return {'unknown_order'} end
-- in an alliance: the brand whose table settled it; another brand of the alliance may not refund it (a brand
-- that has left the alliance refunds its own orders under its own scope, BRAND '')
local settled_in = redis.call('HGET', KEYS[4], 'brand')
if settled_in and BRAND ~= '' and settled_in ~= BRAND then return {'other_brand', settled_in} end
local prior = redis.call('HGET', KEYS[4], 'refund')
if prior then
  return {'replay', prior, redis.call('HGET', KEYS[4], 'coupons'), redis.call('HGET', KEYS[4], 'grants_back') or '',
          redis.call('HGET', KEYS[4], 'stock_once') or ''}
end
local now, points = tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[4], 'points'))
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
local lot = redis.call('HGET', KEYS[4], 'lot')  -- none: orders settled before lots were tagged, or all paid a debt
local lapsed = 0
if lot then
  local kept = redis.call('HGET', KEYS[2], lot)
  local gone = kept and string.match(kept, '^0 %d+ (%d+)')
  if gone then  -- the order's lot lapsed with points left
    lapsed = math.min(points, tonumber(gone))
    redis.call('HDEL', KEYS[2], lot)
  end
end
local ordered = {}  -- the order's own lot first
for _, each in ipairs(live) do
  if each.field == lot then table.insert(ordered, 1, each) else ordered[#ordered + 1] = each end
end
local due = points - lapsed
local taken = math.min(due, balance)
if taken > 0 then
  local from = take(KEYS[2], ordered, taken)
  balance = balance - taken
  entry(KEYS[1], KEYS[3], -taken, 'refund', ARGV[2], now, 0, balance, nil, from)
end
local owed = 0
if due > taken and ARGV[3] == 'debt' then  -- spent already: owed, paid by the next credits
  owed = due - taken
  local debt = redis.call('HINCRBY', KEYS[1], 'debt', owed)
  entry(KEYS[1], KEYS[3], 0, 'debt', ARGV[2], now, 0, balance, debt)
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
local back = {}  -- "<grant id>=<restored|expired|gone>"
for id in string.gmatch(redis.call('HGET', KEYS[4], 'grants') or '', '[^,]+') do
  back[#back + 1] = id .. '=' .. grant_give_back(KEYS[1], KEYS[5], id, ARGV[2], now)
end
redis.call('HSET', KEYS[4], 'grants_back', table.concat(back, ','))
publish(KEYS[1], balance, live)
local answer = taken .. ' ' .. (due - taken) .. ' ' .. balance .. ' ' .. now .. ' ' .. owed .. ' ' ..
               debt_of(KEYS[1]) .. ' ' .. lapsed
redis.call('HSET', KEYS[4], 'refund', answer, 'stock_once', '1')  -- its units go back once each, replays included
return {'ok', answer, coupons, table.concat(back, ','), '1'}
