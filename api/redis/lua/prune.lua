-- Drop the codes of a pick list listed before `before`, at most ARGV[#ARGV] of them (the prune batch,
-- which every script including this passes last): bounded work per call.
local function prune(list, issued, before)
  local old = redis.call('ZRANGEBYSCORE', issued, '-inf', before, 'LIMIT', 0, tonumber(ARGV[#ARGV]))
  for _, code in ipairs(old) do
    redis.call('HDEL', list, code)
    redis.call('ZREM', issued, code)
  end
end
