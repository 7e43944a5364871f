-- Settle an order for the member: limits checked again, points credited, uses counted, a leader bound.
-- KEYS: member_key, lots_key, ledger_key, order_key, grants_key
-- ARGV: nonce, now, order id, points, expires, coupons ("id,id"), limited coupons ("id=limit;..."),
--       limited skus ("sku=qty=limit;..."), leader to bind ("" none), answer (without the balance),
--       room ("" none: kept for the refund to take the order off the room's big screen),
--       granted coupons among the coupons ("id,id"): each uses one of the member's grants
--       ..., and last the alliance brand ('' none)
--#include lots
--#include grants
BRAND = ARGV[#ARGV]  -- the brand it acts for in an alliance, '' outside one (api/redis/scripts.py)

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
local owned = {}  -- the grant each granted coupon uses
for id in string.gmatch(ARGV[12] or '', '[^,]+') do
  local each = grant_usable(KEYS[5], id, now)
  if not each then return {'refused', 'not_owned:' .. id} end
  owned[#owned + 1] = each
end
local after = balance_after_credit(KEYS[1], live_balance(KEYS[1], KEYS[2], now), points)
if after > MAX_BALANCE then return {'refused', 'balance_limit:' .. after} end
-- every refusal is behind us: the writes
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
local lot = nil  -- the lot of the order's points, for its refund
if points > 0 then
  balance, lot = credit(KEYS[1], KEYS[2], KEYS[3], live, balance, points, expires, 'order', ARGV[3], now, 'o')
end
for id in string.gmatch(ARGV[6], '[^,]+') do redis.call('HINCRBY', KEYS[1], 'c:' .. id, 1) end
for sku, qty in string.gmatch(ARGV[8], '([^=;]+)=(%d+)=%d+') do redis.call('HINCRBY', KEYS[1], 's:' .. sku, qty) end
local used = {}
for _, each in ipairs(owned) do
  grant_use(KEYS[1], KEYS[5], each, ARGV[3], now)
  used[#used + 1] = each.id
end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'leader', ARGV[9]) end
publish(KEYS[1], balance, live)
local answer = ARGV[10] .. ' ' .. balance
redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer, 'points', points, 'coupons', ARGV[6],
           'skus', ARGV[8])
if lot then redis.call('HSET', KEYS[4], 'lot', lot) end
if BRAND ~= '' then redis.call('HSET', KEYS[4], 'brand', BRAND) end  -- only this brand may refund it
if ARGV[11] and ARGV[11] ~= '' then redis.call('HSET', KEYS[4], 'room', ARGV[11]) end
if #used > 0 then redis.call('HSET', KEYS[4], 'grants', table.concat(used, ',')) end
return {'ok', answer}
