-- Import one member (api/store.py write_members): its profile replaces the stored one, and its balance
-- becomes the imported one. What is not the profile's stays: the ledger's own fields (the balance, its
-- next lapse and the points lapsing then, the points owed, the head of the ledger's hash chain), tier
-- progression's figures (growth, review_at, tier_since, sp:<month>, t:<task>: api/progression.py) and
-- the member's unused coupon grants (`g:<coupon>`, lua/grants.lua) and the ledger's first entry while the
-- hash holds it (`e:<field>`, lua/chain.lua).
-- A member whose ledger has begun (its lots exist) reaches the balance through the ledger, an `import`
-- entry, as ledger_set_balance does. One whose ledger has not (a new member) holds the balance in its
-- hash alone, and its first ledger script opens the ledger with it (an `opening` lot and entry:
-- lua/lots.lua, sweep): an import writes no stream and no lots, the bulk of a member's memory.
-- KEYS: member_key, lots_key, ledger_key
-- ARGV: balance, now, ref, field, value, ...
if redis.call('EXISTS', KEYS[1]) == 0 then  -- a new member, the common case: nothing to keep, no ledger
  redis.call('HSET', KEYS[1], 'points', ARGV[1], unpack(ARGV, 4))
  return 0
end
-- the ledger's functions, defined only past the common case (defining them costs each call)
--#include lots

local target, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept = redis.call('HMGET', KEYS[1], 'points', 'lapse_at', 'lapse_points', 'debt', 'chain_n', 'chain_h')
local others = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == 'g:' or string.sub(f, 1, 2) == 'e:' or f == 'growth' or f == 'review_at' or f == 'tier_since'
      or string.sub(f, 1, 3) == 'sp:' or string.sub(f, 1, 2) == 't:' then
    others[#others + 1] = f
    others[#others + 1] = all[i + 1]
  end
end
redis.call('DEL', KEYS[1])
local names = {'points', 'lapse_at', 'lapse_points', 'debt', 'chain_n', 'chain_h'}
local restored = {}
for i = 1, #names do
  if kept[i] then restored[#restored + 1] = names[i]; restored[#restored + 1] = kept[i] end
end
if #restored == 0 then restored = {'points', target} end
redis.call('HSET', KEYS[1], unpack(restored))
if #ARGV >= 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
if #others > 0 then redis.call('HSET', KEYS[1], unpack(others)) end
if redis.call('HEXISTS', KEYS[2], '#') == 0 then  -- its ledger has not begun: the balance is the hash's
  redis.call('HSET', KEYS[1], 'points', target)
  return 0
end
return set_balance(KEYS[1], KEYS[2], KEYS[3], target, now, ARGV[3])
