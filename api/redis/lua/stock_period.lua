-- An item's scheduled release, applied once per period on the first touch in it: the count
-- becomes `amount`, or with roll_over what is left plus `amount` for each period since the last
-- release. The key keeps the instant the last released period started (Unix s), not a period
-- number, so a table that changes the schedule (its `every` or `starts`) is still compared on one
-- clock: the new schedule releases at its first period start after the last release, and counts
-- whole periods of its own since then. An earlier period start (an instant in the past) changes
-- nothing.
local function release_stock(stock, period_key, start, amount, roll_over, every)
  local seen = tonumber(redis.call('GET', period_key) or '-1')
  if start <= seen then return end
  local left = redis.call('GET', stock)
  local count = amount
  if roll_over == 1 and left and seen >= 0 then
    local periods = math.max(1, math.floor((start - seen) / every))
    count = math.max(tonumber(left), 0) + amount * periods
    if count > ${MAX_STOCK} then count = ${MAX_STOCK} end
  end
  redis.call('SET', stock, count)
  redis.call('SET', period_key, start)
end
