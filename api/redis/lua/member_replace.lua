-- Replace a member's profile; the ledger's own fields (the balance, its next lapse and the points lapsing
-- then, the points owed) are the ledger's to change, so they stay.
-- KEYS: member_key
-- ARGV: field, value, ...
local kept = redis.call('HMGET', KEYS[1], 'points', 'lapse_at', 'lapse_points', 'debt')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
local names = {'points', 'lapse_at', 'lapse_points', 'debt'}
for i = 1, #names do
  if kept[i] then redis.call('HSET', KEYS[1], names[i], kept[i]) end
end
return 1
