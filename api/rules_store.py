"""Versioned rule tables in Redis: what was pushed, by whom, what is active, what is
scheduled, and which worker holds which version.

Every key carries the hash tag `{rules}`, so all of them live in one Redis Cluster slot
and one MULTI/EXEC changes them together:

    rules:{rules}:src:<version>     string  the table's source, as pushed
    rules:{rules}:meta:<version>    hash    author, label, pushed_at, activate_at, activated_at
    rules:{rules}:history           list    versions, newest push first
    rules:{rules}:activations       list    versions in the order they became active, newest first
    rules:{rules}:active            string  the active version
    rules:{rules}:scheduled         zset    version -> activate_at (Unix seconds)
    rules:{rules}:workers           hash    worker -> {"version", "at"} (JSON), its heartbeat
    rules:{rules}:seq               string  how many activations there have been: a worker
                                            swaps only to a later activation than its own

Retention: the sources and records of the newest KEEP_VERSIONS pushes (and of the active
and scheduled versions, however old); the newest KEEP_ACTIVATIONS activations; a worker's
heartbeat until it has been silent for FORGET_WORKER_AFTER seconds.

A change is announced on the channel `rules:{rules}:changed`; workers also poll the
active version, so a missed message delays a swap by one poll, never forever.
"""

from __future__ import annotations

import time

import orjson

from .redis.keys import HOME_RULES, RulesKeys, rules_keys
from .redis.scripts import Scripts

KEEP_VERSIONS = 50
KEEP_ACTIVATIONS = 200
FORGET_WORKER_AFTER = 3600.0


def _text(value: bytes | str) -> str:
    """An element of a list, hash or sorted-set reply: never missing."""
    return value.decode() if isinstance(value, bytes) else value


def _text_or_none(value: bytes | str | None) -> str | None:
    """A string reply: None when its key is missing."""
    return None if value is None else _text(value)


class RulesStore:
    """The rule-table records in Redis (asyncio client)."""

    def __init__(self, redis, brand: str = ""):
        self.redis = redis
        self.brand = brand
        self.keys = rules_keys(brand)
        self.scripts = Scripts(redis)
        self._pruned_workers_at = 0.0

    async def active(self) -> str | None:
        return _text_or_none(await self.redis.get(self.keys.active))

    async def source(self, version: str) -> bytes | None:
        return await self.redis.get(self.keys.source(version))

    async def meta(self, version: str) -> dict | None:
        raw = await self.redis.hgetall(self.keys.meta(version))
        if not raw:
            return None
        out: dict[str, str | int] = {_text(k): _text(v) for k, v in raw.items()}
        for key in ("pushed_at", "activate_at", "activated_at", "cancelled_at"):
            if out.get(key):
                out[key] = int(out[key])
        return {"version": version, **out}

    async def push(
        self, version: str, source: bytes, author: str, label: str, activate_at: int | None, now: int
    ) -> tuple:
        """Record a validated table; activate it now, or schedule it for `activate_at`.
        (the record, the activation's sequence number: 0 when scheduled)"""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.source(version), source)
        meta = {"author": author, "label": label, "pushed_at": now, "format": _format(source)}
        if activate_at is not None and activate_at > now:
            meta["activate_at"] = activate_at
            pipe.zadd(self.keys.scheduled, {version: activate_at})
        else:
            meta["activated_at"] = now
            pipe.set(self.keys.active, version)
            pipe.lpush(self.keys.activations, version)
            pipe.zrem(self.keys.scheduled, version)
            pipe.incr(self.keys.seq)
        pipe.hset(self.keys.meta(version), mapping=meta)
        pipe.lrem(self.keys.history, 0, version)
        pipe.lpush(self.keys.history, version)
        answers = await pipe.execute()
        await self.redis.publish(self.keys.channel, version)  # after the commit (a cluster takes no PUBLISH in MULTI)
        await self.prune()
        return {"version": version, **meta}, (int(answers[4]) if "activated_at" in meta else 0)

    async def prune(self) -> list:
        """Forget the versions pushed before the newest KEEP_VERSIONS, unless one is active
        or scheduled; the versions forgotten."""
        old = [_text(v) for v in await self.redis.lrange(self.keys.history, KEEP_VERSIONS, -1)]
        keep = {await self.active()} | {v for v, _ in await self.scheduled()}
        gone = [v for v in old if v not in keep]
        pipe = self.redis.pipeline(transaction=True)
        for version in gone:
            pipe.delete(self.keys.source(version))
            pipe.delete(self.keys.meta(version))
            pipe.lrem(self.keys.history, 0, version)
            pipe.lrem(self.keys.activations, 0, version)
        pipe.ltrim(self.keys.activations, 0, KEEP_ACTIVATIONS - 1)
        await pipe.execute()
        return gone

    async def activate(self, version: str, now: int, only_if_scheduled: bool = False) -> int:
        """Make `version` the active one (a rollback, or a schedule falling due), in one
        script; the activation's sequence number. With `only_if_scheduled` it happens
        once, whichever worker gets there first (the others get 0)."""
        seq = await self.scripts.rules_activate(
            keys=[self.keys.active, self.keys.scheduled, self.keys.activations, self.keys.meta(version), self.keys.seq],
            args=[version, now, int(only_if_scheduled)],
        )
        if seq:
            await self.redis.publish(self.keys.channel, version)
        return int(seq)

    async def active_with_seq(self) -> tuple:
        """(the active version or None, its activation's sequence number; 0 if unknown)."""
        active, seq = await self.redis.mget(self.keys.active, self.keys.seq)
        return _text_or_none(active), int(seq or 0)

    async def cancel(self, version: str, now: int) -> bool:
        """Take a scheduled version off the schedule (it stays in the history); False when
        it was not scheduled (never, or it has gone live already)."""
        if not await self.redis.zrem(self.keys.scheduled, version):
            return False
        await self.redis.hset(self.keys.meta(version), mapping={"cancelled_at": now})
        await self.redis.publish(self.keys.channel, version)
        return True

    async def previous(self) -> str | None:
        """The version that was active before the current one."""
        current = await self.active()
        for raw in await self.redis.lrange(self.keys.activations, 0, 200):
            version = _text(raw)
            if version != current:
                return version
        return None

    async def scheduled(self) -> list[tuple[str, int]]:
        return [
            (_text(v), int(score)) for v, score in await self.redis.zrange(self.keys.scheduled, 0, -1, withscores=True)
        ]

    async def history(self, limit: int = 50) -> list:
        return [_text(v) for v in await self.redis.lrange(self.keys.history, 0, limit - 1)]

    async def heartbeat(self, worker: str, version: str, swapped_at: float) -> None:
        now = time.time()
        await self.redis.hset(
            self.keys.workers, worker, orjson.dumps({"version": version, "at": now, "swapped_at": swapped_at})
        )
        if now - self._pruned_workers_at > 60:
            self._pruned_workers_at = now
            silent = [
                w
                for w, raw in (await self.redis.hgetall(self.keys.workers)).items()
                if now - orjson.loads(raw)["at"] > FORGET_WORKER_AFTER
            ]
            if silent:
                await self.redis.hdel(self.keys.workers, *silent)

    async def workers(self, fresh_within: float = 10.0) -> dict:
        """worker -> {"version", "swapped_at"} of the workers heard from lately."""
        now = time.time()
        out = {}
        for worker, raw in (await self.redis.hgetall(self.keys.workers)).items():
            entry = orjson.loads(raw)
            if now - entry["at"] <= fresh_within:
                out[_text(worker)] = {"version": entry["version"], "swapped_at": entry.get("swapped_at")}
        return out


def _format(source: bytes) -> str:
    return "json" if source.lstrip()[:1] in (b"{", b"[") else "yaml"


SAMPLE_LENGTH = 10_000  # recent eligibility requests kept for shadow runs ...
SAMPLE_BUDGET = 4 * 1024 * 1024  # ... and never more than this many bytes of them
SAMPLE_OVERHEAD = 64  # bytes counted per entry beyond its fields: the id and the stream's own keeping


async def add_samples(redis, samples: list, keys: RulesKeys = HOME_RULES) -> int:
    """Append sampled eligibility requests (body, instant) to the stream, keeping it within
    SAMPLE_LENGTH entries and SAMPLE_BUDGET bytes; the bytes it holds after."""
    args = [SAMPLE_BUDGET, SAMPLE_LENGTH, SAMPLE_OVERHEAD]
    for body, at in samples:
        args += [body, at]
    return await Scripts(redis).rules_add_samples(keys=[keys.sample, keys.sample_bytes], args=args)


async def recent_samples(redis, count: int, keys: RulesKeys = HOME_RULES) -> list:
    """The newest `count` sampled requests, oldest first, as (body bytes, instant)."""
    entries = await redis.xrevrange(keys.sample, count=count)
    return [(fields[b"b"], int(fields[b"at"])) for _, fields in reversed(entries)]
