"""Who may call the member routes, and how often.

- Channel API keys: with `RIGHTS_API_KEYS` set (`channel=key,channel=key`, e.g.
  `miniapp=...,live=...`), every `/v1/` route but the admin ones (their own bearer token)
  and `/v1/noop` needs an `X-Api-Key` header naming one of them: none is 401, an unknown
  one 403. Keys are compared in constant time, all of them every time, and never logged;
  the access log records the channel a key belongs to. Without the setting the routes are
  open (a deployment behind its own gateway).
- Per-member rate limits on events and redemptions: a fixed one-minute window counted in
  Redis under the member's hash tag (`rate:{<member>}:<kind>:<minute>`), so every replica
  shares it; past the limit the answer is 429 with `Retry-After` (seconds to the next
  window).
"""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Optional

ADMIN_PREFIXES = ("/v1/rules",)
ADMIN_SUFFIXES = ("/freeze", "/unfreeze")
OPEN_PATHS = ("/v1/noop",)


class ApiKeys:
    """The channel keys of RIGHTS_API_KEYS; `channel(header)` says whose a key is."""

    def __init__(self, spec: str):
        self.keys: list = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            channel, sep, key = part.partition("=")
            if not sep or not channel.strip() or len(key.strip()) < 16:
                raise ValueError("RIGHTS_API_KEYS takes channel=key pairs separated by commas, keys of 16 "
                                 "characters or more")
            self.keys.append((channel.strip(), key.strip().encode()))

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def channel(self, given: Optional[bytes]) -> Optional[str]:
        found = None
        for channel, key in self.keys:  # every key is compared: the time says nothing of which matched
            if given is not None and hmac.compare_digest(given, key):
                found = channel
        return found

    @staticmethod
    def guards(path: str) -> bool:
        """Whether a path needs a channel key (when keys are configured)."""
        return (path.startswith("/v1/") and path not in OPEN_PATHS and not path.startswith(ADMIN_PREFIXES)
                and not path.endswith(ADMIN_SUFFIXES))


def rate_key(member_id: str, kind: str, window: int) -> str:
    return f"rate:{{{member_id}}}:{kind}:{window}"


RATE_KEY_TTL_SECONDS = 120  # a window's counter outlives its minute, then goes


@dataclass(frozen=True)
class RateWindow:
    """This minute's counter of one member's attempts of one kind, for a script in the
    member's slot to count (after it has answered any replay from its record)."""

    key: str
    limit: int
    retry_after: int  # seconds to the next window, for Retry-After

    @classmethod
    def now(cls, member_id: str, kind: str, per_minute: int) -> Optional["RateWindow"]:
        if per_minute <= 0:
            return None
        now = time.time()
        window = int(now // 60)
        return cls(rate_key(member_id, kind, window), per_minute, max(1, int((window + 1) * 60 - now) + 1))
