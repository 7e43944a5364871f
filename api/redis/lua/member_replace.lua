-- Replace a member's profile; the ledger's own fields (the balance, its next lapse and the points lapsing
-- then, the points owed, the head of the ledger's hash chain: chain_n, chain_h) are the ledger's to
-- change, so they stay, and so do tier progression's figures (growth, review_at, tier_since, sp:<month>,
-- t:<task>: api/progression.py).
-- KEYS: member_key
-- ARGV: field, value, ...
-- The member's unused coupon grants (`g:<coupon>`, lua/grants.lua) are the grants' to change: they stay too.
local kept = redis.call('HMGET', KEYS[1], 'points', 'lapse_at', 'lapse_points', 'debt', 'chain_n', 'chain_h')
local owned, progress = {}, {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == 'g:' then owned[#owned + 1] = f; owned[#owned + 1] = all[i + 1] end
  if f == 'growth' or f == 'review_at' or f == 'tier_since' or string.sub(f, 1, 3) == 'sp:'
      or string.sub(f, 1, 2) == 't:' then
    progress[#progress + 1] = f
    progress[#progress + 1] = all[i + 1]
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
local names = {'points', 'lapse_at', 'lapse_points', 'debt', 'chain_n', 'chain_h'}
for i = 1, #names do
  if kept[i] then redis.call('HSET', KEYS[1], names[i], kept[i]) end
end
if #owned > 0 then redis.call('HSET', KEYS[1], unpack(owned)) end
if #progress > 0 then redis.call('HSET', KEYS[1], unpack(progress)) end
return 1
