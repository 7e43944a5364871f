-- Add a brand to the deployment's registry, within the most brands one deployment serves.
-- KEYS: BRANDS_KEY
-- ARGV: brand, its record (JSON: added_at, by), the most brands the registry holds
-- Returns 1 added, 0 it was there already, -1 refused: the registry is full.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
