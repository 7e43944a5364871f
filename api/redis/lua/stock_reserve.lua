-- One unit off the pool (started from the rules' stock), held for a reservation; 0 when none is left.
-- An item with a scheduled release passes its period key and release: applied first.
-- KEYS: stock_key, reservations_key[, stock_period_key]
-- ARGV: starting stock, reservation id, now[, period start (Unix s), amount, roll_over (1 or 0), period length (s)]
--#include stock_period
if KEYS[3] then
  release_stock(KEYS[1], KEYS[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
end
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if tonumber(redis.call('GET', KEYS[1])) <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
