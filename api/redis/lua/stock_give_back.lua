-- A unit back, to a count that exists (a missing one was never taken from); -1 otherwise.
-- KEYS: stock_key
-- ARGV: none
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
return -1
