"""Server settings: from the environment, overridden by `rights serve` flags.

| variable | default | meaning |
| --- | --- | --- |
| REDIS_URL | (none) | the Redis to use; without it `rights serve` starts its own redis-server |
| RIGHTS_RULES | the demo table | the rule table file served at start |
| RIGHTS_DATA_DIR | ./var | where the embedded redis-server keeps its data (AOF) |
| RIGHTS_HOST / RIGHTS_PORT | 127.0.0.1 / 8000 | where the API listens |
| RIGHTS_WORKERS | 1 | worker processes, 1 to 64 (`--workers` too) |
| RIGHTS_ACCESS_LOG | 1 | one JSON line per request on stdout; 0 switches it off |
| RIGHTS_MAX_BODY_BYTES | 65536 | larger request bodies get 413 |
| RIGHTS_MAX_RULES_BYTES | 67108864 | the same for a rule table pushed to POST /v1/rules |
| RIGHTS_ADMIN_TOKEN | (none) | the bearer token of the admin routes (rules); without it they are off |
| RIGHTS_REDIS_TIMEOUT_MS | 250 | a Redis call that takes longer fails the request with 503 |
| RIGHTS_BATCH_LOOKUPS | 1 | member lookups of one event-loop turn share one pipeline |
| RIGHTS_MEMBER_CACHE | 1 | keep members in the worker, invalidated by Redis (client-side caching with tracking) |
| RIGHTS_ALLOW_CLOCK_OVERRIDE | 0 | 1 lets a request set the instant (header X-Rights-Now); for tests and rehearsals only |
| RIGHTS_PICKUP_SECRET | (kept in the data dir) | the key pickup codes are signed with; set it when replicas span machines |
| RIGHTS_API_KEYS | (none) | `channel=key scope...` entries separated by `;`: member routes then need X-Api-Key (api/access.py) |
| RIGHTS_API_KEYS_FILE | (none) | a file of such entries, one a line (`#` comments), read at start |
| RIGHTS_EVENTS_PER_MINUTE | 60 | events a member may send a minute (429 past it); 0: no limit |
| RIGHTS_REDEMPTIONS_PER_MINUTE | 20 | redemption attempts a member may make a minute; 0: no limit |
| RIGHTS_MAX_HEADER_BYTES | 32768 | a larger request head (request line and headers) gets 431 and the connection closed |
| RIGHTS_HEADER_TIMEOUT_S | 10 | a connection whose request head is not complete by then is closed |
| RIGHTS_BODY_TIMEOUT_S | 60 | a request whose body is not complete by then is cut |
| RIGHTS_KEEPALIVE_TIMEOUT_S | 5 | an idle keep-alive connection is closed after this |
| RIGHTS_MAX_CONNECTIONS | 2048 | per worker; past it requests get 503 |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

from engine.demo import DEMO_RULES

MAX_WORKERS = 64  # worker processes one server may run


def _number(name: str, default: float, kind: type = int, minimum: float = 1, maximum: float = float("inf")):
    """A numeric variable; a wrong value is refused with the variable's name."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ValueError(f"{name}={raw!r}: not a {'whole ' if kind is int else ''}number") from None
    if not minimum <= value <= maximum or value == float("inf"):  # NaN fails the comparison
        bound = f"from {minimum} to {maximum}" if maximum != float("inf") else f"at least {minimum}"
        raise ValueError(f"{name}={raw!r}: must be a finite number, {bound}")
    return value


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    rules: str = str(DEMO_RULES)
    data_dir: str = "var"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    access_log: bool = True
    max_body_bytes: int = 65536
    max_rules_bytes: int = 64 * 1024 * 1024
    redis_timeout_ms: int = 250
    batch_lookups: bool = True
    member_cache: bool = True
    allow_clock_override: bool = False
    demo: bool = False
    api_keys: str = ""  # "channel=key scope...; ..." (api/access.py); empty, with no file: member routes open
    api_keys_file: str = ""  # the same entries, one a line
    events_per_minute: int = 60  # per member; 0: no limit
    redemptions_per_minute: int = 20  # per member; 0: no limit
    max_header_bytes: int = 32 * 1024  # request line and headers (api/serve/http_limits.py)
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 2048  # per worker

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = os.environ
        base = cls(
            redis_url=env.get("REDIS_URL") or None,
            rules=env.get("RIGHTS_RULES", str(DEMO_RULES)),
            data_dir=env.get("RIGHTS_DATA_DIR", "var"),
            host=env.get("RIGHTS_HOST", "127.0.0.1"),
            port=_number("RIGHTS_PORT", 8000, minimum=0, maximum=65535),
            workers=_number("RIGHTS_WORKERS", 1, maximum=MAX_WORKERS),
            access_log=_flag("RIGHTS_ACCESS_LOG", True),
            max_body_bytes=_number("RIGHTS_MAX_BODY_BYTES", 65536),
            max_rules_bytes=_number("RIGHTS_MAX_RULES_BYTES", 64 * 1024 * 1024),
            redis_timeout_ms=_number("RIGHTS_REDIS_TIMEOUT_MS", 250),
            batch_lookups=_flag("RIGHTS_BATCH_LOOKUPS", True),
            member_cache=_flag("RIGHTS_MEMBER_CACHE", True),
            allow_clock_override=_flag("RIGHTS_ALLOW_CLOCK_OVERRIDE", False),
            demo=_flag("RIGHTS_DEMO", False),
            api_keys=env.get("RIGHTS_API_KEYS", ""),
            api_keys_file=env.get("RIGHTS_API_KEYS_FILE", ""),
            events_per_minute=_number("RIGHTS_EVENTS_PER_MINUTE", 60, minimum=0),
            redemptions_per_minute=_number("RIGHTS_REDEMPTIONS_PER_MINUTE", 20, minimum=0),
            max_header_bytes=_number("RIGHTS_MAX_HEADER_BYTES", 32 * 1024, minimum=1024),
            header_timeout_s=_number("RIGHTS_HEADER_TIMEOUT_S", 10.0, float, minimum=0.1),
            body_timeout_s=_number("RIGHTS_BODY_TIMEOUT_S", 60.0, float, minimum=0.1),
            keepalive_timeout_s=_number("RIGHTS_KEEPALIVE_TIMEOUT_S", 5.0, float, minimum=0.1),
            max_connections=_number("RIGHTS_MAX_CONNECTIONS", 2048),
        )
        known = {f.name for f in fields(cls)}
        settings = replace(base, **{k: v for k, v in overrides.items() if k in known and v is not None})
        if not 1 <= settings.workers <= MAX_WORKERS:  # a flag is held to its variable's bounds
            raise ValueError(f"--workers {settings.workers}: must be from 1 to {MAX_WORKERS}")
        if not 0 <= settings.port <= 65535:
            raise ValueError(f"--port {settings.port}: must be from 0 to 65535")
        return settings

    def to_env(self) -> dict:
        """The settings as environment variables, for worker processes."""
        out = {
            "RIGHTS_RULES": self.rules,
            "RIGHTS_DATA_DIR": self.data_dir,
            "RIGHTS_HOST": self.host,
            "RIGHTS_PORT": str(self.port),
            "RIGHTS_WORKERS": str(self.workers),
            "RIGHTS_ACCESS_LOG": "1" if self.access_log else "0",
            "RIGHTS_MAX_BODY_BYTES": str(self.max_body_bytes),
            "RIGHTS_MAX_RULES_BYTES": str(self.max_rules_bytes),
            "RIGHTS_REDIS_TIMEOUT_MS": str(self.redis_timeout_ms),
            "RIGHTS_BATCH_LOOKUPS": "1" if self.batch_lookups else "0",
            "RIGHTS_MEMBER_CACHE": "1" if self.member_cache else "0",
            "RIGHTS_ALLOW_CLOCK_OVERRIDE": "1" if self.allow_clock_override else "0",
            "RIGHTS_DEMO": "1" if self.demo else "0",
            "RIGHTS_API_KEYS": self.api_keys,
            "RIGHTS_API_KEYS_FILE": self.api_keys_file,
            "RIGHTS_EVENTS_PER_MINUTE": str(self.events_per_minute),
            "RIGHTS_REDEMPTIONS_PER_MINUTE": str(self.redemptions_per_minute),
            "RIGHTS_MAX_HEADER_BYTES": str(self.max_header_bytes),
            "RIGHTS_HEADER_TIMEOUT_S": str(self.header_timeout_s),
            "RIGHTS_BODY_TIMEOUT_S": str(self.body_timeout_s),
            "RIGHTS_KEEPALIVE_TIMEOUT_S": str(self.keepalive_timeout_s),
            "RIGHTS_MAX_CONNECTIONS": str(self.max_connections),
        }
        if self.redis_url:
            out["REDIS_URL"] = self.redis_url
        return out
