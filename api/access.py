"""Who may call the member routes, for what, and how often.

- Channel API keys with scopes: with `RIGHTS_API_KEYS` (or a key file named by
  `RIGHTS_API_KEYS_FILE`) set, every `/v1/` route but the admin ones (their own bearer
  token) and `/v1/noop` needs an `X-Api-Key` header: none is 401, an unknown one 403.
  Each key names its channel and the scopes it may use:

      RIGHTS_API_KEYS="miniapp=<key> checkout; erp=<key> backend; tuan=<key> leader:L001,L002"

  (entries separated by `;` or new lines; in a key file one entry a line, `#` comments).
  `checkout` may quote (`POST /v1/eligibility`), enter a draw and read its results
  (`POST /v1/draws/<id>/entries`, `GET /v1/draws/<id>`); `backend` may settle and refund
  orders, credit events, redeem, read ledgers and the stock alerts (`GET /v1/stock/alerts`: the
  shop's systems act on them; the big screen shows the same on the operations network);
  `leader:<id>[,<id>...]` may hand over pickups and read the feed, ranking, redemptions
  and neighbours of those leaders only (`leader:*`: of any leader). A key used outside
  its scopes gets 403 `forbidden_scope` naming the scope needed. Keys are compared in
  constant time, all of them every time, and never logged; the access log records the
  channel. Without keys configured the routes are open (a deployment behind its own
  gateway). A key with `brand:<id>[,<id>...]` acts for those brands only (docs/BRANDS.md):
  a request for another brand gets 403 `forbidden_scope`; without it, for every brand.
- The admin routes (rules, freeze, ledger verify, drawing a draw's winners):
  `Authorization: Bearer <RIGHTS_ADMIN_TOKEN>`; none given is 401, a wrong one 403,
  compared in constant time and never logged; without a configured token they are off (403).
  A brand's admin token (RIGHTS_BRAND_ADMIN_TOKENS, `brand=token;...`) opens the rule-table
  routes of that brand only (`?brand=`); any other route or brand with it is 403.
- Per-member rate limits on events and redemptions: a moving 60-second window (lua/rate.lua:
  the instants of the member's last `limit` allowed attempts, on Redis's clock), kept in
  Redis under the member's hash tag (`rate:{<member>}:<kind>`), so every replica shares
  it, by the same script that answers replays (a replay is not counted); past the limit
  the answer is 429 with `Retry-After` (seconds until an attempt would be allowed again),
  and the refused attempt is not recorded.
"""

from __future__ import annotations

import hmac
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from .errors import AdminRefused
from .redis.keys import rate_key

ADMIN_PREFIXES = ("/v1/rules", "/v1/alliances")  # each with every path under it
OPEN_PATHS = ("/v1/noop",)
CHECKOUT, BACKEND, LEADER = "checkout", "backend", "leader"
ANY = "*"
MIN_KEY_LENGTH = 16
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_KEY = re.compile(r"^[!-~]+\Z")  # printable ASCII, no spaces: what a header carries unchanged
_BRAND = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}\Z")
_LEADER_ID = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.:-]{0,63}|\*)\Z")
_FEED = re.compile(r"^/v1/leaders/([^/]+)/(?:feed|ranking|redemptions|neighbours)\Z")  # a leader's own reads
_ADMIN_ROUTE = re.compile(  # an admin action on one member or draw, matched whole: an id may be "draw"
    r"^/v1/(?:members/[^/]+/(?:freeze|unfreeze|ledger/verify)|draws/[^/]+/draw)\Z"
)
_DRAW = re.compile(r"^/v1/draws/[^/]+(?:/entries)?\Z")  # a draw's entries and results: what a shop front calls
_SCOPES_HELP = (
    "scopes are checkout, backend and leader:<id>[,<id>...] (leader:* for any leader), "
    "and brand:<id>[,<id>...] to keep a key to those brands"
)
CURRENT_GRANT: ContextVar[Grant | None] = ContextVar("rights_grant", default=None)  # the request's key


@dataclass(frozen=True)
class Grant:
    """What one key may do: its channel, its scopes, and the leaders it acts for."""

    channel: str
    scopes: frozenset
    leaders: frozenset = frozenset()  # with the leader scope; ANY for every leader
    brands: frozenset = frozenset()  # the brands it acts for (scope brand:<id>,...); empty: every brand

    def describe(self) -> str:
        parts = sorted(self.scopes - {LEADER})
        if LEADER in self.scopes:
            parts.append("leader:" + ",".join(sorted(self.leaders)))
        if self.brands:
            parts.append("brand:" + ",".join(sorted(self.brands)))
        return " ".join(parts)

    def brand_refusal(self, brand: str) -> str | None:
        """Why this key may not act for `brand` (None: it may)."""
        if not self.brands or brand in self.brands:
            return None
        return (
            f"the key of channel {self.channel} acts for brand {','.join(sorted(self.brands))}; "
            f"brand {brand} needs scope brand:{brand}"
        )

    def acts_for(self, leader_id: str) -> bool:
        return LEADER in self.scopes and (ANY in self.leaders or leader_id in self.leaders)


def required_scope(path: str) -> str | None:
    """The scope a `/v1/` member route needs; None for the open and admin ones. A trailing
    slash names the same route (the router redirects it)."""
    path = path.rstrip("/")
    if (
        not path.startswith("/v1/")
        or path in OPEN_PATHS
        or path in ADMIN_PREFIXES
        or path.startswith(tuple(prefix + "/" for prefix in ADMIN_PREFIXES))
        or _ADMIN_ROUTE.match(path)
    ):
        return None
    if path == "/v1/eligibility" or _DRAW.match(path):
        return CHECKOUT
    if path == "/v1/pickups/verify" or _FEED.match(path):
        return LEADER
    return BACKEND


class ApiKeys:
    """The channel keys with their scopes; `grant(header)` says whose a key is."""

    def __init__(self, spec: str = "", file: str | None = None):
        self.keys: list = []  # (key bytes, Grant)
        for where, entry in _entries(spec, file):
            self.keys.append(_parse_entry(entry, where))

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def grant(self, given: bytes | None) -> Grant | None:
        found = None
        for key, grant in self.keys:  # every key is compared: the time says nothing of which matched
            if given is not None and hmac.compare_digest(given, key):
                found = grant
        return found

    @staticmethod
    def guards(path: str) -> bool:
        """Whether a path needs a channel key (when keys are configured)."""
        return required_scope(path) is not None


def scope_refusal(grant: Grant, method: str, path: str) -> str | None:
    """Why this key may not call this route (None: it may). A leader's reads (feed,
    ranking, redemptions, neighbours) name the leader in the path, so it is checked here;
    a handover names it in the body (see `leader_refusal`)."""
    needed = required_scope(path)
    if needed is None or needed in grant.scopes:
        feed = _FEED.match(path.rstrip("/"))
        if feed is not None and not grant.acts_for(feed.group(1)):
            return leader_refusal(grant, feed.group(1))
        return None
    wanted = "leader:<id>" if needed == LEADER else needed
    return f"the key of channel {grant.channel} has scopes {grant.describe()}; {method} {path} needs {wanted}"


def leader_refusal(grant: Grant | None, leader_id: str) -> str | None:
    """Why this key may not act for this leader (None: it may, or keys are off)."""
    if grant is None or grant.acts_for(leader_id):
        return None
    return (
        f"the key of channel {grant.channel} acts for leaders {','.join(sorted(grant.leaders)) or 'none'}; "
        f"acting for {leader_id} needs scope leader:{leader_id}"
    )


def _entries(spec: str, file: str | None):
    for number, entry in enumerate(re.split(r"[;\n]", spec or ""), start=1):
        if entry.strip():
            yield f"RIGHTS_API_KEYS entry {number}", entry.strip()
    if file:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"RIGHTS_API_KEYS_FILE: {file}: {exc}") from None
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                yield f"RIGHTS_API_KEYS_FILE {file}:{number}", text


def _parse_entry(entry: str, where: str) -> tuple:
    head, *scopes = entry.split()
    channel, sep, key = head.partition("=")
    if not sep or not _CHANNEL.match(channel):
        raise ValueError(f"{where}: write <channel>=<key> <scope>...; the channel is letters, digits and _ . -")
    if len(key) < MIN_KEY_LENGTH or not _KEY.match(key):
        raise ValueError(
            f"{where}: the key of channel {channel} must be {MIN_KEY_LENGTH} or more printable characters, no spaces"
        )
    if not scopes:
        joined = "; entries are separated by ';', not ','" if "," in key and "=" in key else ""
        raise ValueError(f"{where}: the key of channel {channel} names no scope; {_SCOPES_HELP}{joined}")
    granted, leaders, brands = set(), set(), set()
    for scope in scopes:
        name, _, ids = scope.partition(":")
        if scope in (CHECKOUT, BACKEND):
            granted.add(scope)
        elif name == "brand" and ids and all(_BRAND.match(i) for i in ids.split(",")):
            brands.update(ids.split(","))
        elif name == LEADER and ids and all(_LEADER_ID.match(i) for i in ids.split(",")):
            granted.add(LEADER)
            leaders.update(ids.split(","))
        else:
            raise ValueError(f"{where}: unknown scope {scope!r} for channel {channel}; {_SCOPES_HELP}")
    if not granted:
        raise ValueError(f"{where}: the key of channel {channel} names no scope but brands; {_SCOPES_HELP}")
    return key.encode(), Grant(channel, frozenset(granted), frozenset(leaders), frozenset(brands))


RATE_KEY_TTL_SECONDS = 60  # a window's instants are all older than 60 s a minute after its last attempt


@dataclass(frozen=True)
class RateLimit:
    """One member's attempts of one kind a minute, for a script in the member's slot to
    count (lua/rate.lua, after it has answered any replay from its record)."""

    key: str
    limit: int

    @classmethod
    def of(cls, member_id: str, kind: str, per_minute: int) -> RateLimit | None:
        """None when `per_minute` is 0: no limit."""
        return cls(rate_key(member_id, kind), per_minute) if per_minute > 0 else None


def brand_admin_tokens(strict: bool = False) -> dict[str, str]:
    """brand -> its admin token, from RIGHTS_BRAND_ADMIN_TOKENS (`brand=token` entries
    separated by `;`). An entry that is not one is ignored, or with `strict` a ValueError
    naming it (rights serve checks them so at start)."""
    out = {}
    for entry in filter(None, (part.strip() for part in os.environ.get("RIGHTS_BRAND_ADMIN_TOKENS", "").split(";"))):
        brand, sep, token = (part.strip() for part in entry.partition("="))
        if sep and _BRAND.match(brand) and len(token) >= MIN_KEY_LENGTH and _KEY.match(token):
            out[brand] = token
        elif strict:
            raise ValueError(
                f"RIGHTS_BRAND_ADMIN_TOKENS: entry {len(out) + 1} ({brand or '?'}=...) is not brand=token with a "
                f"brand id and a token of {MIN_KEY_LENGTH} or more printable characters"
            )
    return out


def admin_holder(header: str) -> tuple[bool, str | None]:
    """(whether it is the deployment's admin token, the brand whose admin token it is) of an
    Authorization header; AdminRefused when it is neither. Every configured token is
    compared, in constant time."""
    token = os.environ.get("RIGHTS_ADMIN_TOKEN", "")
    brands = brand_admin_tokens()
    if not token and not brands:
        raise AdminRefused(403, "admin routes are off: start the server with RIGHTS_ADMIN_TOKEN set")
    if not header:
        raise AdminRefused(401, "this route needs Authorization: Bearer <admin token>")
    scheme, _, given = header.partition(" ")
    offered = given.strip().encode()
    deployment = bool(token) and hmac.compare_digest(offered, token.encode())
    owner = None
    for name, each in brands.items():  # all of them, every time
        if hmac.compare_digest(offered, each.encode()):
            owner = name
    if scheme.lower() != "bearer" or not (deployment or owner):
        raise AdminRefused(403, "the admin token is not valid")
    return deployment, owner


def check_admin(request: Request, brand: str | None = None) -> None:
    """Raises AdminRefused unless the request carries the admin bearer token, or, for a
    route acting on one brand's rule tables (`brand`), that brand's admin token
    (RIGHTS_BRAND_ADMIN_TOKENS). Every configured token is compared, in constant time."""
    deployment, owner = admin_holder(request.headers.get("authorization", ""))
    if not deployment and owner != brand:
        where = f"brand {brand}'s rule tables" if brand else "this deployment-wide route"
        raise AdminRefused(403, f"this token administers brand {owner}'s rule tables only, not {where}")
