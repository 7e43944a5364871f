-- Bring a member's balance to a target through the ledger (an `import` entry); the change made.
-- KEYS: member_key, lots_key, ledger_key
-- ARGV: target balance, now, ref
--#include lots

local target, now = tonumber(ARGV[1]), tonumber(ARGV[2])
return set_balance(KEYS[1], KEYS[2], KEYS[3], target, now, ARGV[3])
