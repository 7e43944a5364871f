"""Every Redis key name of the product, by family, with its hash tag and how long it lives.

The hash tag (the part in braces) picks the Redis Cluster slot: keys that one script or
transaction touches together share a tag, so the layout runs unchanged on a Cluster. A
member's keys share the member id; a leader's `{leader:<id>}`; a stocked item's
`{<pool>:<id>}`; the rule tables `{rules}`. The retention constants named below live with
the code that applies them. docs/API.md#keys-in-redis is this module as a table.

Brands. A deployment serves a home brand and any number of further brands (api/brands.py).
The home brand's keys are the names below; another brand's carry `~<scope>` after the hash
tag, so they live in the same slot as the home brand's (one script may take both) and
never meet them. Members' keys take the member scope (the brand; for a brand in an
alliance, the alliance's first brand: its members are the alliance's); stock takes the
brand. The scope is the request's: api/brands.py sets it where a request names its brand
(or its room implies it), and every key function here reads it, so no call site passes
it along.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import NamedTuple


class Scope(NamedTuple):
    """Whose keys: `brand` for its stock, `members` for its members and their points
    ("": the home brand's); `ledger`: the brand the points ledger records, for a brand in
    an alliance ("": none, outside one)."""

    brand: str = ""
    members: str = ""
    ledger: str = ""


HOME = Scope()
SCOPE: ContextVar[Scope] = ContextVar("rights_key_scope", default=HOME)


def _members() -> str:
    """The member scope's suffix: "" at home."""
    scope = SCOPE.get().members
    return f"~{scope}" if scope else ""


def _brand() -> str:
    """The brand's suffix: "" at home."""
    scope = SCOPE.get().brand
    return f"~{scope}" if scope else ""


# -- members ------------------------------------------------------------------------------


def member_key(member_id: str) -> str:  # {<member>}; kept for good: the member hash (profile, usage, balance)
    return f"m:{{{member_id}}}{_members()}"


def identity_key(channel: str, value: str) -> str:  # {<channel>:<value>}, its own slot; for good
    return f"idn:{{{channel}:{value}}}"


DEMO_MARK = "demo:{rights}:members"  # {rights}; for good: which demo members were loaded
TRACKED_PREFIXES = ("m:", "idn:", "stock:")  # what each worker caches, told of changes by CLIENT TRACKING

# -- points ledger (api/ledger.py) --------------------------------------------------------


def lots_key(member_id: str) -> str:  # {<member>}; a lot goes when spent or lapsed
    return f"lots:{{{member_id}}}{_members()}"


def ledger_key(member_id: str) -> str:  # {<member>}; for good: every change (the first held: api/ledger.py)
    return f"led:{{{member_id}}}{_members()}"


def events_key(member_id: str) -> str:  # {<member>}; an event id for EVENT_REPLAY_DAYS, pruned by the next credit
    return f"ev:{{{member_id}}}{_members()}"


def events_index_key(member_id: str) -> str:  # {<member>}; as events_key: what the credit script prunes by
    return f"ev:{{{member_id}}}:at{_members()}"


def caps_key(member_id: str) -> str:  # {<member>}; CAPS_TTL_SECONDS after its last write
    return f"caps:{{{member_id}}}{_members()}"


# -- the ledger's hash chains (api/ledger_chain.py, lua/chain.lua, `rights ledger verify|anchor`) ---------
# A member's chain lives in its own slot: each led:{<id>} entry carries n and h, and the member hash
# the head (fields chain_n, chain_h). Redemptions and pickup handovers are also linked into one
# brand-wide chain, all of it in {ledger}:

CHAIN_KEY = "chain:{ledger}"  # {ledger}; for good, like the member ledgers: the brand chain's entries
CHAIN_HEAD_KEY = "chain:{ledger}:head"  # {ledger}; for good: the brand chain's last seq and h
CHAIN_SEEN_KEY = "chain:{ledger}:seen"  # {ledger}; for good, one field per entry: what is linked, where
ANCHOR_KEEP = 24 * 30  # anchors kept: a month of hourly ones
ANCHORS_KEY = "anchors:{ledger}"  # {ledger}; the newest ANCHOR_KEEP anchors (a list, newest first)


# -- behaviour events from a stream (api/event_stream.py, `rights consume events`) ------------

EVENT_STREAM = "stream"  # the stream's name when none is given: the key events:{stream}
EVENT_STREAM_MAXLEN = 1_000_000  # producers add with XADD MAXLEN ~ this
EVENT_STREAM_KEEP_DAYS = 7  # consumers trim entries older than this (XTRIM MINID ~), read or not
DEAD_LETTER_MAXLEN = 100_000  # the dead-letter stream keeps about the newest this many (MAXLEN ~)


def event_stream_key(name: str) -> str:  # {<name>}; EVENT_STREAM_MAXLEN entries, EVENT_STREAM_KEEP_DAYS days
    return f"events:{{{name}}}"


def dead_letter_key(name: str) -> str:  # {<name>}; the newest DEAD_LETTER_MAXLEN entries
    return f"events:{{{name}}}:dead"


# -- granted coupons (api/owned_coupons.py, lua/grants.lua) -------------------------------------


def grants_key(member_id: str) -> str:  # {<member>}; a grant until GRANT_RETENTION_DAYS after it lapses
    return f"cg:{{{member_id}}}{_members()}"


# -- tier progression (api/progression.py, lua/tier_progress.lua) ------------------------------


def tier_history_key(member_id: str) -> str:  # {<member>}; the newest HISTORY_KEEP (50) tier changes
    return f"tiers:{{{member_id}}}{_members()}"


def tier_refs_key(member_id: str) -> str:  # {<member>}; a ref as long as its request may be replayed
    """Events and orders counted toward tier progression: ref -> the instant it may be forgotten."""
    return f"tiers:{{{member_id}}}:refs{_members()}"


# -- rate limits (api/access.py, lua/rate.lua) ---------------------------------------------------------


def rate_key(
    member_id: str, kind: str
) -> str:  # {<member>}; RATE_KEY_TTL_SECONDS (60 s) after the last allowed attempt
    return f"rate:{{{member_id}}}:{kind}{_members()}"


# -- orders and redemption attempts (api/reservations.py, api/orders.py, api/redeem.py) ---

ORDER_RECORD, REDEMPTION_RECORD = "ord", "idem"  # the kinds of attempt record, as their keys begin


def record_key(kind: str, member_id: str, name: str) -> str:  # {<member>}; as its kind below
    return f"{kind}:{{{member_id}}}:{name}{_members()}"


ORDER_RETENTION_DAYS = 400  # a settled order's record: its replays and its refund, for 13 months


def order_key(member_id: str, order_id: str) -> str:  # {<member>}; ORDER_RETENTION_DAYS from the first attempt
    return record_key(ORDER_RECORD, member_id, order_id)


def idempotency_key(member_id: str, key: str) -> str:  # {<member>}; IDEMPOTENCY_TTL_SECONDS (48 hours)
    return record_key(REDEMPTION_RECORD, member_id, key)


# -- shared stock and its reservations (api/reservations.py) -------------------------------

REDEMPTIONS, COUPONS = "r", "c"  # the pools of shared stock: redemption items, coupons' totals


def stock_key(pool: str, item_id: str) -> str:  # {<pool>:<item>}; one per stocked id, for good
    return f"stock:{{{pool}:{item_id}}}{_brand()}"


def stock_returned_key(pool: str, item_id: str, member_id: str, order_id: str) -> str:
    """{<pool>:<item>}; ORDER_RETENTION_DAYS: this order's refund gave its unit back (once, however often
    the refund is replayed). `|` is in no id, so no two orders share a key."""
    return f"stock-back:{{{pool}:{item_id}}}{_brand()}:{member_id}|{order_id}"


def stock_period_key(pool: str, item_id: str) -> str:  # {<pool>:<item>}; an item with a release, for good
    return f"stock-period:{{{pool}:{item_id}}}{_brand()}"


def reservations_key(pool: str, item_id: str) -> str:  # {<pool>:<item>}; a reservation settles within a minute
    return f"resv:{{{pool}:{item_id}}}{_brand()}"


def reservations_index_key(pool: str) -> str:  # {<pool>}; items reserved in the last INDEX_DAYS (1)
    return f"resv-index:{{{pool}}}{_brand()}"


# -- draws (api/draws.py; a draw's keys share {draw:<id>}, a winner's award the member's tag) ----------

DRAW_RECORD = "drw"  # the kind of a draw entry's attempt record (IDEMPOTENCY_TTL_SECONDS, 48 hours)
DRAW_RETENTION_DAYS = 400  # a drawn draw's keys and its awards, from the draw


def draw_key(draw_id: str) -> str:  # {draw:<id>}; until DRAW_RETENTION_DAYS after the draw
    """The seed, its commitment, the state (open, closed, drawn), the result once drawn."""
    return f"draw:{{draw:{draw_id}}}{_brand()}"


def draw_entries_key(draw_id: str) -> str:  # {draw:<id>}; as draw_key
    """`<member>#<n>` -> `e <tier> <weight> <at>`, or `r <reservation> <tier> <weight> <wall>` while held."""
    return f"draw:{{draw:{draw_id}}}:entries{_brand()}"


def draw_reservations_key(draw_id: str) -> str:  # {draw:<id>}; an entry's hold settles within a minute
    return f"draw:{{draw:{draw_id}}}:resv{_brand()}"


def draw_award_key(member_id: str, draw_id: str) -> str:  # {<member>}; DRAW_RETENTION_DAYS from the award
    return f"drwa:{{{member_id}}}:{draw_id}{_members()}"


# -- pick lists (api/pickups.py) ----------------------------------------------------------


def pick_list_key(leader_id: str) -> str:  # {leader:<id>}; a code for PICKUP_RETENTION_DAYS, pruned as used
    return f"pick:{{leader:{leader_id}}}"


def pick_issued_key(leader_id: str) -> str:  # {leader:<id>}; as pick_list_key: what the pruning reads
    return f"pick:{{leader:{leader_id}}}:issued"


# -- leaders (api/leaders.py) -------------------------------------------------------------

LEADERS_KEY = "leaders:{leaders}"  # {leaders}; as imported
LEADERS_VERSION_KEY = "leaders:{leaders}:version"  # {leaders}; bumped by every import


def feed_key(leader_id: str) -> str:  # {leader:<id>}; the newest FEED_KEEP (1,000) entries
    return f"feed:{{leader:{leader_id}}}"


def group_key(leader_id: str) -> str:  # {leader:<id>}; a member while bound here: one bound elsewhere (or gone)
    # is dropped by the next ranking that reads it; a ranking reads at most GROUP_CAP (5,000)
    return f"grp:{{leader:{leader_id}}}"


# -- rule tables (api/rules_store.py; a brand's all in one tag: one MULTI/EXEC changes them together) --


class RulesKeys(NamedTuple):
    """One brand's rule-table keys: the home brand's under `{rules}`, brand B's under
    `{rules:B}` (its own slot)."""

    prefix: str
    channel: str  # a pub/sub channel, not a key: a push or an activation
    active: str  # for good: the active version
    history: str  # the newest KEEP_VERSIONS pushes and the live ones
    activations: str  # the newest KEEP_ACTIVATIONS
    scheduled: str  # until activated or cancelled
    workers: str  # a worker's heartbeat for FORGET_WORKER_AFTER (1 hour)
    seq: str  # for good: how many activations there have been
    sample: str  # at most SAMPLE_LENGTH entries and SAMPLE_BUDGET bytes
    sample_bytes: str  # the sample stream's byte count

    def source(self, version: str) -> str:  # as `history` keeps the version
        return f"{self.prefix}src:{version}"

    def meta(self, version: str) -> str:  # as `history` keeps the version
        return f"{self.prefix}meta:{version}"


def rules_keys(brand: str = "") -> RulesKeys:
    """The rule-table keys of `brand` ("": the home brand)."""
    prefix = f"rules:{{rules:{brand}}}:" if brand else "rules:{rules}:"
    names = ("changed", "active", "history", "activations", "scheduled", "workers", "seq", "sample", "sample:bytes")
    return RulesKeys(prefix, *(prefix + name for name in names))


HOME_RULES = rules_keys()
RULES_PREFIX = HOME_RULES.prefix
RULES_CHANNEL = HOME_RULES.channel
RULES_ACTIVE = HOME_RULES.active
RULES_HISTORY = HOME_RULES.history
RULES_ACTIVATIONS = HOME_RULES.activations
RULES_SCHEDULED = HOME_RULES.scheduled
RULES_WORKERS = HOME_RULES.workers
RULES_SEQ = HOME_RULES.seq
RULES_SAMPLE = HOME_RULES.sample
RULES_SAMPLE_BYTES = HOME_RULES.sample_bytes
rules_source_key = HOME_RULES.source
rules_meta_key = HOME_RULES.meta

# -- brands (api/brands.py) -----------------------------------------------------------------

BRANDS_KEY = "brands:{rules}"  # {rules}; for good: brand -> when it was added and by whom (at most MAX_BRANDS)
ALLIANCES_KEY = "alliances:{rules}"  # {rules}; for good: alliance -> its declaration (JSON), at most MAX_ALLIANCES
HOME_BRAND_KEY = "brands:{rules}:home"  # {rules}; for good: the home brand's id, as the first server named it


# -- metrics (api/metrics.py) -------------------------------------------------------------

METRICS_KEY = "metrics:{rights}"  # {rights}; a worker's field for FORGET_METRICS_AFTER (1 hour) after it stops, then
# folded into the field `retired` (one snapshot: the sums of every worker gone)

# -- the big screen (api/dashboard.py) ----------------------------------------------------


def dashboard_key(room: str) -> str:  # {room:<id>}; per room in the rules, for good
    return f"dash:{{room:{room}}}"


def dashboard_active_key(room: str, tier: str, minute: int) -> str:  # {room:<id>}; 10 minutes
    return f"dash:{{room:{room}}}:active:{tier}:{minute}"


DASHBOARD_SESSION_SECONDS = 2 * 86400  # the session keys below: two days past the room's last order or quote
DASHBOARD_MINUTES = 360  # per-minute buckets kept: the last six hours of the session


def dashboard_orders_key(room: str) -> str:  # {room:<id>}; DASHBOARD_SESSION_SECONDS after the last order
    """Each order counted on the screen: `<member>|<order>` -> `<payable> <minute> <leader or ->`
    (`r ` in front once refunded), so a settlement and a refund count once."""
    return f"dash:{{room:{room}}}:orders"


def dashboard_minutes_key(room: str) -> str:  # {room:<id>}; past 2 x DASHBOARD_MINUTES fields, the older trimmed
    """`g:<minute>` GMV in fen of the orders settled that minute (less their refunds), `q:<minute>` quotes."""
    return f"dash:{{room:{room}}}:minutes"


def dashboard_leaders_key(room: str) -> str:  # {room:<id>}; as dashboard_orders_key
    """Sorted set: pickup leader id -> pickup orders settled in the room, less refunded ones."""
    return f"dash:{{room:{room}}}:leaders"


# -- readiness probes (api/redis/readiness.py) --------------------------------------------

READY_KEY = "ready:{rights}"  # {rights}; PROBE_TTL_SECONDS (60 s) past the last probe


def ready_cluster_key(n: int) -> str:  # {rights-<n>}: a tag for each Cluster primary's slots; as READY_KEY
    return f"ready:{{rights-{n}}}"
