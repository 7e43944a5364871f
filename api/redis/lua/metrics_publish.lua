-- Store a worker's metrics snapshot under its field. Only a worker's first publish may
-- create the field: a field that is gone was folded into `retired` (metrics_retire.lua),
-- and writing it again would count the worker twice. Returns 1 when stored, 0 when gone.
-- KEYS: METRICS_KEY
-- ARGV: the worker's field, its snapshot, '1' for the field's first publish else '0'
if ARGV[3] ~= '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
