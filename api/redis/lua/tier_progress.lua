-- Tier progression of one member (api/progression.py): the downgrade review when it is due, then, for
-- an event or a settled order, its spend, growth and tasks counted and the tier raised to the highest
-- tier reached. Every change goes to the member's tier history, newest first, at most `keep` entries.
-- A ref (an event or an order) counts once: it is remembered in the member's refs until `forget at`.
-- KEYS: member_key, tier_history_key, tier_refs_key, order_key
--       (the order's record for an order's count or refund: it keeps what the order counted, under
--       `progress`; for an event or a review, tier_refs_key again)
-- ARGV: mode ('count', 'refund' or 'review'), now, ref, local day, spend to add (fen), growth to add,
--       tasks counted ('a,b' or ''), tasks ('name|s or c|target|window seconds, 0 none;...'),
--       tiers lowest first ('id|1 reached by progression or 0|spend or -1|growth or -1|task,task;...'),
--       spend months ('yyyymm,...', this month first), stale months ('yyyymm,...'), next review, keep,
--       forget at (the instant the ref may be forgotten), and for 'refund' the month (yyyymm) the order's
--       spend was counted in: a refund takes the order's spend and growth back once, if it was counted
-- Returns {'unknown_member'}, or {'ok', tier before, tier after, reason of the last change or ''}
-- (tiers as ids, '' for a visitor).

if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_member'} end
local mode, now, ref, day = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local spend_add, growth_add = tonumber(ARGV[5]), tonumber(ARGV[6])
local next_review, keep = tonumber(ARGV[12]), tonumber(ARGV[13])

local function split(text, sep)
  local out = {}
  for part in string.gmatch(text, '([^' .. sep .. ']+)') do out[#out + 1] = part end
  return out
end

local tasks = {}
for _, spec in ipairs(split(ARGV[8], ';')) do
  local p = split(spec, '|')
  tasks[p[1]] = {kind = p[2], target = tonumber(p[3]), window = tonumber(p[4])}
end
local tiers, rank_of = {}, {}
for i, spec in ipairs(split(ARGV[9], ';')) do
  local p = split(spec, '|')
  tiers[i] = {id = p[1], reach = p[2] == '1', spend = tonumber(p[3]), growth = tonumber(p[4]),
              tasks = p[5] and split(p[5], ',') or {}}
  rank_of[p[1]] = i
end
local months = split(ARGV[10], ',')

local before = redis.call('HGET', KEYS[1], 'tier') or ''
local rank
if before == '' or before == 'visitor' then rank = 0 else rank = rank_of[before] end
-- a tier the rules do not know is left alone (no review, no upgrade), but what counts is still counted
local unknown_tier = rank == nil
if unknown_tier then rank = 0 end

local function progress(name)
  local task, state = tasks[name], redis.call('HGET', KEYS[1], 't:' .. name)
  if not task or not state then return 0 end
  local parts = split(state, ' ')
  if task.kind == 's' then
    local last, length = tonumber(parts[1]), tonumber(parts[2])
    if last and length and last >= day - 1 then return math.min(length, task.target) end
    return 0
  end
  local n = 0
  for _, at in ipairs(parts) do
    local t = tonumber(at)
    if t and t <= now and (task.window == 0 or t > now - task.window) then n = n + 1 end
  end
  return math.min(n, task.target)
end

local function figures()
  local spend = 0
  for _, m in ipairs(months) do spend = spend + (tonumber(redis.call('HGET', KEYS[1], 'sp:' .. m)) or 0) end
  return spend, tonumber(redis.call('HGET', KEYS[1], 'growth')) or 0
end

-- why tier `r` is reached now ('' when it is not): its tasks, then spend, then growth
local function reached(r, spend, growth, counted)
  local tier = tiers[r]
  if not tier.reach then return '' end
  if #tier.tasks > 0 then
    local all, named = true, nil
    for _, name in ipairs(tier.tasks) do
      if progress(name) < tasks[name].target then all = false end
      if counted[name] and not named then named = name end
    end
    if all then return 'task:' .. (named or tier.tasks[1]) end
  end
  if tier.spend >= 0 and spend >= tier.spend then return 'spend' end
  if tier.growth >= 0 and growth >= tier.growth then return 'growth' end
  return ''
end

local current, last_reason = rank, ''
local function change(to, reason)
  local from_id = current == 0 and 'visitor' or tiers[current].id
  local to_id = to == 0 and 'visitor' or tiers[to].id
  redis.call('HSET', KEYS[1], 'tier', to == 0 and '' or to_id, 'tier_since', now, 'review_at', next_review)
  redis.call('LPUSH', KEYS[2], now .. ' ' .. from_id .. ' ' .. to_id .. ' ' .. reason .. ' ' .. ref)
  redis.call('LTRIM', KEYS[2], 0, keep - 1)
  current, last_reason = to, reason
end

-- the review, when due: the highest tier the figures reach, never above the tier held
local review_at = tonumber(redis.call('HGET', KEYS[1], 'review_at')) or 0
if not unknown_tier and review_at > 0 and now >= review_at and current > 0 then
  local spend, growth = figures()
  local to = 0
  for r = current, 1, -1 do
    if reached(r, spend, growth, {}) ~= '' then to = r break end
  end
  if to < current then
    change(to, 'review')
  else
    redis.call('HSET', KEYS[1], 'review_at', next_review)
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)
if mode == 'count' and (redis.call('ZSCORE', KEYS[3], ref) or redis.call('ZSCORE', KEYS[3], 'refund:' .. ref)) then
  mode = 'counted'  -- counted before (a replay counts nothing again), or refunded before it was counted
elseif mode == 'count' then
  redis.call('ZADD', KEYS[3], tonumber(ARGV[14]), ref)
end

-- a refund marks its order, counted or not: an order counted only after its refund (its count cut
-- short, then replayed) counts nothing
if mode == 'refund' and not redis.call('ZSCORE', KEYS[3], 'refund:' .. ref) then
  local was_counted = redis.call('ZSCORE', KEYS[3], ref)
  redis.call('ZADD', KEYS[3], tonumber(ARGV[14]), 'refund:' .. ref)
  if not was_counted then spend_add, growth_add = 0, 0 end
  local month = ARGV[15]
  local counted = redis.call('HGET', KEYS[4], 'progress')  -- what the count added, whatever the rules are now
  if was_counted and counted then
    local p = split(counted, ' ')
    spend_add, growth_add, month = tonumber(p[1]), tonumber(p[2]), p[3]
  end
  local function take(field, amount)
    local have = tonumber(redis.call('HGET', KEYS[1], field))
    if not have or amount <= 0 then return end
    if have > amount then redis.call('HSET', KEYS[1], field, have - amount) else redis.call('HDEL', KEYS[1], field) end
  end
  take('sp:' .. month, spend_add)  -- a month already past the 12 counted is gone: nothing to take
  take('growth', growth_add)
end

if mode == 'count' then
  local counted = {}
  for _, name in ipairs(split(ARGV[7], ',')) do
    local task = tasks[name]
    if task then
      counted[name] = true
      local field = 't:' .. name
      local state = redis.call('HGET', KEYS[1], field)
      if task.kind == 's' then
        local parts = state and split(state, ' ') or {}
        local last, length = tonumber(parts[1]), tonumber(parts[2])
        if last == day then
          -- counted today already
        elseif last == day - 1 and length then
          redis.call('HSET', KEYS[1], field, day .. ' ' .. math.min(length + 1, task.target))
        else
          redis.call('HSET', KEYS[1], field, day .. ' 1')
        end
      else
        local kept = {}
        for _, at in ipairs(state and split(state, ' ') or {}) do
          local t = tonumber(at)
          if t and (task.window == 0 or t > now - task.window) then kept[#kept + 1] = at end
        end
        kept[#kept + 1] = tostring(now)
        while #kept > task.target do table.remove(kept, 1) end
        redis.call('HSET', KEYS[1], field, table.concat(kept, ' '))
      end
    end
  end
  if spend_add > 0 then
    redis.call('HINCRBY', KEYS[1], 'sp:' .. months[1], spend_add)
    local stale = split(ARGV[11], ',')
    for i = 1, #stale do stale[i] = 'sp:' .. stale[i] end
    if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
  end
  if growth_add > 0 then redis.call('HINCRBY', KEYS[1], 'growth', growth_add) end
  if string.sub(ref, 1, 4) == 'ord:' and KEYS[4] ~= KEYS[3] then
    redis.call('HSET', KEYS[4], 'progress', spend_add .. ' ' .. growth_add .. ' ' .. months[1])
  end
  local spend, growth = figures()
  for r = #tiers, current + 1, -1 do
    if unknown_tier then break end
    local why = reached(r, spend, growth, counted)
    if why ~= '' then change(r, why) break end
  end
end

if unknown_tier then return {'ok', before, before, ''} end

local after = current == 0 and '' or tiers[current].id
return {'ok', before == 'visitor' and '' or before, after, last_reason}
