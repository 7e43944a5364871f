-- List a code as pending on its leader's pick list (once), pruning old codes first.
-- KEYS: pick_list_key, pick_issued_key
-- ARGV: code, record (JSON, state pending), wall now, keep before (wall seconds), prune batch
--#include prune

prune(KEYS[1], KEYS[2], ARGV[4])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
