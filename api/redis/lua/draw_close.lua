-- Close a draw to new entries, or keep its winners once drawn (api/draws.py).
-- KEYS: draw_key, draw_entries_key, draw_reservations_key
-- ARGV: result (JSON; '' only closes), entries the result was drawn from
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'drawn' then return {'drawn', redis.call('HGET', KEYS[1], 'result')} end
if not state then return {'no_seed'} end
redis.call('HSET', KEYS[1], 'state', 'closed')
if ARGV[1] == '' then return {'closed', redis.call('HLEN', KEYS[3])} end
if redis.call('HLEN', KEYS[3]) > 0 or redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[2]) then
  return {'changed'}
end
redis.call('HSET', KEYS[1], 'state', 'drawn', 'result', ARGV[1])
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ${DRAW_RETENTION_SECONDS}) end
return {'drawn', ARGV[1]}
