-- The record's verdict for a reservation's nonce, fencing an attempt still running.
-- KEYS: record_key
-- ARGV: nonce
local state, nonce = redis.call('HGET', KEYS[1], 'state'), redis.call('HGET', KEYS[1], 'nonce')
if nonce ~= ARGV[1] then return {'gone'} end
if state == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'abandoned')
  return {'abandoned'}
end
local answer = redis.call('HGET', KEYS[1], 'answer')
if state == 'done' and answer and string.sub(answer, 1, 3) == '200' then return {'done', answer} end
return {'refused'}
