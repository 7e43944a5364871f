-- Fold the snapshots of workers silent for an hour into the one `retired` snapshot, so the sums
-- /metrics shows never fall when a worker goes. Optimistic: refused (-1) when `retired` is no longer
-- what the caller merged into (another worker folded first); the caller tries again a minute later.
-- KEYS: METRICS_KEY
-- ARGV: the retired snapshot read ('' for none), the new one (it plus the silent ones), then the
--       silent workers' fields
if (redis.call('HGET', KEYS[1], 'retired') or '') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'retired', ARGV[2])
if #ARGV > 2 then redis.call('HDEL', KEYS[1], unpack(ARGV, 3)) end
return #ARGV - 2
