-- Lapse a member's expired lots and publish the balance; the balance after (-1: no such member).
-- KEYS: member_key, lots_key, ledger_key
-- ARGV: now
--#include lots

if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]))
publish(KEYS[1], balance, live)
return balance
