-- An item's scheduled release, applied once per period on the first touch in it: the count
-- becomes `amount`, or what is left plus `amount` for each period since the last one seen
-- with roll_over (counted from the first period the item was touched in). An older period
-- than the one stored (an instant in the past) changes nothing.
local function release_stock(stock, period_key, period, amount, roll_over)
  local seen = tonumber(redis.call('GET', period_key) or '-1')
  if period <= seen then return end
  local left = redis.call('GET', stock)
  local count = amount
  if roll_over == 1 and left and seen >= 0 then
    count = math.max(tonumber(left), 0) + amount * (period - seen)
    if count > ${MAX_STOCK} then count = ${MAX_STOCK} end
  end
  redis.call('SET', stock, count)
  redis.call('SET', period_key, period)
end
