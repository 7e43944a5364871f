-- Hand over a listed, issued code once, pruning old codes first.
-- KEYS: pick_list_key, pick_issued_key
-- ARGV: code, handed at (the request's instant), keep before (wall seconds), prune batch
--#include prune

prune(KEYS[1], KEYS[2], ARGV[3])
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'not_issued'} end
local record = cjson.decode(raw)
if record['handed_at'] then return {'already_handed_over', tostring(record['handed_at'])} end
if record['state'] == 'pending' then return {'pending', record['member_id'], record['key']} end
record['handed_at'] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return {'handed_over', raw}
