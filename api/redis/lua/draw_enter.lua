-- The member's side of a draw entry: checks before any write, then the entry's points from the oldest lots.
-- KEYS: member_key, lots_key, ledger_key, record_key
-- ARGV: nonce, now, draw id, cost (points), idempotency key, ok answer prefix
--       ..., and last the alliance brand ('' none)
--#include lots
BRAND = ARGV[#ARGV]  -- the brand it acts for in an alliance, '' outside one (api/redis/scripts.py)

if redis.call('HGET', KEYS[4], 'state') ~= 'running' or redis.call('HGET', KEYS[4], 'nonce') ~= ARGV[1] then
  return {'fenced'}
end
local now, cost = tonumber(ARGV[2]), tonumber(ARGV[4])
local function refuse(answer)
  redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer)
  return {'refused', answer}
end
if redis.call('HGET', KEYS[1], 'frozen') == '1' then return refuse('403 member_frozen 0') end
local balance = live_balance(KEYS[1], KEYS[2], now)
local debt = debt_of(KEYS[1])
if debt > 0 and cost > 0 then return refuse('409 points_debt ' .. debt) end
if balance < cost then return refuse('409 insufficient_points ' .. (cost - balance)) end
local live
balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
if cost > 0 then
  local from = take(KEYS[2], live, cost)
  balance = balance - cost
  entry(KEYS[1], KEYS[3], -cost, 'draw:' .. ARGV[3], ARGV[5], now, 0, balance, nil, from)
  publish(KEYS[1], balance, live)
end
local answer = ARGV[6] .. ' ' .. balance
redis.call('HSET', KEYS[4], 'state', 'done', 'answer', answer)
return {'ok', answer}
