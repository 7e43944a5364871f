-- The hash chain of a ledger (api/ledger_chain.py): each entry carries `n`, its number in the chain
-- (1, 2, ...), and `h`, the SHA-1 (hex) of the previous entry's `h` (GENESIS before the first) followed
-- by the entry's fields in a fixed order, each as "<length in bytes>:<value>". The chain's head (the last
-- n and h) is kept beside it, where the script that appends reads it without a scan.
local GENESIS = '${CHAIN_GENESIS}'
-- The brand a script acts for in an alliance (api/alliance.py): a script that credits or takes points
-- sets it from its last ARGV (api/redis/scripts.py BRANDED); '' outside an alliance.
local BRAND = ''

-- a field as it is stored and hashed: a number as a plain integer, text as it is
local function chain_text(value)
  if type(value) == 'number' then return string.format('%d', value) end
  return value or ''
end

-- the hash of an entry whose fields (already chain_text) are `values`, after `prev`
local function chain_hash(prev, values)
  local parts = {prev, '\n'}
  for _, v in ipairs(values) do
    parts[#parts + 1] = #v .. ':' .. v
  end
  return redis.sha1hex(table.concat(parts))
end

-- A ledger's first entry is held in the member hash (its fields prefixed `e:`, with `e:id` the milliseconds
-- of the stream id <e:id>-0 it will have, and no `e:ref` nor `e:expires` when they are '' and '0'; its n is
-- 1 and its h that of its fields after GENESIS) until a second one comes, when it moves to the stream `led`
-- ahead of it: a stream's first node costs about a kilobyte, and most members of a large base have one
-- entry. An entry with a value longer than HELD_MAX bytes (Redis's hash-max-listpack-value: a longer one
-- would turn the member hash into a table) begins the stream at once. Where a stream has begun while an
-- entry is held (written by a release that held none, during a rolling upgrade), the entry stays held,
-- since a stream takes no id below its last, and readers put it first (api/ledger.py with_held).
local HELD_MAX = 64
local HELD = {'delta', 'reason', 'ref', 'at', 'expires', 'balance', 'debt', 'brand', 'from'}
local HELD_DEFAULT = {ref = '', expires = '0'}  -- every entry has them; the hash holds them only when not these

local function held_fits(fields)
  for i = 2, #fields, 2 do
    if #fields[i] > HELD_MAX then return false end
  end
  return true
end

-- move the held first entry to the stream, unless the stream has begun: its n 1 and its h `h1`, the
-- chain's head until now (no stream: no entry since it)
local function release_held(member, led, h1)
  if redis.call('EXISTS', led) == 1 then return end
  local names = {'e:id'}
  for i, name in ipairs(HELD) do names[i + 1] = 'e:' .. name end
  local got = redis.call('HMGET', member, unpack(names))
  if not got[1] then return end
  local fields = {}
  for i, name in ipairs(HELD) do
    local value = got[i + 1] or HELD_DEFAULT[name]
    if value then fields[#fields + 1] = name; fields[#fields + 1] = value end
  end
  fields[#fields + 1] = 'n'; fields[#fields + 1] = '1'
  fields[#fields + 1] = 'h'; fields[#fields + 1] = h1
  redis.call('XADD', led, got[1] .. '-0', unpack(fields))
  redis.call('HDEL', member, unpack(names))
end

-- append a ledger entry to the member's stream `led`, chained after the head kept in the member hash
-- (fields chain_n, chain_h); the entry's n and h
-- In an alliance (BRAND set, lua/lots.lua) the entry also carries `brand` (where it happened) and `from`
-- (a take's points by issuing brand), hashed after the eight fields.
local function entry(member, led, delta, reason, ref, at, expires, balance, debt, from)
  local head = redis.call('HMGET', member, 'chain_n', 'chain_h', 'e:id')
  local n = (tonumber(head[1]) or 0) + 1
  local values = {chain_text(n), chain_text(delta), chain_text(reason), chain_text(ref), chain_text(at),
                  chain_text(expires), chain_text(balance), chain_text(debt)}
  local fields = {'delta', values[2], 'reason', values[3], 'ref', values[4], 'at', values[5],
                  'expires', values[6], 'balance', values[7]}
  if debt then fields[#fields + 1] = 'debt'; fields[#fields + 1] = values[8] end
  if BRAND ~= '' then
    values[#values + 1] = BRAND
    values[#values + 1] = from or ''
    fields[#fields + 1] = 'brand'; fields[#fields + 1] = BRAND
    fields[#fields + 1] = 'from'; fields[#fields + 1] = from or ''
  end
  local h = chain_hash(head[2] or GENESIS, values)
  if n == 1 and held_fits(fields) and redis.call('EXISTS', led) == 0 then
    local now = redis.call('TIME')
    local held = {'e:id', string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))}
    for i = 1, #fields, 2 do
      if HELD_DEFAULT[fields[i]] ~= fields[i + 1] then
        held[#held + 1] = 'e:' .. fields[i]; held[#held + 1] = fields[i + 1]
      end
    end
    redis.call('HSET', member, 'chain_n', n, 'chain_h', h, unpack(held))
    return n, h
  end
  if head[3] then release_held(member, led, head[2]) end
  fields[#fields + 1] = 'n'; fields[#fields + 1] = values[1]
  fields[#fields + 1] = 'h'; fields[#fields + 1] = h
  redis.call('XADD', led, '*', unpack(fields))
  redis.call('HSET', member, 'chain_n', n, 'chain_h', h)
  return n, h
end
