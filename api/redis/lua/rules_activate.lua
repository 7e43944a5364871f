-- Make a version the active one; the activation's sequence number (0: it was not scheduled, if that was asked).
-- KEYS: RULES_ACTIVE, RULES_SCHEDULED, RULES_ACTIVATIONS, rules_meta_key, RULES_SEQ
-- ARGV: version, now, only if scheduled (1/0)
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 and ARGV[3] == '1' then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'activated_at', ARGV[2])
return redis.call('INCR', KEYS[5])
