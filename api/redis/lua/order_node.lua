-- A settlement on one Redis node, in one round trip: the steps api/routes/orders.py takes one script at a
-- time on a Cluster, in the same order and with the same answers. The attempt opens (`begin`); a unit of
-- each stocked coupon is reserved (`reserve`, one step each; one sold out: {'sold_out', its place}); the
-- member joins the new leader's group (`join`); the member's script settles (`settle`); on a refusal the
-- units go back and the record with them (`drop`); else the units are kept, the order goes on its room's
-- screen (`screen`), counts toward tier progression (`tier`) and onto the new leader's feed (`feed`).
-- Answers as attempt_begin when the attempt does not open, as order_settle when it refuses, else
-- {'ok', the stored answer[, tier_progress's answer]}.
-- KEYS: the steps' keys (lua/steps.lua): several slots, so never on a Cluster
-- ARGV: the steps (lua/steps.lua)
--#include steps
--#script attempt_begin
--#script stock_reserve
--#script stock_release
--#script order_settle
--#script order_drop
--#script dashboard_order
--#script tier_progress

local S = steps()
local function call(fn, step) return fn(step[1], step[2]) end

local begun = call(attempt_begin, S.begin[1])
if begun[1] ~= 'begun' then return begun end
local reserved = {}
local function undo()  -- the units reserved go back, the attempt's record goes
  for _, step in ipairs(reserved) do stock_release(step[1], {step[2][2]}) end
  call(order_drop, S.drop[1])
end
for place, step in ipairs(S.reserve or {}) do
  if call(stock_reserve, step) == 0 then
    undo()
    return {'sold_out', place}
  end
  reserved[#reserved + 1] = step
end
if S.join then redis.call('SADD', S.join[1][1][1], S.join[1][2][1]) end
local done = call(order_settle, S.settle[1])
if done[1] ~= 'ok' then
  undo()
  return done
end
for _, step in ipairs(reserved) do redis.call('HDEL', step[1][2], step[2][2]) end  -- committed
if S.screen then call(dashboard_order, S.screen[1]) end
local tier
if S.tier then tier = call(tier_progress, S.tier[1]) end
if S.feed then
  local feed, entry = S.feed[1][1][1], S.feed[1][2]
  redis.call('ZADD', feed, entry[2], entry[1])
  redis.call('ZREMRANGEBYRANK', feed, 0, -tonumber(entry[3]) - 1)
end
if tier then return {'ok', done[2], tier} end
return {'ok', done[2]}
