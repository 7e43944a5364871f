-- The member's side of a redemption: checks before any write, then the points from the oldest lots.
-- Answers {'ok', answer[, n, h of the ledger entry]}, {'refused', answer} or {'fenced'}.
-- KEYS: member_key, lots_key, ledger_key, idempotency_key, grants_key
-- ARGV: nonce, now, redemption id, points, member limit (-1: none), idempotency key, ok answer prefix,
--       coupon granted ("" none: goods to pick up), the grant's expiry
--       ..., and last the alliance brand ('' none)
--#include lots
--#include grants
BRAND = ARGV[#ARGV]  -- the brand it acts for in an alliance, '' outside one (api/redis/scripts.py)

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
local balance = live_balance(KEYS[1], KEYS[2], now)
local debt = debt_of(KEYS[1])
if debt > 0 and points > 0 then return refuse('409 points_debt ' .. debt) end
if balance < points then return refuse('409 insufficient_points ' .. (points - balance)) end
local grants = ARGV[8] or ''
if grants ~= '' and grants_kept(KEYS[5], now) >= MAX_GRANTS then return refuse('409 grants_full ' .. MAX_GRANTS) end
-- every refusal is behind us: the writes
local live, chained
balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
if points > 0 then
  local from = take(KEYS[2], live, points)
  balance = balance - points
  chained = {entry(KEYS[1], KEYS[3], -points, 'redeem:' .. ARGV[3], ARGV[6], now, 0, balance, nil, from)}
end
redis.call('HINCRBY', KEYS[1], 'r:' .. ARGV[3], 1)
publish(KEYS[1], balance, live)
local answer = ARGV[7] .. ' ' .. balance
if grants ~= '' then
  answer = answer .. ' ' .. grant_add(KEYS[1], KEYS[5], grants, now, tonumber(ARGV[9])) .. ' ' .. grants .. ' ' .. ARGV[9]
end
redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer)
-- the ledger entry's n and h, for the brand chain (api/ledger_chain.py); none when no points were taken
if chained then return {'ok', answer, chained[1], chained[2]} end
return {'ok', answer}
