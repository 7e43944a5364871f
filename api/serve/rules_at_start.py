"""Which rule table `rights serve` serves, decided once before its workers start.

Workers serve the version Redis says is active (api/rules_sync.py), whatever file they
were started with: a table pushed while the server ran must survive a restart. So the
start-up line names the version Redis will hand the workers, and where it came from:

- Redis holds no version yet: the file's table is recorded as its first version (as a
  push by `rights serve`), and served "from FILE (first version in this Redis)";
- the active version is the file's own: served "from Redis (active since ...)";
- another version is active: it stays served, and one more line says how to serve the
  file instead (`rights rules push FILE`, or restart with `--push-rules`);
- with `--push-rules` the file is pushed as a new version, active at once, exactly as
  `POST /v1/rules` records a push (RulesStore.push).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from engine.instants import format_instant

from ..brands import MAX_BRANDS, register
from ..redis.connect import async_client
from ..redis.keys import HOME_BRAND_KEY
from ..redis.scripts import Scripts
from ..rules_store import RulesStore

if TYPE_CHECKING:
    from engine.compiler import CompiledTable


def decide(
    url: str, table: CompiledTable, source: bytes, path: str, push: bool, brand: str = "", home: str = "main"
) -> list[str]:
    """The start-up lines about the rules (of `brand`; "": the home brand's, `home`), after
    recording in Redis what they say. Another brand is added to the registry."""
    return asyncio.run(_decide(url, table, source, path, push, brand, home))


async def _decide(
    url: str, table: CompiledTable, source: bytes, path: str, push: bool, brand: str, home: str
) -> list[str]:
    redis = async_client(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        store = RulesStore(redis, brand)
        version, label, now = table.version, table.version.split("@")[0], int(time.time())
        if not brand:
            await redis.set(HOME_BRAND_KEY, home, nx=True)  # what the commands beside the servers read
            recorded = await redis.get(HOME_BRAND_KEY)
            recorded = recorded.decode() if isinstance(recorded, bytes) else recorded
            if recorded != home:  # its unscoped keys are that brand's: serving them as another's would swap brands
                raise RuntimeError(
                    f"this Redis's home brand is {recorded}, not {home}: start with --brand {recorded} "
                    "(or RIGHTS_BRAND), or use another Redis"
                )
        if brand and await register(Scripts(redis), brand, "rights serve", now) < 0:
            return [f"brand {brand}: not served, this deployment serves at most {MAX_BRANDS} brands"]
        active = await store.active()
        if active is None:
            await store.push(version, source, "rights serve", label, None, now)
            return [f"{_whose(brand)}rules {version} from {path} (first version in this Redis)"]
        since = _since(await store.meta(active))
        if active == version:
            return [f"{_whose(brand)}rules {version} from Redis (active since {since}; the same as {path})"]
        if push:
            await store.push(version, source, "rights serve --push-rules", label, None, now)
            return [
                f"{_whose(brand)}rules {version} from {path} (pushed by --push-rules, active now; "
                f"{active} was active since {since})"
            ]
        return [
            f"{_whose(brand)}rules {active} from Redis (active since {since})",
            f"{path} holds {version}, which is not the active version; to serve it: rights rules push "
            f"{'--brand ' + brand + ' ' if brand else ''}{path}, or restart with --push-rules",
        ]
    finally:
        await redis.aclose()


def _since(meta: dict | None) -> str:
    at = (meta or {}).get("activated_at") or (meta or {}).get("pushed_at")
    if not at:
        return "an unknown time"
    return format_instant(int(at), utc_offset=None)


def _whose(brand: str) -> str:
    return f"brand {brand}: " if brand else ""
