-- A redemption on one Redis node, in one round trip: the steps api/redeem.py takes one script at a time
-- on a Cluster, in the same order and with the same answers. The attempt opens (`begin`); a refusal the
-- engine decided (`refuse`) is recorded as its answer; a unit of stock is reserved (`reserve`, none: out
-- of stock); the code goes on its leader's list as pending (`list`); the member's points are taken
-- (`redeem`); then the ledger entry is linked into the brand chain (`link`, its n and h put in), the code
-- marked issued (`issue`) and the reservation committed, or on a refusal the code dropped (`drop`) and
-- the unit given back. Answers as attempt_begin when the attempt does not open, else as redeem, or
-- {'refused', answer} for the engine's refusal or out of stock.
-- KEYS: the steps' keys (lua/steps.lua): several slots, so never on a Cluster
-- ARGV: the steps (lua/steps.lua)
--#include steps
--#script attempt_begin
--#script redeem_finish
--#script stock_reserve
--#script stock_release
--#script pickup_list
--#script pickup_settle
--#script redeem
--#script chain_link

local S = steps()
local function call(fn, step) return fn(step[1][1], step[1][2]) end

local begun = call(attempt_begin, S.begin)
if begun[1] ~= 'begun' then return begun end
local function refuse(answer)  -- redeem_finish's keys are begin's first two: the member, the attempt's record
  redeem_finish({S.begin[1][1][1], S.begin[1][1][2]}, {S.begin[1][2][2], answer})
  return {'refused', answer}
end
if S.refuse then return refuse(S.refuse[1][2][1]) end
if S.reserve and call(stock_reserve, S.reserve) == 0 then return refuse('409 out_of_stock 0') end
if S.list then call(pickup_list, S.list) end
local done = call(redeem, S.redeem)
if done[1] == 'ok' then
  if done[3] and S.link then
    local link = S.link[1][2]
    link[3], link[4] = string.format('%d', done[3]), done[4]
    chain_link(S.link[1][1], link)
  end
  if S.issue then call(pickup_settle, S.issue) end
  if S.reserve then redis.call('HDEL', S.reserve[1][1][2], S.reserve[1][2][2]) end
else
  if S.drop then call(pickup_settle, S.drop) end
  if S.reserve then call(stock_release, {{S.reserve[1][1], {S.reserve[1][2][2]}}}) end
end
return done
