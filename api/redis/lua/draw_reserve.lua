-- Hold the member's next entry number in a draw for one attempt (api/draws.py): refused once the draw
-- closed, when it holds max entries, or when the member holds all their entries.
-- An entry field `<member>#<n>` is `r <reservation> <tier> <weight> <wall>` while held, then
-- `e <tier> <weight> <at>` once entered; the reservations hash maps a reservation to its field.
-- KEYS: draw_key, draw_entries_key, draw_reservations_key
-- ARGV: member, reservation, entries per member, max entries, tier, weight, wall now
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return {'closed'} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full'} end
for n = 1, tonumber(ARGV[3]) do
  local field = ARGV[1] .. '#' .. n
  if redis.call('HEXISTS', KEYS[2], field) == 0 then
    redis.call('HSET', KEYS[2], field, 'r ' .. ARGV[2] .. ' ' .. ARGV[5] .. ' ' .. ARGV[6] .. ' ' .. ARGV[7])
    redis.call('HSET', KEYS[3], ARGV[2], field .. ' ' .. ARGV[7])
    return {'ok', n}
  end
end
return {'used_up', tonumber(ARGV[3])}
