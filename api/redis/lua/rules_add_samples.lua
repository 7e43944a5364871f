-- Append sampled requests, then trim the oldest until the stream is within both bounds; the bytes held.
-- KEYS: RULES_SAMPLE, RULES_SAMPLE_BYTES
-- ARGV: budget, most entries, overhead, then body, instant pairs
local budget, most, overhead = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '*', 'b', ARGV[i], 'at', ARGV[i + 1])
  total = total + #ARGV[i] + #ARGV[i + 1] + 3 + overhead  -- 3: the field names b and at
end
local length = redis.call('XLEN', KEYS[1])
while (total > budget or length > most) and length > 0 do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
  local cut = nil
  for _, e in ipairs(oldest) do
    if total <= budget and length <= most then break end
    local size = overhead
    for k = 1, #e[2] do size = size + #e[2][k] end
    total, length, cut = total - size, length - 1, e[1]
  end
  if cut == nil then break end
  redis.call('XDEL', KEYS[1], cut)
  redis.call('XTRIM', KEYS[1], 'MINID', cut)
end
if length == 0 then total = 0 end
redis.call('SET', KEYS[2], math.max(0, total))
return total
