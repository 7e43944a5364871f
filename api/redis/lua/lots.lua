-- The points lots of a member (api/ledger.py), for every script that changes a balance: read, lapse,
-- credit and take lots, and write ledger entries. The registry puts engine.model.MAX_POINTS in for the
-- placeholder, so Python and Lua refuse the same largest balance, and api.redis.keys.ORDER_RETENTION_DAYS
-- (in seconds) for how long a lapsed order lot is remembered.
local MAX_BALANCE = ${MAX_POINTS}
local ORDER_RETENTION = ${ORDER_RETENTION_SECONDS}
--#include chain

-- A lot is "<left> <expires>", or "<left> <expires> o" for an order's points. An order lot that lapses
-- with points left becomes "0 <expires> <points lapsed>" (a lapsed lot, not part of the balance) so that
-- a refund of the order knows them; it is dropped when refunded or once the order's record is gone.
-- In an alliance a lot ends with " @<brand>": the brand that issued its points, for clearing.
local function read_lots(key)
  local raw = redis.call('HGETALL', key)
  local lots, lapsed = {}, {}
  for i = 1, #raw, 2 do
    if raw[i] ~= '#' then
      local value, by = raw[i + 1], ''
      local issuer = string.match(value, ' @([%w%-]+)$')
      if issuer then
        by = issuer
        value = string.sub(value, 1, #value - #issuer - 2)
      end
      local left, expires, tail = string.match(value, '^(%d+) (%d+) ?(%w*)$')
      local lot = {n = tonumber(raw[i]), field = raw[i], left = tonumber(left), expires = tonumber(expires), tag = tail,
                   by = by}
      if tail ~= '' and tail ~= 'o' then lapsed[#lapsed + 1] = lot else lots[#lots + 1] = lot end
    end
  end
  table.sort(lots, function(a, b) return a.n < b.n end)
  return lots, lapsed
end

local function lot_value(lot)
  local value = lot.left .. ' ' .. lot.expires
  if lot.tag == 'o' then value = value .. ' o' end
  if lot.by and lot.by ~= '' then value = value .. ' @' .. lot.by end
  return value
end

-- lapse the lots whose expiry has passed; the balance and the live lots after. A member
-- written before the ledger existed has a balance and no lots: it becomes one opening lot.
local function sweep(member, lots_key, led, now)
  if redis.call('HEXISTS', lots_key, '#') == 0 then
    local opening = tonumber(redis.call('HGET', member, 'points') or '0') or 0
    redis.call('HSET', lots_key, '#', 1)
    if opening > 0 then
      redis.call('HSET', lots_key, 1, opening .. ' 0')
      -- the balance it opens with came before (an import, the owner's): no brand's doing, even when
      -- a brand's script opens it (lua/chain.lua)
      local acting = BRAND
      BRAND = ''
      entry(member, led, opening, 'opening', '', now, 0, opening)
      BRAND = acting
    end
  end
  local lots, lapsed = read_lots(lots_key)
  for _, lot in ipairs(lapsed) do  -- an order's record is gone by then: its refund is too
    if lot.expires + ORDER_RETENTION <= now then redis.call('HDEL', lots_key, lot.field) end
  end
  local balance = 0
  for _, lot in ipairs(lots) do balance = balance + lot.left end
  local live = {}
  for _, lot in ipairs(lots) do
    if lot.expires > 0 and lot.expires <= now then
      if lot.tag == 'o' and lot.left > 0 then
        redis.call('HSET', lots_key, lot.field, '0 ' .. lot.expires .. ' ' .. lot.left .. (lot.by ~= '' and (' @' .. lot.by) or ''))
      else
        redis.call('HDEL', lots_key, lot.field)
      end
      balance = balance - lot.left
      entry(member, led, -lot.left, 'expired', 'lot:' .. lot.field, now, lot.expires, balance)
    else
      live[#live + 1] = lot
    end
  end
  return balance, live
end

local function next_lapse(live)
  local soonest = 0
  for _, lot in ipairs(live) do
    if lot.left > 0 and lot.expires > 0 and (soonest == 0 or lot.expires < soonest) then soonest = lot.expires end
  end
  return soonest
end

-- a new lot; `tag` 'o' for an order's points (its refund finds them by the lot's number)
local function add_lot(lots_key, live, points, expires, tag)
  local n = redis.call('HINCRBY', lots_key, '#', 1)
  local lot = {n = n, field = tostring(n), left = points, expires = expires, tag = tag or '', by = BRAND}
  redis.call('HSET', lots_key, n, lot_value(lot))
  live[#live + 1] = lot
  return n
end

-- take points from the oldest lots first; the caller has checked the balance covers it. What was taken
-- from each issuing brand's lots, as "<brand>=<points>,..." in brand order ('' when no lot names one)
local function take(lots_key, live, points)
  local by, brands = {}, {}
  for _, lot in ipairs(live) do
    if points == 0 then break end
    local used = math.min(lot.left, points)
    lot.left = lot.left - used
    points = points - used
    if used > 0 and lot.by and lot.by ~= '' then
      if not by[lot.by] then brands[#brands + 1] = lot.by end
      by[lot.by] = (by[lot.by] or 0) + used
    end
    if lot.left == 0 then
      redis.call('HDEL', lots_key, lot.field)
    else
      redis.call('HSET', lots_key, lot.field, lot_value(lot))
    end
  end
  table.sort(brands)
  local parts = {}
  for _, brand in ipairs(brands) do parts[#parts + 1] = brand .. '=' .. by[brand] end
  return table.concat(parts, ',')
end

-- the balance, the next lapse and the points lapsing then on the member hash, for a quote's one read
local function publish(member, balance, live)
  local soonest, due = next_lapse(live), 0
  if soonest > 0 then
    for _, lot in ipairs(live) do
      if lot.left > 0 and lot.expires == soonest then due = due + lot.left end
    end
  end
  if soonest > 0 then
    redis.call('HSET', member, 'points', balance, 'lapse_at', soonest, 'lapse_points', due)
  else  -- nothing lapses: the fields are absent, read as 0 (a member's hash is most of its memory)
    redis.call('HSET', member, 'points', balance)
    redis.call('HDEL', member, 'lapse_at', 'lapse_points')
  end
end

-- the balance a sweep would leave now, read without writing (for refusals made before any write)
local function live_balance(member, lots_key, now)
  if redis.call('HEXISTS', lots_key, '#') == 0 then return tonumber(redis.call('HGET', member, 'points') or '0') or 0 end
  local balance = 0
  for _, lot in ipairs((read_lots(lots_key))) do
    if lot.expires == 0 or lot.expires > now then balance = balance + lot.left end
  end
  return balance
end

local function debt_of(member)
  return tonumber(redis.call('HGET', member, 'debt') or '0') or 0
end

-- what the balance becomes after a credit of `points`: a debt from a refund is paid first
local function balance_after_credit(member, balance, points)
  return balance + math.max(0, points - debt_of(member))
end

-- credit `points`: an entry for the credit, then one paying any debt from it; the rest is a lot (tagged
-- `tag`). The balance after, and the new lot's number (nil when the debt took it all).
local function credit(member, lots_key, led, live, balance, points, expires, reason, ref, now, tag)
  local debt = debt_of(member)
  local paid = math.min(debt, points)
  balance = balance + points
  entry(member, led, points, reason, ref, now, expires, balance)
  if paid > 0 then
    balance = balance - paid
    redis.call('HSET', member, 'debt', debt - paid)
    entry(member, led, -paid, 'debt_paid', ref, now, 0, balance, debt - paid)
  end
  local n = nil
  if points > paid then n = add_lot(lots_key, live, points - paid, expires, tag) end
  return balance, n
end

-- bring the balance to `target` through the ledger (lots added or taken, an `import` entry); the change
local function set_balance(member, lots_key, led, target, now, ref)
  local balance, live = sweep(member, lots_key, led, now)
  local delta = target - balance
  if delta > 0 then
    add_lot(lots_key, live, delta, 0)
  elseif delta < 0 then
    take(lots_key, live, -delta)
  end
  if delta ~= 0 then entry(member, led, delta, 'import', ref, now, 0, target) end
  publish(member, target, live)
  return delta
end
