-- Link one record into the brand chain (api/ledger_chain.py), once: a redemption's member ledger entry
-- (kind 'redeem', ref its n in the member's chain, mh its h) or a pickup handover (kind 'handover', ref
-- "<leader> <code>", mh ''). CHAIN_SEEN_KEY maps "<kind> <member> <ref>" to "<seq> <h> <mh>". A record
-- linked before is answered with its place: {seq, h, 0}; a new one {seq, h, 1}.
-- KEYS: CHAIN_KEY, CHAIN_HEAD_KEY, CHAIN_SEEN_KEY
-- ARGV: kind, member, ref, mh, at
--#include chain

local id = ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3]
local seen = redis.call('HGET', KEYS[3], id)
if seen then
  local seq, h = string.match(seen, '^(%d+) (%x+)')
  return {tonumber(seq), h, 0}
end
local head = redis.call('HMGET', KEYS[2], 'n', 'h')
local seq = (tonumber(head[1]) or 0) + 1
local values = {chain_text(seq), ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]}
local h = chain_hash(head[2] or GENESIS, values)
redis.call('XADD', KEYS[1], '*', 'seq', values[1], 'kind', ARGV[1], 'member', ARGV[2], 'ref', ARGV[3], 'mh', ARGV[4],
           'at', ARGV[5], 'h', h)
redis.call('HSET', KEYS[2], 'n', seq, 'h', h)
redis.call('HSET', KEYS[3], id, seq .. ' ' .. h .. ' ' .. ARGV[4])
return {seq, h, 1}
