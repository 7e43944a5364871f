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
with no leader, which any leader may hand over. A handover is then linked into the brand
chain (api/ledger_chain.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from .ledger_chain import link_handover
from .redis.keys import pick_issued_key, pick_list_key
from .redis.scripts import Scripts

PICKUP_RETENTION_DAYS = 90
log = logging.getLogger("rights.api")
PRUNE_BATCH = 64  # old codes dropped per call: bounded work, and the list never falls behind its issues


def _keep_before(wall_now: float) -> int:
    return int(wall_now) - PICKUP_RETENTION_DAYS * 86400


def pending_call(
    leader: str, code: str, member_id: str, redemption_id: str, at: int, attempt_key: str, wall_now: float | None = None
) -> tuple[list, list]:
    """(KEYS, ARGV) of pickup_list for a code listed `pending`."""
    wall = time.time() if wall_now is None else wall_now
    record = orjson.dumps(
        {"member_id": member_id, "redemption_id": redemption_id, "at": at, "key": attempt_key, "state": "pending"}
    )
    return [pick_list_key(leader), pick_issued_key(leader)], [code, record, int(wall), _keep_before(wall), PRUNE_BATCH]


async def list_pending(
    scripts: Scripts,
    leader: str,
    code: str,
    member_id: str,
    redemption_id: str,
    at: int,
    attempt_key: str,
    wall_now: float | None = None,
) -> None:
    """Put a code on its leader's list as `pending`, before the member's points are taken
    (idempotent: a code is listed once)."""
    keys, args = pending_call(leader, code, member_id, redemption_id, at, attempt_key, wall_now)
    await scripts.pickup_list(keys=keys, args=args)


async def mark_issued(scripts: Scripts, leader: str, code: str) -> None:
    """The member's points were taken for this code: it may be handed over (idempotent)."""
    await scripts.pickup_settle(keys=[pick_list_key(leader)], args=[code, "issued"])


async def drop_pending(scripts: Scripts, leader: str, code: str) -> None:
    """The redemption was refused: its code goes (a handover would refuse it anyway)."""
    await scripts.pickup_settle(keys=[pick_list_key(leader)], args=[code, ""])


async def hand_over(scripts: Scripts, leader: str, code: str, at: int, wall_now: float | None = None) -> tuple:
    """Mark a listed, issued code handed over: ('handed_over', record),
    ('already_handed_over', at), ('pending', member id, attempt key) or ('not_issued',)."""
    wall = time.time() if wall_now is None else wall_now
    answer = await scripts.pickup_hand_over(
        keys=[pick_list_key(leader), pick_issued_key(leader)], args=[code, at, _keep_before(wall), PRUNE_BATCH]
    )
    done = tuple(part.decode() if isinstance(part, bytes) else part for part in answer)
    if done[0] == "handed_over":  # into the brand chain (api/ledger_chain.py), whatever the request does next
        await asyncio.shield(_link_handover(scripts, leader, code, done[1], at))
    return done


async def _link_handover(scripts: Scripts, leader: str, code: str, record: str, at: int) -> None:
    """A handover's link in the brand chain; a fault is logged, never the handover's answer."""
    try:
        await link_handover(scripts, str(orjson.loads(record).get("member_id", "")), leader, code, at)
    except Exception:  # the handover stands; the brand chain misses it (docs/API.md#verifying-the-ledger)
        log.exception("pickup handover %s %s: not linked into the brand chain", leader, code)
