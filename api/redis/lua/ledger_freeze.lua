-- Freeze or unfreeze a member, with a ledger entry when it changes (-1: no such member).
-- KEYS: member_key, ledger_key
-- ARGV: frozen (1/0), now, reason
--#include chain
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local was = redis.call('HGET', KEYS[1], 'frozen') == '1'
redis.call('HSET', KEYS[1], 'frozen', ARGV[1])
if was ~= (ARGV[1] == '1') then
  entry(KEYS[1], KEYS[2], 0, ARGV[1] == '1' and 'frozen' or 'unfrozen', ARGV[3], ARGV[2], 0,
        tonumber(redis.call('HGET', KEYS[1], 'points') or '0'))
end
return 1
