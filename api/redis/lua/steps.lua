-- The steps of a one-node script (api/redis/steps.py): name -> the list of its calls, each {KEYS, ARGV}
-- as that step's own script takes them. ARGV[1]: a JSON array of strings, the number of steps, then each
-- one's name, number of keys and number of args, then the args; KEYS: the steps' keys, in order.
local function steps()
  local given = cjson.decode(ARGV[1])
  local out, count = {}, tonumber(given[1])
  local k, a = 1, 2 + 3 * count
  for i = 0, count - 1 do
    local name, nkeys, nargs = given[2 + 3 * i], tonumber(given[3 + 3 * i]), tonumber(given[4 + 3 * i])
    local keys, args = {}, {}
    for j = 1, nkeys do keys[j] = KEYS[k]; k = k + 1 end
    for j = 1, nargs do args[j] = given[a]; a = a + 1 end
    out[name] = out[name] or {}
    out[name][#out[name] + 1] = {keys, args}
  end
  return out
end
