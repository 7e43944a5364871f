"""Members in Redis: the key layout, reading a member for a quote, and bulk loading.

Key layout (every key of one member carries the member id as its hash tag, so that they
all live in one Redis Cluster slot and a script or transaction over them stays legal):

    m:{<member id>}                 hash   the member: profile fields and usage counters
    idn:{<channel>:<value>}         string the member id a channel identity belongs to

Profile fields of `m:{id}`: tier, points, birthday_month, sessions_watched, leader, tags
(comma separated), paid_until (Unix seconds; 0 or absent: no expiry), frozen (0/1),
name; `id:<channel>` records the member's own channel identities. Usage counters in the same hash: `c:<coupon id>`, `r:<redemption id>` and
`s:<sku>` (uses and quantities so far). One HGETALL reads all a quote needs: one round
trip. Channels: phone, openid (WeChat OpenID), unionid (WeChat UnionID), app.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from engine.model import VISITOR, Member

CHANNELS = ("phone", "openid", "unionid", "app")
MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
IDENTITY_VALUE = re.compile(r"^[A-Za-z0-9+_.:@-]{1,128}\Z")
PROFILE_FIELDS = ("tier", "points", "birthday_month", "sessions_watched", "leader", "tags", "paid_until", "frozen",
                  "name")
_INT_FIELDS = ("points", "birthday_month", "sessions_watched", "paid_until", "frozen")


def member_key(member_id: str) -> str:
    return f"m:{{{member_id}}}"


def identity_key(channel: str, value: str) -> str:
    return f"idn:{{{channel}:{value}}}"


@dataclass
class MemberRecord:
    """A member as stored: the profile, and the usage counters by kind."""

    id: str
    tier: Optional[str] = None
    points: int = 0
    birthday_month: int = 0
    sessions_watched: int = 0
    leader: str = ""
    tags: list = field(default_factory=list)
    paid_until: int = 0
    frozen: bool = False
    name: str = ""
    coupon_uses: dict = field(default_factory=dict)
    redemption_uses: dict = field(default_factory=dict)
    sku_bought: dict = field(default_factory=dict)
    identities: dict = field(default_factory=dict)  # channel -> value, for import and show

    def lapsed(self, now: int) -> bool:
        """A paid membership whose expiry has passed: priced as a visitor until renewed."""
        return self.paid_until > 0 and self.paid_until <= now

    def engine_member(self, as_visitor: bool = False) -> Member:
        tier = None if as_visitor or self.tier in (None, "", VISITOR) else self.tier
        return Member(tier=tier, points=self.points, birthday_month=self.birthday_month,
                      sessions_watched=self.sessions_watched, coupon_uses=self.coupon_uses,
                      redemption_uses=self.redemption_uses, sku_bought=self.sku_bought)

    def to_hash(self) -> dict:
        out = {"tier": self.tier or "", "points": self.points, "birthday_month": self.birthday_month,
               "sessions_watched": self.sessions_watched, "leader": self.leader, "tags": ",".join(self.tags),
               "paid_until": self.paid_until, "frozen": int(self.frozen), "name": self.name}
        for prefix, counts in (("c:", self.coupon_uses), ("r:", self.redemption_uses), ("s:", self.sku_bought),
                               ("id:", self.identities)):
            for key, value in counts.items():
                out[prefix + key] = value
        return out

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "tier": self.tier or VISITOR, "points": self.points,
                "birthday_month": self.birthday_month, "sessions_watched": self.sessions_watched,
                "leader": self.leader or None, "tags": self.tags, "paid_until": self.paid_until or None,
                "frozen": self.frozen, "coupon_uses": self.coupon_uses, "redemption_uses": self.redemption_uses,
                "sku_bought": self.sku_bought, "identities": self.identities}


def record_from_hash(member_id: str, raw: dict) -> Optional[MemberRecord]:
    """A MemberRecord from HGETALL's answer (bytes or str); None when the member is absent.
    A counter or number that does not parse counts as 0: a damaged field must not take
    checkout down, and the import refuses such values in the first place."""
    if not raw:
        return None
    record = MemberRecord(id=member_id)
    for key, value in raw.items():
        key = key.decode() if isinstance(key, bytes) else key
        value = value.decode() if isinstance(value, bytes) else value
        if key[:2] in ("c:", "r:", "s:"):
            counts = {"c:": record.coupon_uses, "r:": record.redemption_uses, "s:": record.sku_bought}[key[:2]]
            counts[key[2:]] = _int(value)
        elif key.startswith("id:"):
            record.identities[key[3:]] = value
        elif key in _INT_FIELDS:
            setattr(record, key, bool(_int(value)) if key == "frozen" else _int(value))
        elif key == "tags":
            record.tags = [t for t in value.split(",") if t]
        elif key in ("tier", "leader", "name"):
            setattr(record, key, value or ("" if key != "tier" else None))
    return record


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return 0


class IdentityCache:
    """Channel identity -> member id, bounded and short-lived: a member seen once is read
    in one round trip afterwards, and a re-bound identity is picked up within `ttl`."""

    def __init__(self, size: int = 100_000, ttl: float = 60.0):
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict = OrderedDict()

    def get(self, key: str) -> Optional[str]:
        hit = self._items.get(key)
        if hit is None:
            return None
        member_id, expires = hit
        if expires < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return member_id

    def put(self, key: str, member_id: str) -> None:
        self._items[key] = (member_id, time.monotonic() + self.ttl)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class MemberReader:
    """Reads members for quotes. Lookups that arrive in the same event-loop turn go to
    Redis as one pipeline: at the peak, many checkouts share one round trip."""

    def __init__(self, redis, batching: bool = True):
        self.redis = redis
        self.batching = batching
        self.identities = IdentityCache()
        self._pending: list = []
        self._flush_scheduled = False
        self.batches = 0  # round trips made for member reads
        self.reads = 0

    async def member(self, member_id: str) -> Optional[MemberRecord]:
        self.reads += 1
        if not self.batching:
            self.batches += 1
            return record_from_hash(member_id, await self.redis.hgetall(member_key(member_id)))
        future = asyncio.get_running_loop().create_future()
        self._pending.append((member_id, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending, self._flush_scheduled = self._pending, [], False
        asyncio.ensure_future(self._read_batch(pending))

    async def _read_batch(self, pending: list) -> None:
        self.batches += 1
        try:
            if len(pending) == 1:
                answers = [await self.redis.hgetall(member_key(pending[0][0]))]
            else:
                pipe = self.redis.pipeline(transaction=False)
                for member_id, _ in pending:
                    pipe.hgetall(member_key(member_id))
                answers = await pipe.execute()
        except Exception as exc:  # every waiter learns of the fault
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (member_id, future), raw in zip(pending, answers):
            if not future.done():
                future.set_result(record_from_hash(member_id, raw))

    async def resolve(self, channel: str, value: str) -> Optional[str]:
        key = identity_key(channel, value)
        member_id = self.identities.get(key)
        if member_id is None:
            raw = await self.redis.get(key)
            if raw is None:
                return None
            member_id = raw.decode() if isinstance(raw, bytes) else raw
            self.identities.put(key, member_id)
        return member_id


def write_members(redis, records: Iterable[MemberRecord], replace: bool = True) -> int:
    """Write members and their identities through one pipeline (sync client). Each member
    replaces what was stored under its id when `replace`."""
    pipe = redis.pipeline(transaction=False)
    count = 0
    for record in records:
        key = member_key(record.id)
        if replace:
            pipe.delete(key)
        pipe.hset(key, mapping=record.to_hash())
        for channel, value in record.identities.items():
            pipe.set(identity_key(channel, value), record.id)
        count += 1
    pipe.execute()
    return count


def read_member(redis, member_id: str) -> Optional[MemberRecord]:
    """One member, identities included (sync client, for the CLI)."""
    return record_from_hash(member_id, redis.hgetall(member_key(member_id)))
