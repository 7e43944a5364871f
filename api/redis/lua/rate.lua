-- A member's attempts of one kind in the last 60 s, for the per-member rate limits (api/access.py):
-- a moving window, exact at every instant. The list holds the instants (Redis's clock, in ms, newest
-- first) of the member's last `limit` allowed attempts; an attempt is allowed while the oldest of
-- them is 60 s old or more. So no 60 s ever holds more than `limit` allowed attempts, around a clock
-- minute's boundary too; a refused attempt is not recorded. Redis's clock, not the caller's: every
-- replica counts on the same one. Returns 0 for an allowed attempt (recorded), else the whole seconds
-- until the next one would be allowed (for Retry-After).
local RATE_WINDOW_MS = 60000

local function rate_wait(key, limit, ttl)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local oldest = tonumber(redis.call('LINDEX', key, limit - 1) or '-1')
  if oldest >= 0 and now - oldest < RATE_WINDOW_MS then
    return math.max(1, math.ceil((oldest + RATE_WINDOW_MS - now) / 1000))
  end
  redis.call('LPUSH', key, now)
  redis.call('LTRIM', key, 0, limit - 1)
  redis.call('PEXPIRE', key, ttl * 1000)
  return 0
end
