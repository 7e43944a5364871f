-- Open an attempt's record (running, the body's hash, a nonce), or say why not. A replay is answered
-- from the record before the attempt is counted against the rate.
-- KEYS: member_key, record_key[, rate_key]
-- ARGV: body hash, nonce, now (wall clock), stale after, ttl (0: none)[, rate limit, rate counter ttl]
--#include rate

if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_member'} end
local state = redis.call('HGET', KEYS[2], 'state')
if state and state ~= 'abandoned' then
  if redis.call('HGET', KEYS[2], 'hash') ~= ARGV[1] then return {'mismatch'} end
  if state == 'done' then return {'done', redis.call('HGET', KEYS[2], 'answer')} end
  if tonumber(redis.call('HGET', KEYS[2], 'started')) + tonumber(ARGV[4]) > tonumber(ARGV[3]) then
    return {'running'}
  end
end
if KEYS[3] then
  local wait = rate_wait(KEYS[3], tonumber(ARGV[6]), tonumber(ARGV[7]))
  if wait > 0 then return {'rate_limited', wait} end
end
redis.call('HSET', KEYS[2], 'state', 'running', 'hash', ARGV[1], 'nonce', ARGV[2], 'started', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5])) end
return {'begun'}
