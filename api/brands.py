"""Several brands on one deployment: which brands there are, which table each serves, and
whose keys a request reads.

The home brand (`RIGHTS_BRAND`) is the one a server starts with; its keys are the names
of api/redis/keys.py. Further brands are added by pushing their first rule table
(`rights rules push --brand B FILE`, or `--brand-rules B=FILE` at start): the registry
`brands:{rules}` names them, and every worker follows each brand's active table as it
follows the home one (api/rules_sync.py, one `RulesSync` per brand). A request names its
brand (`brand`), or its room implies it (a room belongs to one brand's table); with
neither it is the home brand's.

Each brand has its own members (their tiers, usage, points), its own stock and its own
rule tables; for a brand in an alliance (api/alliance.py) the members and their points
are the alliance's. `enter(scope)` makes a request's keys that scope's.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from .redis.keys import BRANDS_KEY, HOME_BRAND_KEY, SCOPE, Scope

if TYPE_CHECKING:
    from engine.compiler import CompiledTable

BRAND_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}\Z")
BRAND_ID_HELP = "a brand id: 1 to 32 lower-case letters, digits or -, starting with a letter or digit"
MAX_BRANDS = 64  # brands one deployment serves, the home brand among them


class Served:
    """One brand's rule table as a worker serves it: the table, which activation it is
    (Redis's count), since when, and why the active one cannot be served, if so.
    The home brand's is the Service itself; the others' are these."""

    def __init__(self, brand: str, table: CompiledTable, source: bytes, parent: Any):
        self.brand = brand
        self.table: CompiledTable = table
        self.table_source = source
        self.table_seq: float = 0
        self.swapped_at = time.time()
        self.swap_lock = threading.RLock()
        self.rules_problem: str | None = None
        self.samples: list = []  # this brand's sampled eligibility requests, flushed each second
        self.redis = parent.redis
        self.metrics = parent.metrics
        self._parent = parent

    def swap(self, table: CompiledTable, seq: float, reset: bool = False) -> bool:
        with self.swap_lock:
            if seq < self.table_seq and not reset:
                return False
            self.table, self.table_seq, self.rules_problem, self.swapped_at = table, seq, None, time.time()
        self._parent.rooms_changed()
        return True

    def note_seq(self, version: str, seq: float) -> None:
        with self.swap_lock:
            if self.table.version == version and seq > self.table_seq:
                self.table_seq = seq


def scope_of(brand: str, home: str, members_of: dict[str, str] | None = None) -> Scope:
    """The key scope of `brand`: "" for the home brand; for a brand in an alliance
    (`members_of`: brand -> the brand whose members it uses, api/alliance.py) its members'
    scope is that brand's and its ledger entries name it."""
    allied = members_of or {}
    owner = allied.get(brand, brand)
    return Scope("" if brand == home else brand, "" if owner == home else owner, brand if brand in allied else "")


def enter(scope: Scope) -> None:
    """Make the current request's (task's) keys `scope`'s: every key function reads it."""
    if scope != SCOPE.get():
        SCOPE.set(scope)


@contextlib.contextmanager
def scoped(scope: Scope) -> Iterator[None]:
    """Keys are `scope`'s inside the block (a command, a test), as they were after it."""
    token = SCOPE.set(scope)
    try:
        yield
    finally:
        SCOPE.reset(token)


async def registered(redis) -> list[str]:
    """The brands added to this deployment (not the home brand), sorted."""
    raw = await redis.hkeys(BRANDS_KEY)
    return sorted(b.decode() if isinstance(b, bytes) else b for b in raw)


async def register(scripts, brand: str, by: str, now: int) -> int:
    """Add `brand` to the registry: 1 added, 0 it was there, -1 refused (MAX_BRANDS)."""
    record = orjson.dumps({"added_at": now, "by": by})
    return int(await scripts.brand_register(keys=[BRANDS_KEY], args=[brand, record, MAX_BRANDS - 1]))


def scope_in_redis(client, brand: str | None) -> Scope:
    """The key scope of `brand` for a command beside the servers (sync client): the home
    brand is the one the first server on this Redis named (HOME_BRAND_KEY). ValueError
    for a brand the deployment does not have."""
    home = client.get(HOME_BRAND_KEY)
    home = home.decode() if isinstance(home, bytes) else home
    if brand is None or brand == (home or "main"):
        from .alliance import members_of, stored_sync

        return scope_of(home or "main", home or "main", members_of(stored_sync(client), home or "main"))
    if not client.hexists(BRANDS_KEY, brand):
        raise ValueError(f"no brand {brand!r} in this Redis (the home brand is {home or 'main'})")
    from .alliance import members_of, stored_sync

    return scope_of(brand, home or "main", members_of(stored_sync(client), home or "main"))
