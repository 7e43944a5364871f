"""One Redis URL, one node or a Cluster: the right redis-py client for it.

Scale-out is stateless API replicas over Redis Cluster. `REDIS_URL` may name a single
server or any node of a cluster; the first connection asks the server (`INFO cluster`)
and the answer picks `Redis` or `RedisCluster`, sync or asyncio. Every key layout of the
project is Cluster-safe (one hash tag per member, per item, per leader, `{rules}`), and
every script touches one slot.
"""

from __future__ import annotations

import functools
import urllib.parse

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

_CLUSTER_ONLY = ("retry_on_timeout", "retry", "single_connection_client")


class RedisUrlInvalid(ValueError):
    """A Redis URL redis-py cannot read: the caller's setting, refused in one line (exit 2)."""

    exit_code = 2

    def __init__(self, url: str, why: str):
        super().__init__(f"{url!r} is not a Redis URL: {why}")
        self.why = why


def checked_url(url: str) -> str:
    """`url` when redis-py can read it as a server's address, else RedisUrlInvalid."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number, or out of range
    except ValueError as exc:
        raise RedisUrlInvalid(url, str(exc)) from None
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise RedisUrlInvalid(url, "write redis://host:port/db (rediss:// with TLS) or unix:///path/to/socket")
    if port == 0:
        raise RedisUrlInvalid(url, "port 0")
    return url


@functools.lru_cache(maxsize=64)
def is_cluster(url: str) -> bool:
    """Whether the server at `url` runs in cluster mode (asked once per URL)."""
    probe = redis.Redis.from_url(checked_url(url), socket_timeout=5, socket_connect_timeout=5)
    try:
        return int(probe.info("cluster").get("cluster_enabled", 0)) == 1
    finally:
        probe.close()


def sync_client(url: str, **options):
    if is_cluster(url):
        return RedisCluster.from_url(url, **{k: v for k, v in options.items() if k not in _CLUSTER_ONLY})
    return redis.Redis.from_url(url, **options)


def async_client(url: str, pool_timeout: float | None = None, **options):
    """An asyncio client for a server or a cluster. With `pool_timeout`, a server's calls
    wait that long for a free connection when all `max_connections` are busy (instead of
    failing at once: a burst is a queue, not a Redis fault)."""
    if is_cluster(url):
        return AsyncRedisCluster.from_url(url, **{k: v for k, v in options.items() if k not in _CLUSTER_ONLY})
    if pool_timeout is not None:
        pool = aioredis.BlockingConnectionPool.from_url(url, timeout=pool_timeout, **options)
        return aioredis.Redis(connection_pool=pool)
    return aioredis.Redis.from_url(url, **options)


def shown(url: str) -> str:
    """A Redis URL fit for a log line: its password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def node_url(url: str, host: str, port: int) -> str:
    """`url` (scheme, credentials, options) pointed at another node of its cluster."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def refuse_evicting_redis(client) -> None:
    """Balances and idempotency records must never be evicted for memory: RuntimeError
    naming the policy otherwise."""
    for policy in sorted(eviction_policies(client)):  # INFO works where CONFIG is off
        if policy != "noeviction":  # volatile-* too: idempotency records and cap counters carry a TTL
            raise RuntimeError(
                f"the Redis maxmemory-policy is {policy}, which may evict keys (balances, "
                "idempotency records); set it to noeviction"
            )


def eviction_policies(client) -> set:
    """The maxmemory-policy of the server, or of every primary of a cluster."""
    if isinstance(client, RedisCluster):
        answers = client.info("memory", target_nodes=RedisCluster.PRIMARIES)
        return {info.get("maxmemory_policy", "noeviction") for info in answers.values()}
    return {client.info("memory").get("maxmemory_policy", "noeviction")}


def stream_node_warning(client, most: int = 1024) -> str | None:
    """A warning when the server (or a primary of a cluster) lets a stream's node grow past
    `most` bytes: each member's ledger then takes that much from its first entry (Redis's
    default, 4096, about 4 KB a member). None when it does not, or when CONFIG is off."""
    try:
        if isinstance(client, RedisCluster):
            answers: dict = client.config_get(  # a dict per primary
                "stream-node-max-bytes", target_nodes=RedisCluster.PRIMARIES
            )
            values = {int(answer.get("stream-node-max-bytes", 0)) for answer in answers.values()}
        else:
            values = {int(client.config_get("stream-node-max-bytes").get("stream-node-max-bytes", 0))}
    except redis.RedisError:  # CONFIG renamed or refused, as on some managed services
        return None
    largest = max(values)
    if largest and largest <= most:
        return None
    return (
        f"the Redis stream-node-max-bytes is {largest or 'unlimited'}: every member's ledger is a stream from its "
        "second entry, its node allocated up to that size (at Redis's default, 4,096, about 4.5 KB more a member "
        "than at 512, where it is about 0.7 KB); set it to 512 (docs/OPERATIONS.md, Memory)"
    )
