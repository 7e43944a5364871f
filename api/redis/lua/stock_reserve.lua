-- One unit off the pool (started from the rules' stock), held for a reservation; 0 when none is left.
-- KEYS: stock_key, reservations_key
-- ARGV: starting stock, reservation id, now
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if tonumber(redis.call('GET', KEYS[1])) <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
