-- Record a refusal decided before the member's checks as the attempt's answer.
-- KEYS: member_key, idempotency_key
-- ARGV: nonce, answer
if redis.call('HGET', KEYS[2], 'state') ~= 'running' or redis.call('HGET', KEYS[2], 'nonce') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[2], 'state', 'done', 'answer', ARGV[2])
return 1
