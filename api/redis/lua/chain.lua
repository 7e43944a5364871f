-- The hash chain of a ledger (api/ledger_chain.py): each entry carries `n`, its number in the chain
-- (1, 2, ...), and `h`, the SHA-1 (hex) of the previous entry's `h` (GENESIS before the first) followed
-- by the entry's fields in a fixed order, each as "<length in bytes>:<value>". The chain's head (the last
-- n and h) is kept beside it, where the script that appends reads it without a scan.
local GENESIS = '${CHAIN_GENESIS}'

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

-- append a ledger entry to the member's stream `led`, chained after the head kept in the member hash
-- (fields chain_n, chain_h); the entry's n and h
local function entry(member, led, delta, reason, ref, at, expires, balance, debt)
  local head = redis.call('HMGET', member, 'chain_n', 'chain_h')
  local n = (tonumber(head[1]) or 0) + 1
  local values = {chain_text(n), chain_text(delta), chain_text(reason), chain_text(ref), chain_text(at),
                  chain_text(expires), chain_text(balance), chain_text(debt)}
  local h = chain_hash(head[2] or GENESIS, values)
  if debt then  -- the points owed after this entry, on the entries that change them
    redis.call('XADD', led, '*', 'delta', values[2], 'reason', values[3], 'ref', values[4], 'at', values[5],
               'expires', values[6], 'balance', values[7], 'debt', values[8], 'n', values[1], 'h', h)
  else
    redis.call('XADD', led, '*', 'delta', values[2], 'reason', values[3], 'ref', values[4], 'at', values[5],
               'expires', values[6], 'balance', values[7], 'n', values[1], 'h', h)
  end
  redis.call('HSET', member, 'chain_n', n, 'chain_h', h)
  return n, h
end
