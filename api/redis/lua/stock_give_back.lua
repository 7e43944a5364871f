-- A unit back to a count that exists (a missing one was never taken from: -1), once for the
-- order whose refund asks: KEYS[2] marks it given back for ARGV[1] seconds, and a call that
-- finds the mark gives nothing (-2), so a refund replayed after a fault gives each unit back once.
-- KEYS: stock_key, stock_returned_key
-- ARGV: seconds the mark is kept
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return -2 end
return redis.call('INCR', KEYS[1])
