-- A member's granted coupons (api/owned_coupons.py), for the scripts that grant, use and give back one.
-- The grants hash (grants_key) holds a record per grant under `g<n>`, and the counter `n`:
-- "<coupon> <granted> <expires> <state> <order or -> <changed>", state `v` (not used) or `u` (used by
-- the order named). A grant holds while now < expires. The member hash's `g:<coupon>` lists the
-- expiries of the coupon's unused grants (comma separated) for the quote, which counts those ahead of
-- now: it is rewritten from the records by every change. A record goes GRANT_RETENTION after it lapses.
local GRANT_RETENTION = ${GRANT_RETENTION_SECONDS}
local MAX_GRANTS = ${MAX_GRANTS}

local function grant_read(text)
  local coupon, granted, expires, state, order, changed =
    string.match(text, '^(%S+) (%d+) (%d+) (%a) (%S+) (%d+)$')
  if not coupon then return nil end
  return {coupon = coupon, granted = tonumber(granted), expires = tonumber(expires), state = state,
          order = order, changed = tonumber(changed)}
end

local function grant_text(g)
  return g.coupon .. ' ' .. g.granted .. ' ' .. g.expires .. ' ' .. g.state .. ' ' .. g.order .. ' ' .. g.changed
end

-- every record, by grant id, oldest first ({id =, g =})
local function grants_all(gkey)
  local raw = redis.call('HGETALL', gkey)
  local out = {}
  for i = 1, #raw, 2 do
    if raw[i] ~= 'n' then
      local g = grant_read(raw[i + 1])
      if g then out[#out + 1] = {id = raw[i], n = tonumber(string.sub(raw[i], 2)) or 0, g = g} end
    end
  end
  table.sort(out, function(a, b) return a.n < b.n end)
  return out
end

-- the member hash's list of a coupon's unused grants, from the records
local function grants_sync(member, gkey, coupon, now)
  local ahead = {}
  for _, each in ipairs(grants_all(gkey)) do
    if each.g.coupon == coupon and each.g.state == 'v' and each.g.expires > now then
      ahead[#ahead + 1] = each.g.expires
    end
  end
  table.sort(ahead)
  if #ahead > 0 then redis.call('HSET', member, 'g:' .. coupon, table.concat(ahead, ','))
  else redis.call('HDEL', member, 'g:' .. coupon) end
end

-- how many records would stay after pruning (a read: decides the bound before any write)
local function grants_kept(gkey, now)
  local kept = 0
  for _, each in ipairs(grants_all(gkey)) do
    if each.g.expires + GRANT_RETENTION > now then kept = kept + 1 end
  end
  return kept
end

local function grants_prune(gkey, now)
  for _, each in ipairs(grants_all(gkey)) do
    if each.g.expires + GRANT_RETENTION <= now then redis.call('HDEL', gkey, each.id) end
  end
end

-- a new grant; its id
local function grant_add(member, gkey, coupon, now, expires)
  grants_prune(gkey, now)
  local id = 'g' .. redis.call('HINCRBY', gkey, 'n', 1)
  redis.call('HSET', gkey, id, grant_text({coupon = coupon, granted = now, expires = expires, state = 'v',
                                             order = '-', changed = now}))
  grants_sync(member, gkey, coupon, now)
  return id
end

-- the unused grant of `coupon` an order would use: the first to lapse, then the oldest; nil if none
local function grant_usable(gkey, coupon, now)
  local best = nil
  for _, each in ipairs(grants_all(gkey)) do
    local g = each.g
    if g.coupon == coupon and g.state == 'v' and g.expires > now and (best == nil or g.expires < best.g.expires) then
      best = each
    end
  end
  return best
end

local function grant_use(member, gkey, each, order, now)
  each.g.state, each.g.order, each.g.changed = 'u', order, now
  redis.call('HSET', gkey, each.id, grant_text(each.g))
  grants_sync(member, gkey, each.g.coupon, now)
end

-- an order's refund gives its grant back while it still holds: 'restored', 'expired' or 'gone'
local function grant_give_back(member, gkey, id, order, now)
  local text = redis.call('HGET', gkey, id)
  local g = text and grant_read(text)
  if not g or g.state ~= 'u' or g.order ~= order then return 'gone' end
  if g.expires <= now then return 'expired' end
  g.state, g.order, g.changed = 'v', '-', now
  redis.call('HSET', gkey, id, grant_text(g))
  grants_sync(member, gkey, g.coupon, now)
  return 'restored'
end
