-- A batch of members imported on one Redis node in one call (api/store.py MemberWrites): each member as
-- its own call of lua/member_import.lua would import it, in the batch's order. One call instead of a
-- thousand: Redis parses one command and starts one script. When none of the batch's members exists
-- yet (a first import), one EXISTS says so, and each member is one HSET; a member that exists (or comes
-- twice in the batch) goes through member_import. The first member refused (a full Redis, a key of the
-- wrong type) stops the batch: {members written whole, the refusal}; else {members written}.
-- A batch expected new (ARGV[2] `new`: each member once, none of thousands of fields) comes with its
-- member keys alone: one that exists stops it before anything is written, {-1}, and the batch comes
-- again with all its keys.
-- KEYS: each call's keys (member_key, lots_key, ledger_key), by kind: the n member keys, then the lots
-- keys, then the ledger keys; several slots, so never on a Cluster
-- ARGV: a JSON array: now, ref, then for each member the count of its values, its balance and its
-- profile (field, value, ...): the ARGV of member_import but now and ref, which the batch shares;
-- then `new`, or nothing
--#script member_import

local new = ARGV[2] == 'new'
local n = new and #KEYS or #KEYS / 3
local given = cjson.decode(ARGV[1])
local now, ref = given[1], given[2]
local fresh = true
for from = 1, n, 1000 do  -- a thousand keys a call: Lua's stack holds no more than some thousands
  if redis.call('EXISTS', unpack(KEYS, from, math.min(from + 999, n))) > 0 then fresh = false; break end
end
local at = 3
if new then
  if not fresh then return {-1} end
  for i = 1, n do  -- no closure a member: a refusal is redis.pcall's answer
    local last = at + given[at]
    local written = redis.pcall('HSET', KEYS[i], 'points', unpack(given, at + 1, last))
    if type(written) == 'table' then return {i - 1, written} end
    at = last + 1
  end
  return {n}
end
local seen = {}
for i = 1, n do
  local key, count = KEYS[i], given[at]
  local last = at + count
  local ok, refusal
  -- the arguments are unpacked inside the protected call: a member too large to unpack (thousands of
  -- fields) is that member's refusal, not the batch's
  if fresh and not seen[key] then
    ok, refusal = pcall(function() return redis.call('HSET', key, 'points', unpack(given, at + 1, last)) end)
  else
    ok, refusal = pcall(function()
      return member_import({key, KEYS[n + i], KEYS[2 * n + i]}, {given[at + 1], now, ref, unpack(given, at + 2, last)})
    end)
  end
  if not ok then return {i - 1, type(refusal) == 'table' and refusal or {err = refusal}} end
  seen[key] = true
  at = last + 1
end
return {n}
