-- A reservation's unit back, once: only the caller that removes the reservation adds the unit.
-- KEYS: stock_key, reservations_key
-- ARGV: reservation id
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then
  redis.call('INCR', KEYS[1])
  return 1
end
return 0
