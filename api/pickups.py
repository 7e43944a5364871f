"""The leaders' pick lists in Redis: a code is put on its leader's list when it is issued,
and handed over only from there, once.

A signed code proves who may check it, not that it was issued: a leader's app holds its
own tag key and could sign a code for an item nobody redeemed. So the list is the
authority. Both keys carry the leader's hash tag (one Cluster slot), and one script
checks and marks a handover:

    pick:{leader:<id>}         hash  code -> {"member_id", "redemption_id", "at", "handed_at"}
    pick:{leader:<id>}:issued  zset  code -> the wall-clock second it was issued

A code is kept for PICKUP_RETENTION_DAYS after it was issued, handed over or not; older
ones are pruned (a few at a time) whenever the list is written or read, and are then
refused as not issued, so a code is never handed over twice. `*` is the list of members
with no leader, which any leader may hand over.
"""
from __future__ import annotations

import time
from typing import Optional

import orjson

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

# KEYS: list, issued   ARGV: code, record (JSON), wall now, keep before (wall seconds), prune batch
_ISSUE = _PRUNE + r"""
prune(KEYS[1], KEYS[2], ARGV[4])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
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
record['handed_at'] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return {'handed_over', raw}
"""


def pick_list_key(leader_id: str) -> str:
    return f"pick:{{leader:{leader_id}}}"


def issued_key(leader_id: str) -> str:
    return f"pick:{{leader:{leader_id}}}:issued"


class PickupScripts:
    def __init__(self, redis):
        self.issue = redis.register_script(_ISSUE)
        self.hand_over = redis.register_script(_HAND_OVER)


def _keep_before(wall_now: float) -> int:
    return int(wall_now) - PICKUP_RETENTION_DAYS * 86400


async def list_for_pickup(scripts: PickupScripts, leader: str, code: str, member_id: str, redemption_id: str,
                          at: int, wall_now: Optional[float] = None) -> None:
    """Put an issued code on its leader's list (idempotent: a code is listed once)."""
    wall = time.time() if wall_now is None else wall_now
    record = orjson.dumps({"member_id": member_id, "redemption_id": redemption_id, "at": at})
    await scripts.issue(keys=[pick_list_key(leader), issued_key(leader)],
                        args=[code, record, int(wall), _keep_before(wall), PRUNE_BATCH])


async def hand_over(scripts: PickupScripts, leader: str, code: str, at: int,
                    wall_now: Optional[float] = None) -> tuple:
    """Mark a listed code handed over: ('handed_over', record), ('already_handed_over', at)
    or ('not_issued',)."""
    wall = time.time() if wall_now is None else wall_now
    answer = await scripts.hand_over(keys=[pick_list_key(leader), issued_key(leader)],
                                     args=[code, at, _keep_before(wall), PRUNE_BATCH])
    return tuple(part.decode() if isinstance(part, bytes) else part for part in answer)
