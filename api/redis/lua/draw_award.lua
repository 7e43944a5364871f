-- A winner's prize, once per draw and member: points credited through the ledger, or a coupon granted, or
-- goods (the pickup code recorded here; the caller lists it on the leader's pick list). A replay returns
-- the first award.
-- KEYS: member_key, lots_key, ledger_key, draw_award_key, grants_key
-- ARGV: now, draw id, slot, prize id, kind (sku, coupon, points), points, coupon, grant expiry, pickup code,
--       leader, points' expiry
--       ..., and last the alliance brand ('' none)
--#include lots
--#include grants
BRAND = ARGV[#ARGV]  -- the brand it acts for in an alliance, '' outside one (api/redis/scripts.py)

local prior = redis.call('HGET', KEYS[4], 'answer')
if prior then return {'done', prior} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_member'} end
local now, kind = tonumber(ARGV[1]), ARGV[5]
local answer
if redis.call('HGET', KEYS[1], 'frozen') == '1' then
  answer = 'withheld member_frozen'
elseif kind == 'points' then
  local points = tonumber(ARGV[6])
  if balance_after_credit(KEYS[1], live_balance(KEYS[1], KEYS[2], now), points) > MAX_BALANCE then
    answer = 'withheld balance_limit'
  else
    local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
    balance = credit(KEYS[1], KEYS[2], KEYS[3], live, balance, points, tonumber(ARGV[11]), 'draw:' .. ARGV[2],
                     'draw:' .. ARGV[2] .. ':' .. ARGV[3], now)
    publish(KEYS[1], balance, live)
    answer = 'awarded points ' .. points
  end
elseif kind == 'coupon' then
  if grants_kept(KEYS[5], now) >= MAX_GRANTS then
    answer = 'withheld grants_full'
  else
    answer = 'awarded coupon ' .. grant_add(KEYS[1], KEYS[5], ARGV[7], now, tonumber(ARGV[8]))
  end
else
  answer = 'awarded code ' .. ARGV[9] .. ' ' .. ARGV[10]
end
redis.call('HSET', KEYS[4], 'slot', ARGV[3], 'prize', ARGV[4], 'at', now, 'answer', answer)
redis.call('EXPIRE', KEYS[4], ${DRAW_RETENTION_SECONDS})
return {'ok', answer}
