-- A pending code becomes issued, or is dropped; 0 when it was not pending.
-- KEYS: pick_list_key
-- ARGV: code, new state (issued) or '' to drop a pending code
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record['state'] ~= 'pending' then return 0 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  record['state'] = ARGV[2]
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
end
return 1
