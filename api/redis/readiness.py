"""Whether Redis takes writes, as `/readyz` must tell: a Redis that answers PING may still
refuse every write (over `maxmemory` with noeviction: OOM; a failed background save with
`stop-writes-on-bgsave-error`: MISCONF; a read-only replica: READONLY), and then orders,
events and redemptions all fail. So readiness writes a small key and reads the answer.

On a Redis Cluster a write goes to the primary that owns its slot, so there is one probe
key per primary (`ready:{<tag>}` with a tag hashed to that primary's slots).
"""

from __future__ import annotations

import time

from redis.crc import key_slot

from .keys import READY_KEY, ready_cluster_key

PROBE_TTL_SECONDS = 60  # each probe key lives a minute past the last probe


def probe_keys(redis, cluster: bool) -> list:
    """One key per primary: a key whose slot that primary owns."""
    if not cluster:
        return [READY_KEY]
    primaries = {node.name for node in redis.get_primaries()}
    found: dict = {}
    for n in range(20_000):  # 16,384 slots: a few thousand tags reach every primary
        key = ready_cluster_key(n)
        node = redis.nodes_manager.get_node_from_slot(key_slot(key.encode()))
        if node.name in primaries and node.name not in found:
            found[node.name] = key
            if len(found) == len(primaries):
                break
    return sorted(found.values())


async def write_refusal(redis, cluster: bool) -> str | None:
    """None when every primary took the probe write, else Redis's reason for refusing."""
    pipe = redis.pipeline(transaction=False)
    for key in probe_keys(redis, cluster):
        pipe.set(key, int(time.time()), ex=PROBE_TTL_SECONDS)
    for answer in await pipe.execute(raise_on_error=False):
        if isinstance(answer, Exception):
            return f"Redis refuses writes: {type(answer).__name__}: {str(answer)[:160]}"
    return None
