-- Bring a member's balance to a target through the ledger (an `import` entry); the change made.
-- KEYS: member_key, lots_key, ledger_key
-- ARGV: target balance, now, ref
--#include lots

local target, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local balance, live = sweep(KEYS[1], KEYS[2], KEYS[3], now)
local delta = target - balance
if delta > 0 then
  add_lot(KEYS[2], live, delta, 0)
elseif delta < 0 then
  take(KEYS[2], live, -delta)
end
if delta ~= 0 then entry(KEYS[1], KEYS[3], delta, 'import', ARGV[3], now, 0, target) end
publish(KEYS[1], target, live)
return delta
