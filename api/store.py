"""Members in Redis: the key layout, reading a member for a quote, and bulk loading.

Key layout (every key of one member carries the member id as its hash tag, so that they
all live in one Redis Cluster slot and a script or transaction over them stays legal):

    m:{<member id>}                 hash   the member: profile fields and usage counters
    idn:{<channel>:<value>}         string the member id a channel identity belongs to

Profile fields of `m:{id}`: tier, points, birthday_month, sessions_watched, leader, tags
(comma separated), paid_until (Unix seconds; 0 or absent: no expiry), frozen (0/1),
name; `id:<channel>` records the member's own channel identities. A field at its default
(0, false, empty) is not stored: a member's hash holds what is particular to it. Tier progression's
figures (`sp:<yyyymm>`, growth, `t:<task>`, tier_since, review_at) are described in
api/progression.py. Usage counters in the
same hash: `c:<coupon id>`, `r:<redemption id>` and
`s:<sku>` (uses and quantities so far), and `g:<coupon id>`, the expiries of the member's
unused grants of a coupon (api/owned_coupons.py). One HGETALL reads all a quote needs: one round
trip. Channels: phone, openid (WeChat OpenID), unionid (WeChat UnionID), app.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from redis.exceptions import RedisError

from engine.model import VISITOR, Member

from .member_cache import MISS, TrackedCache
from .owned_coupons import OWNED_PREFIX, owned_counts, parse_expiries
from .redis.bulk import Sent, pack
from .redis.keys import SCOPE, group_key, identity_key, ledger_key, lots_key, member_key
from .redis.scripts import source

CHANNELS = ("phone", "openid", "unionid", "app")
MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
IDENTITY_VALUE = re.compile(r"^[A-Za-z0-9+_.:@-]{1,128}\Z")
_INT_FIELDS = (
    "points",
    "birthday_month",
    "sessions_watched",
    "paid_until",
    "frozen",
    "lapse_at",
    "lapse_points",
    "debt",
    "growth",
    "review_at",
    "tier_since",
)


@dataclass(slots=True)
class MemberRecord:
    """A member as stored: the profile, and the usage counters by kind."""

    id: str
    tier: str | None = None
    points: int = 0
    birthday_month: int = 0
    sessions_watched: int = 0
    leader: str = ""
    tags: list = field(default_factory=list)
    paid_until: int = 0
    frozen: bool = False
    name: str = ""
    lapse_at: int = 0  # the earliest expiry among the member's points lots (0: none), kept by the ledger
    lapse_points: int = 0  # the points that lapse at lapse_at, kept by the ledger
    debt: int = 0  # points owed from refunds (points.refund: debt), paid by the next credits
    coupon_uses: dict = field(default_factory=dict)
    redemption_uses: dict = field(default_factory=dict)
    sku_bought: dict = field(default_factory=dict)
    identities: dict = field(default_factory=dict)  # channel -> value, for import and show
    owned: dict = field(default_factory=dict)  # granted coupon id -> unused grants' expiries (api/owned_coupons.py)
    # tier progression (api/progression.py), kept by lua/tier_progress.lua
    spend: dict = field(default_factory=dict)  # yyyymm -> fen paid that local month
    growth: int = 0
    task_state: dict = field(default_factory=dict)  # task -> its stored state
    review_at: int = 0
    tier_since: int = 0

    def lapsed(self, now: int) -> bool:
        """A paid membership whose expiry has passed: priced as a visitor until renewed."""
        return self.paid_until > 0 and self.paid_until <= now

    def engine_member(self, as_visitor: bool = False, now: int = 0) -> Member:
        """The Member to quote; `owned_coupons` counts the grants that still hold at `now`."""
        tier = None if as_visitor or self.tier in (None, "", VISITOR) else self.tier
        return Member(  # by position, in Member's order (tier, points, birthday_month, ...): one per quote
            tier,
            self.points,
            self.birthday_month,
            self.sessions_watched,
            self.debt,
            frozenset(self.tags),
            self.coupon_uses,
            self.redemption_uses,
            self.sku_bought,
            owned_counts(self.owned, now) if self.owned else {},
        )

    def profile_args(self) -> list[str]:
        """The profile as HSET's field, value, ... without the balance (the ledger's) and
        without the fields at their default (no tier, no leader, 0, false, empty), which
        a reader takes as that default: a member's hash holds what is particular to it.
        Numbers as their digits: a script that gets them in JSON (lua/member_import_node.lua)
        hands text to HSET as it is, where Redis would format a Lua number itself."""
        out: list = []
        if self.tier:
            out += ("tier", self.tier)
        if self.birthday_month:
            out += ("birthday_month", str(self.birthday_month))
        if self.sessions_watched:
            out += ("sessions_watched", str(self.sessions_watched))
        if self.leader:
            out += ("leader", self.leader)
        if self.tags:
            out += ("tags", ",".join(self.tags))
        if self.paid_until:
            out += ("paid_until", str(self.paid_until))
        if self.frozen:
            out += ("frozen", "1")
        if self.name:
            out += ("name", self.name)
        for prefix, counts in (
            ("c:", self.coupon_uses),
            ("r:", self.redemption_uses),
            ("s:", self.sku_bought),
        ):
            if counts:
                for key, value in counts.items():
                    out += (prefix + key, str(value))
        for key, value in self.identities.items():
            out += ("id:" + key, value)
        return out

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "tier": self.tier or VISITOR,
            "points": self.points,
            "points_debt": self.debt,
            "birthday_month": self.birthday_month,
            "sessions_watched": self.sessions_watched,
            "leader": self.leader or None,
            "tags": self.tags,
            "paid_until": self.paid_until or None,
            "frozen": self.frozen,
            "coupon_uses": self.coupon_uses,
            "redemption_uses": self.redemption_uses,
            "sku_bought": self.sku_bought,
            "identities": self.identities,
            # what the member owns and has done toward its next tier
            "coupon_grants": {coupon: list(expiries) for coupon, expiries in self.owned.items()},
            "spend_by_month": self.spend,
            "growth": self.growth,
            "tier_since": self.tier_since or None,
            "review_at": self.review_at or None,
        }


def record_from_hash(member_id: str, raw: dict) -> MemberRecord | None:
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
        elif key.startswith(OWNED_PREFIX):
            record.owned[key[len(OWNED_PREFIX) :]] = parse_expiries(value)
        elif key.startswith("sp:"):
            record.spend[key[3:]] = _int(value)
        elif key.startswith("t:"):
            record.task_state[key[2:]] = value
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


class MemberReader:
    """Reads members for quotes. A member or identity read before comes from the tracked
    cache (no round trip); misses that arrive in the same event-loop turn go to Redis as
    one pipeline, so at the peak many checkouts share one round trip."""

    def __init__(self, redis, batching: bool = True, cache: TrackedCache | None = None):
        self.redis = redis
        self.batching = batching
        self.cache = cache
        self._pending: list = []
        self._flush_scheduled = False
        self.batches = 0  # round trips made for member reads
        self.reads = 0

    def cached_member(self, member_id: str):
        """The member from the cache without any I/O, or MISS."""
        return self.cache.get(member_key(member_id)) if self.cache is not None else MISS

    def cached_identity(self, channel: str, value: str):
        return self.cache.get(identity_key(channel, value)) if self.cache is not None else MISS

    async def member(self, member_id: str) -> MemberRecord | None:
        key = member_key(member_id)
        return await self._through_cache(key, lambda: self._read_member(member_id, key))

    async def _read_member(self, member_id: str, key: str) -> MemberRecord | None:
        return record_from_hash(member_id, await self._hgetall(key))

    async def _through_cache(self, key: str, read):
        """The cached value of `key`, or `await read()`, kept unless a write overtook it."""
        cache = self.cache
        token = None
        if cache is not None:
            hit = cache.get(key)
            if hit is not MISS:
                return hit
            token = cache.begin(key)
        value = await read()
        if cache is not None:
            cache.finish(key, token, value)
        return value

    async def _hgetall(self, key: str) -> dict:
        self.reads += 1
        if not self.batching:
            self.batches += 1
            return await self.redis.hgetall(key)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
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
                answers = [await self.redis.hgetall(pending[0][0])]
            else:
                pipe = self.redis.pipeline(transaction=False)
                for key, _ in pending:
                    pipe.hgetall(key)
                answers = await pipe.execute()
        except Exception as exc:  # every waiter learns of the fault
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), raw in zip(pending, answers):
            if not future.done():
                future.set_result(raw)

    async def resolve(self, channel: str, value: str) -> str | None:
        key = identity_key(channel, value)
        return await self._through_cache(key, lambda: self._read_identity(key))

    async def _read_identity(self, key: str) -> str | None:
        raw = await self.redis.get(key)
        return raw.decode() if isinstance(raw, bytes) else raw


NEW_VALUES = 1000  # profile values a member of a batch sent as new may have (Lua unpacks some thousands)


class WriteRefused(RedisError):
    """Redis refused part of a write_members batch: `written` members, the first ones of
    the batch, were written whole; `cause` is the first refusal."""

    def __init__(self, written: int, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.written = written
        self.cause = cause


class MemberWrites:
    """The commands that write a batch of members (sync client), packed for each server
    (api/redis/bulk.py): each member's script (lua/member_import.lua: the profile replaces
    the stored one, the ledger's fields stay; the balance becomes the imported one,
    through the ledger once the member's ledger has begun), and on a single server one
    MSET for the identities and one SADD a leader's group (`grp:{leader:<id>}`, read by
    the leader's ranking); on a Cluster each primary gets its own members' scripts and
    keys. On one server the members' scripts are one call (lua/member_import_node.lua, its
    arguments one JSON array): Redis parses one command and starts one script, not a
    thousand; on a Cluster (or with `one_node=False`) each member is a call of its own, in
    its slot. While `expect_new`, a batch whose members come once each goes with its member
    keys alone; if one exists the script writes nothing and `finish()` sends the batch again
    with all its keys (`found_existing` tells the caller). `send()` sends them all,
    `finish()` reads the replies: between the two the caller may prepare the next batch
    while Redis writes this one."""

    def __init__(self, redis, records: Iterable[MemberRecord], one_node: bool | None = None, expect_new: bool = True):
        from redis.cluster import RedisCluster

        self.redis = redis
        self.records = records = list(records)
        cluster = isinstance(redis, RedisCluster)
        if one_node is None:
            one_node = not cluster
        if one_node and cluster:
            raise ValueError("a batch in one call needs one Redis node, not a Cluster")
        self.script = source("member_import_node" if one_node else "member_import")
        sha = hashlib.sha1(self.script.encode()).hexdigest()
        now = int(time.time())
        home = not SCOPE.get().members  # leaders' groups are the home brand's members (docs/BRANDS.md)
        # server name -> (client, packed commands, the members each is for, whether each stops at a refusal)
        self.servers: dict = {}

        def queue(key: str, command: bytes, members, in_order: bool = False) -> None:
            name, client = "", redis
            if cluster:
                node = redis.get_node_from_key(key)
                name, client = node.name, redis.get_redis_connection(node)
            if name not in self.servers:
                self.servers[name] = (client, [], [], [])
            _, commands, of, stops = self.servers[name]
            commands.append(command)
            of.append(members)
            stops.append(in_order)

        if not one_node:
            for k, record in enumerate(records):
                key, member = member_key(record.id), record.id
                args = (record.points, now, "members import", *record.profile_args())
                queue(key, pack("EVALSHA", sha, 3, key, lots_key(member), ledger_key(member), *args), (k,))
        elif records:  # the members first, as on a Cluster
            # sent as new (its member keys alone) while the import has found none existing, each once
            new = expect_new and len({record.id for record in records}) == len(records)
            queue("", _in_one_call(sha, records, now, new), range(len(records)), True)
        identified: list = []  # the members with an identity
        pairs: list = []  # identity key, member id, ...: in order, so that the later of two members holds
        groups: dict = {}
        for k, record in enumerate(records):
            if record.leader and home:
                groups.setdefault(record.leader, []).append(k)
            if record.identities:
                identified.append(k)
                if not cluster:
                    for channel, value in record.identities.items():
                        pairs += (identity_key(channel, value), record.id)
        if cluster:  # each identity its own slot
            for k in identified:
                for channel, value in records[k].identities.items():
                    key = identity_key(channel, value)
                    queue(key, pack("SET", key, records[k].id), (k,))
        elif pairs:
            queue("", pack("MSET", *pairs), identified)
        for leader, members in groups.items():
            key = group_key(leader)
            queue(key, pack("SADD", key, *[records[k].id for k in members]), members)
        self.sent: list = []
        self.sha, self.now = sha, now
        self.found_existing = False  # the batch was sent as new and a member existed: sent again

    def send(self) -> None:
        """Send every server its commands, the script's source first (SCRIPT LOAD, in the
        same round trip: a no-op where it is known already)."""
        load = pack("SCRIPT", "LOAD", self.script)
        for client, commands, members, stops in self.servers.values():
            self.sent.append((Sent(client, [load, *commands]), members, stops))

    def _again(self) -> list:
        """The replies of the batch sent again with all its keys, then its identities and
        groups once more (already written by the first sending: set again after the
        members, as a Cluster's order has them)."""
        self.found_existing = True
        _, commands, _, _ = self.servers[""]  # the members' call first, then the identities and groups
        call = _in_one_call(self.sha, self.records, self.now, False)
        return Sent(self.redis, [call, *commands[1:]]).replies()

    def finish(self) -> int:
        """Read the replies: how many members were written, or WriteRefused saying how
        many of the first went in whole."""
        refused: dict = {}  # member -> the first refusal of a command of its
        for sent, members, stops in self.sent:
            loaded, *replies = sent.replies()
            if isinstance(loaded, Exception):  # a server that refuses even that refuses all
                replies = [loaded] * len(members)
            elif replies and replies[0] == [-1]:  # sent as new, a member exists: nothing was written
                replies = self._again()
            for reply, of, in_order in zip(replies, members, stops):
                if in_order and not isinstance(reply, Exception) and len(reply) > 1:
                    done, reply = reply  # the members after the first refused were not written
                    of = of[done:]
                if isinstance(reply, Exception):
                    for k in of:
                        refused.setdefault(k, reply)
        if refused:
            first = min(refused)
            raise WriteRefused(first, refused[first])
        return len(self.records)


def _in_one_call(sha: str, records: list, now: int, new: bool) -> bytes:
    """The members' scripts as one call of lua/member_import_node.lua: KEYS the member keys,
    then (unless the batch is expected `new`) the lots keys, then the ledger keys; ARGV one
    JSON array, and `new`."""
    batch: list = [now, "members import"]
    for record in records:
        profile = record.profile_args()
        if new and len(profile) > NEW_VALUES:  # too many to unpack outside a protected call
            new = False
        batch += (len(profile) + 1, str(record.points), *profile)
    ids = [record.id for record in records]
    if new:
        return pack("EVALSHA", sha, len(ids), *map(member_key, ids), orjson.dumps(batch), "new")
    keys = [*map(member_key, ids), *map(lots_key, ids), *map(ledger_key, ids)]
    return pack("EVALSHA", sha, len(keys), *keys, orjson.dumps(batch))


def write_members(redis, records: Iterable[MemberRecord], one_node: bool | None = None) -> int:
    """Write members, their identities and their leaders' groups (MemberWrites); how many
    were written, or WriteRefused saying how many of the first went in whole."""
    writes = MemberWrites(redis, records, one_node)
    writes.send()
    return writes.finish()


def read_member(redis, member_id: str) -> MemberRecord | None:
    """One member, identities included (sync client, for the CLI)."""
    return record_from_hash(member_id, redis.hgetall(member_key(member_id)))
