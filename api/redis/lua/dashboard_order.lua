-- Count a settled order on the room's big screen, or take a refunded one back out; each once.
-- KEYS: dashboard_key, dashboard_orders_key, dashboard_minutes_key, dashboard_leaders_key
-- ARGV: 'settle' or 'refund', '<member>|<order>', payable (fen), minute, pickup leader ('' none)
-- Returns 1 when counted or taken out now, 0 for a replay (or a refund of an order never counted).

local seen = redis.call('HGET', KEYS[2], ARGV[2])
local payable, minute, leader
if ARGV[1] == 'settle' then
  if seen then return 0 end
  payable, minute, leader = tonumber(ARGV[3]), ARGV[4], ARGV[5]
  if leader == '' then leader = '-' end
  redis.call('HSET', KEYS[2], ARGV[2], payable .. ' ' .. minute .. ' ' .. leader)
  redis.call('HINCRBY', KEYS[1], 'gmv', payable)
  redis.call('HINCRBY', KEYS[1], 'orders', 1)
  redis.call('HINCRBY', KEYS[3], 'g:' .. minute, payable)
  if redis.call('HLEN', KEYS[3]) > 2 * ${DASHBOARD_MINUTES} then  -- both kinds' buckets: drop any past the window
    local oldest = tonumber(minute) - ${DASHBOARD_MINUTES}
    for _, name in ipairs(redis.call('HKEYS', KEYS[3])) do
      local at = tonumber(string.sub(name, 3))
      if at and at <= oldest then redis.call('HDEL', KEYS[3], name) end
    end
  end
  if leader ~= '-' then redis.call('ZINCRBY', KEYS[4], 1, leader) end
else
  if not seen or string.sub(seen, 1, 2) == 'r ' then return 0 end
  local p, m, l = string.match(seen, '^(%d+) (%d+) (%S+)$')
  payable, minute, leader = tonumber(p), m, l  -- taken back as 0 - payable: Lua's -0 is no integer to Redis
  redis.call('HSET', KEYS[2], ARGV[2], 'r ' .. seen)
  redis.call('HINCRBY', KEYS[1], 'gmv', 0 - payable)
  redis.call('HINCRBY', KEYS[1], 'orders', -1)
  if redis.call('HEXISTS', KEYS[3], 'g:' .. minute) == 1 then  -- the settlement's own minute, while kept
    redis.call('HINCRBY', KEYS[3], 'g:' .. minute, 0 - payable)
  end
  if leader ~= '-' then
    if tonumber(redis.call('ZINCRBY', KEYS[4], -1, leader)) <= 0 then redis.call('ZREM', KEYS[4], leader) end
  end
end
for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ${DASHBOARD_SESSION_SECONDS}) end
return 1
