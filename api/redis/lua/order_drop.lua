-- A refused attempt leaves nothing behind: its record goes while the attempt still owns it.
-- KEYS: order_key
-- ARGV: nonce
if redis.call('HGET', KEYS[1], 'state') == 'running' and redis.call('HGET', KEYS[1], 'nonce') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
