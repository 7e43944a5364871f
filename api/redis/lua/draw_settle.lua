-- A held entry becomes an entry (keep 1) or is let go (keep 0); 0 when the reservation is gone already.
-- KEYS: draw_entries_key, draw_reservations_key, draw_key
-- ARGV: reservation, keep (1 or 0), at (the entry's business instant)
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local field = string.match(held, '^(%S+)')
local raw = redis.call('HGET', KEYS[1], field)
if not raw then return 0 end
local reservation, tier, weight = string.match(raw, '^r (%S+) (%S+) (%d+)')
if reservation ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], field, 'e ' .. tier .. ' ' .. weight .. ' ' .. ARGV[3])
  redis.call('HINCRBY', KEYS[3], 'tier:' .. tier, 1)  -- the big screen's count
else
  redis.call('HDEL', KEYS[1], field)
end
return 1
