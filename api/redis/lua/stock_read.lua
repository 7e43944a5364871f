-- The units left of an item with a scheduled release, its release applied if a period began.
-- KEYS: stock_key, stock_period_key
-- ARGV: period start (Unix s), amount, roll_over (1 or 0), period length (s)
--#include stock_period
release_stock(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return tonumber(redis.call('GET', KEYS[1]))
