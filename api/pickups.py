"""The leaders' pick lists in Redis: a code goes on its leader's list before the member's
points are taken, and is handed over only from there, once.

A signed code proves who may check it, not that it was issued: a leader's app holds its
own tag key and could sign a code for an item nobody redeemed. So the list is the
authority. The leader's keys and the member's live in different Cluster slots, so no
script can take the points and list the code together; instead a code is listed as
`pending` (naming the redemption attempt that made it) before the member's script runs,
and marked `issued` after it succeeds. A handover of a code still `pending` (the request
that made it stopped half way) asks the attempt's own record in the member's slot: if
the points were taken for this very code it is issued now, otherwise it never was. So a
redemption the member paid for is always handed over, and nothing else ever is.

Both keys carry the leader's hash tag (one Cluster slot):

    pick:{leader:<id>}         hash  code -> {"member_id", "redemption_id", "at", "key", "state",
                                              "handed_at"}
    pick:{leader:<id>}:issued  zset  code -> the wall-clock second it was listed

A code is kept for PICKUP_RETENTION_DAYS after it was listed, handed over or not; older
ones are pruned (a few at a time) whenever the list is written or read, and are then
refused as not issued, so a code is never handed over twice. `*` is the list of members
with no leader, which any leader may hand over.
"""
from __future__ import annotations

import time
from typing import Optional

import orjson

from .redis.keys import pick_issued_key, pick_list_key

PICKUP_RETENTION_DAYS = 90
PRUNE_BATCH = 64  # old codes dropped per call: bounded work, and the list never falls behind its issues

_PRUNE = r"""
local function prune(list, issued, before)
  local old = redis.call('ZRANGEBYSCORE', issued, '-inf', before, 'LIMIT', 0, tonumber(ARGV[#ARGV]))
  for _, code in ipairs(old) do
    redis.call('HDEL', list, code)
    redis.call('ZREM', issued, code)
  end
end
"""

# KEYS: list, issued   ARGV: code, record (JSON, state pending), wall now, keep before (wall seconds), prune batch
_LIST = _PRUNE + r"""
prune(KEYS[1], KEYS[2], ARGV[4])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""

# KEYS: list   ARGV: code, new state (issued) or '' to drop a pending code
_SETTLE = r"""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record['state'] ~= 'pending' then return 0 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  record['state'] = ARGV[2]
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
end
return 1
"""

# KEYS: list, issued   ARGV: code, handed at (the request's instant), keep before (wall seconds), prune batch
_HAND_OVER = _PRUNE + r"""
prune(KEYS[1], KEYS[2], ARGV[3])
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'not_issued'} end
local record = cjson.decode(raw)
if record['handed_at'] then return {'already_handed_over', tostring(record['handed_at'])} end
if record['state'] == 'pending' then return {'pending', record['member_id'], record['key']} end
record['handed_at'] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return {'handed_over', raw}
"""


class PickupScripts:
    def __init__(self, redis):
        self.list = redis.register_script(_LIST)
        self.settle = redis.register_script(_SETTLE)
        self.hand_over = redis.register_script(_HAND_OVER)


def _keep_before(wall_now: float) -> int:
    return int(wall_now) - PICKUP_RETENTION_DAYS * 86400


async def list_pending(scripts: PickupScripts, leader: str, code: str, member_id: str, redemption_id: str,
                       at: int, attempt_key: str, wall_now: Optional[float] = None) -> None:
    """Put a code on its leader's list as `pending`, before the member's points are taken
    (idempotent: a code is listed once)."""
    wall = time.time() if wall_now is None else wall_now
    record = orjson.dumps({"member_id": member_id, "redemption_id": redemption_id, "at": at, "key": attempt_key,
                           "state": "pending"})
    await scripts.list(keys=[pick_list_key(leader), pick_issued_key(leader)],
                       args=[code, record, int(wall), _keep_before(wall), PRUNE_BATCH])


async def mark_issued(scripts: PickupScripts, leader: str, code: str) -> None:
    """The member's points were taken for this code: it may be handed over (idempotent)."""
    await scripts.settle(keys=[pick_list_key(leader)], args=[code, "issued"])


async def drop_pending(scripts: PickupScripts, leader: str, code: str) -> None:
    """The redemption was refused: its code goes (a handover would refuse it anyway)."""
    await scripts.settle(keys=[pick_list_key(leader)], args=[code, ""])


async def hand_over(scripts: PickupScripts, leader: str, code: str, at: int,
                    wall_now: Optional[float] = None) -> tuple:
    """Mark a listed, issued code handed over: ('handed_over', record),
    ('already_handed_over', at), ('pending', member id, attempt key) or ('not_issued',)."""
    wall = time.time() if wall_now is None else wall_now
    answer = await scripts.hand_over(keys=[pick_list_key(leader), pick_issued_key(leader)],
                                     args=[code, at, _keep_before(wall), PRUNE_BATCH])
    return tuple(part.decode() if isinstance(part, bytes) else part for part in answer)
