-- A draw's seed, made once: the first caller's random seed is kept, its SHA-256 published (api/draws.py).
-- KEYS: draw_key
-- ARGV: seed (hex), its SHA-256 (hex)
if redis.call('HSETNX', KEYS[1], 'seed', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'commitment', ARGV[2], 'state', 'open')
end
return {redis.call('HGET', KEYS[1], 'commitment'), redis.call('HGET', KEYS[1], 'state')}
