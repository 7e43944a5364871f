"""A pickup leader's back office: its group ranked by points, the redemptions to hand
over at its pickup point, and its new neighbours. Everything is read from what the
orders, the ledger and the redemptions already keep; the one new record is the group.

    grp:{leader:<id>}   set   the members bound to the leader (candidates, see below)

The group is written where a binding is written: by an order that binds a new
neighbour (before the member's script binds it) and by `rights members import` (a
member's `leader` field). The member's own hash, in the member's slot, stays the
authority: the set may hold a member since bound elsewhere, or one whose binding order
was refused, and a ranking keeps only members whose `leader` field names this leader,
dropping the others from the set as it reads them. Members bound before the group was
recorded join it when imported again.

A ranking is computed when it is read (no sorted set kept in step with every balance
change: balances move inside the member's scripts, in the member's slot, which cannot
touch a leader's key): the group's ids (SSCAN) and one pipeline of HMGET per member,
points, tier, name, leader and frozen. A group is a few hundred to a few thousand
members; a ranking reads at most GROUP_CAP of them and says so (`complete: false`) when
the group is larger. For 2,000 members a ranking answers in about 55 ms through HTTP
(one Redis; about 80 ms on a three-master Cluster; tests/test_leader_office.py measures
it). Frozen members (under review for cheating) are left out.

Names are masked as a leader's app shows them (`mask_name`): a leader sees its own
group's members by id, masked name, points and tier, never a full name.
"""

from __future__ import annotations

import orjson

from .leaders import FEED_KEEP
from .redis.keys import LEADERS_KEY, feed_key, group_key, member_key, pick_issued_key, pick_list_key

GROUP_CAP = 5_000  # members a ranking reads at most (a leader's group is at most a few thousand)
SCAN_COUNT = 1_000
RANK_FIELDS = ("points", "tier", "name", "leader", "frozen")
VISITOR = "visitor"


def _han(char: str) -> bool:
    code = ord(char)
    return (
        0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3134F
        or char in "·•・"  # the middle dot in transcribed names: 阿卜杜·热合曼
    )


def mask_name(name: str) -> str:
    """A member's name as a leader sees it.

    - A name written in Chinese characters keeps its first character, and its last when
      it has three or more: `张三` -> `张*`, `张` -> `张*`, `王小明` -> `王*明`,
      `欧阳娜娜` -> `欧*娜` (one `*` whatever the length: the mask tells nothing of it).
    - Any other name (Latin letters, mixed, digits) keeps its first character only:
      `Alice Smith` -> `A*`, `zhang wei` -> `z*`.
    - No name (empty or only spaces): `*`.
    """
    text = " ".join(name.split())
    if not text:
        return "*"
    if len(text) >= 3 and all(_han(c) for c in text) and _han(text[0]) and _han(text[-1]):
        return f"{text[0]}*{text[-1]}"
    return f"{text[0]}*"


async def leader_known(redis, leader_id: str) -> bool:
    """Whether the leader was imported (active or not)."""
    return bool(await redis.hexists(LEADERS_KEY, leader_id))


async def join_group(redis, leader_id: str, member_id: str) -> None:
    """Record a member as a candidate of the leader's group (idempotent)."""
    await redis.sadd(group_key(leader_id), member_id)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _int(value) -> int:
    try:
        return max(0, int(_text(value)))
    except ValueError:
        return 0


async def group_ids(redis, leader_id: str, cap: int | None = None) -> tuple:
    """(member ids, complete?): at most `cap` (GROUP_CAP) of the group's candidates."""
    cap = GROUP_CAP if cap is None else cap
    key, cursor, ids = group_key(leader_id), 0, []
    seen: set = set()
    while True:
        cursor, batch = await redis.sscan(key, cursor, count=SCAN_COUNT)
        for raw in batch:
            member = _text(raw)
            if member not in seen:
                seen.add(member)
                ids.append(member)
        if int(cursor) == 0 or len(ids) >= cap:
            break
    if len(ids) > cap or int(cursor) != 0:
        return ids[:cap], False
    return ids, True


async def ranking(redis, leader_id: str, top: int, cap: int | None = None) -> dict:
    """The leader's group ranked by points (ties: member id), the first `top`."""
    ids, complete = await group_ids(redis, leader_id, cap)
    rows = []
    if ids:
        pipe = redis.pipeline(transaction=False)
        for member_id in ids:
            pipe.hmget(member_key(member_id), RANK_FIELDS)
        answers = await pipe.execute()
        gone = []
        for member_id, (points, tier, name, leader, frozen) in zip(ids, answers):
            if _text(leader) != leader_id:  # not (yet) bound here: left out
                if _text(leader):  # bound elsewhere since: out of this group for good (an order
                    gone.append(member_id)  # binding it here may be between its two writes)
                continue
            if _int(frozen):
                continue
            rows.append((-_int(points), member_id, _text(name), _text(tier) or VISITOR))
        if gone:
            await redis.srem(group_key(leader_id), *gone)
    rows.sort()
    return {
        "leader_id": leader_id,
        "members": len(rows),
        "complete": complete,
        "entries": [
            {"rank": rank, "member_id": member_id, "name_masked": mask_name(name), "points": -points, "tier": tier}
            for rank, (points, member_id, name, tier) in enumerate(rows[:top], start=1)
        ],
    }


PICKUP_STATES = {"issued": "awaiting_pickup", "pending": "unconfirmed"}


async def redemptions(redis, leader_id: str, limit: int) -> dict:
    """The leader's pick list, newest listed first: what each member redeemed and
    whether it was handed over. The pickup code itself is never shown."""
    issued, list_key = pick_issued_key(leader_id), pick_list_key(leader_id)
    entries: list = []
    start, page = 0, max(limit, 50)
    while len(entries) < limit:
        codes = await redis.zrevrange(issued, start, start + page - 1, withscores=True)
        if not codes:
            break
        records = await redis.hmget(list_key, [code for code, _ in codes])
        for (_, listed), raw in zip(codes, records):
            if raw is None:  # a refused redemption's code, dropped from the list
                continue
            record = orjson.loads(raw)
            handed = record.get("handed_at")
            entries.append(
                {
                    "member_id": record["member_id"],
                    "redemption_id": record["redemption_id"],
                    "state": "handed_over" if handed else PICKUP_STATES.get(record.get("state"), "unconfirmed"),
                    "redeemed_at": int(record.get("at") or listed),
                    "handed_at": int(handed) if handed else None,
                }
            )
            if len(entries) == limit:
                break
        start += page
    return {"leader_id": leader_id, "entries": entries}


async def neighbours(redis, leader_id: str, limit: int) -> dict:
    """The feed's `new_neighbour` entries, newest first, with each member's masked name."""
    found: list = []
    start, page = 0, max(limit, 50)
    while len(found) < limit and start < FEED_KEEP:
        raw = await redis.zrevrange(feed_key(leader_id), start, start + page - 1, withscores=True)
        if not raw:
            break
        for member, score in raw:
            kind, member_id, order_id = _text(member).split("|")
            if kind == "new_neighbour":
                found.append((member_id, order_id, int(score)))
                if len(found) == limit:
                    break
        start += page
    names = []
    if found:
        pipe = redis.pipeline(transaction=False)
        for member_id, _, _ in found:
            pipe.hget(member_key(member_id), "name")
        names = await pipe.execute()
    return {
        "leader_id": leader_id,
        "entries": [
            {"member_id": member_id, "name_masked": mask_name(_text(name)), "order_id": order_id, "at": at}
            for (member_id, order_id, at), name in zip(found, names)
        ],
    }
