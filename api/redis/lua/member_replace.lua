-- Replace a member's profile; the ledger's own fields (the balance, its next lapse and the points lapsing
-- then, the points owed) are the ledger's to change, so they stay.
-- KEYS: member_key
-- ARGV: field, value, ...
-- The member's unused coupon grants (`g:<coupon>`, lua/grants.lua) are the grants' to change: they stay too.
local kept = redis.call('HMGET', KEYS[1], 'points', 'lapse_at', 'lapse_points', 'debt')
local owned = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'g:' then owned[#owned + 1] = all[i]; owned[#owned + 1] = all[i + 1] end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
local names = {'points', 'lapse_at', 'lapse_points', 'debt'}
for i = 1, #names do
  if kept[i] then redis.call('HSET', KEYS[1], names[i], kept[i]) end
end
if #owned > 0 then redis.call('HSET', KEYS[1], unpack(owned)) end
return 1
