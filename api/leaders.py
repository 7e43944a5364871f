"""Pickup leaders (团长) in Redis, and each worker's spatial index of the active ones.

    leaders:{leaders}           hash    leader id -> {"name", "lat", "lon", "active"} (JSON)
    leaders:{leaders}:version   string  bumped by every import; workers reload when it moves
    feed:{leader:<id>}          zset    the leader's feed: "new_neighbour|<member>|<order>" by instant

`rights leaders import FILE` (CSV or JSON lines: id, name, lat, lon, active) writes them;
each worker polls the version every second and rebuilds its engine.geo.LeaderIndex.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator

import orjson

from engine.geo import Leader, LeaderIndex

from .members_io import RowError, read_rows
from .redis.keys import LEADERS_KEY, LEADERS_VERSION_KEY
from .store import MEMBER_ID

RELOAD_EVERY_SECONDS = 1.0


FEED_KEEP = 1_000  # a leader's feed keeps its newest entries (a page shows at most 500)


def leader_from_row(row: dict) -> Leader:
    """A Leader from an import row; RowError naming the field otherwise."""
    unknown = set(row) - {"id", "name", "lat", "lon", "active"}
    if unknown:
        raise RowError(sorted(unknown)[0], "unknown field; a leader row has id, name, lat, lon, active")
    leader_id = row.get("id")
    if not isinstance(leader_id, str) or not MEMBER_ID.match(leader_id):
        raise RowError("id", "a leader id: 1 to 64 of A-Z a-z 0-9 _ . : - starting with a letter or digit")
    name = row.get("name", leader_id)
    if not isinstance(name, str) or len(name) > 200:
        raise RowError("name", "text of at most 200 characters")
    coords = {}
    for field, bound in (("lat", 90.0), ("lon", 180.0)):
        value = row.get(field)
        try:
            number = math.nan if value is None or isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not -bound <= number <= bound:
            raise RowError(field, f"a number from {-bound:g} to {bound:g}")
        coords[field] = number
    active = row.get("active", True)
    if isinstance(active, str):
        active = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(active.lower())
    if not isinstance(active, bool):
        raise RowError("active", "true or false (1 or 0)")
    return Leader(leader_id, name, coords["lat"], coords["lon"], active)


def read_leader_rows(text: str, name: str) -> Iterator[tuple]:
    """(line, Leader or RowError) for each row of a CSV or JSON-lines file."""
    for line, row in read_rows(text, name):
        if isinstance(row, RowError):
            yield line, row
            continue
        try:
            yield line, leader_from_row(row)
        except RowError as exc:
            yield line, exc


def write_leaders(redis, leaders: list) -> None:
    """Store leaders (sync client) and bump the version, in one transaction."""
    pipe = redis.pipeline(transaction=True)
    if leaders:
        pipe.hset(
            LEADERS_KEY,
            mapping={
                one.id: orjson.dumps({"name": one.name, "lat": one.lat, "lon": one.lon, "active": one.active})
                for one in leaders
            },
        )
    pipe.incr(LEADERS_VERSION_KEY)
    pipe.execute()


def parse_leaders(raw: dict) -> list:
    out = []
    for key, value in raw.items():
        data = orjson.loads(value)
        out.append(
            Leader(
                key.decode() if isinstance(key, bytes) else key, data["name"], data["lat"], data["lon"], data["active"]
            )
        )
    return out


class LeaderBook:
    """A worker's view of the leaders: by id, and the spatial index of the active ones."""

    def __init__(self) -> None:
        self.version: bytes | None = None
        self.loaded = False  # until the first load, no leader is known to be active or not
        self.by_id: dict = {}
        self.index = LeaderIndex([])

    async def reload(self, redis) -> None:
        version = await redis.get(LEADERS_VERSION_KEY)
        if self.loaded and version == self.version:
            return
        leaders = parse_leaders(await redis.hgetall(LEADERS_KEY))
        index = await asyncio.get_running_loop().run_in_executor(None, LeaderIndex, leaders)
        self.by_id, self.index, self.version, self.loaded = {one.id: one for one in leaders}, index, version, True

    async def keep_current(self, redis) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.reload(redis)
            await asyncio.sleep(RELOAD_EVERY_SECONDS)

    def active(self, leader_id: str) -> bool:
        leader = self.by_id.get(leader_id)
        return leader is not None and leader.active
