-- Freeze or unfreeze a member, with a ledger entry when it changes (-1: no such member).
-- KEYS: member_key, ledger_key
-- ARGV: frozen (1/0), now, reason
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local was = redis.call('HGET', KEYS[1], 'frozen') == '1'
redis.call('HSET', KEYS[1], 'frozen', ARGV[1])
if was ~= (ARGV[1] == '1') then
  redis.call('XADD', KEYS[2], '*', 'delta', 0, 'reason', ARGV[1] == '1' and 'frozen' or 'unfrozen', 'ref', ARGV[3],
             'at', ARGV[2], 'expires', 0, 'balance', tonumber(redis.call('HGET', KEYS[1], 'points') or '0'))
end
return 1
