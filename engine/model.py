"""The validated rule table and the inputs of a quote, as plain immutable records.

Everything here is already checked: the validator builds these objects only from a
table without errors, so the evaluators never re-check what the author wrote.
Money is integer fen; multipliers are integer percent (150 means 1.5x); instants are
integer Unix seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

VISITOR = "visitor"

# Coupon kinds, in the order they apply inside one combination.
COUPON_KINDS = ("fixed_price", "percent_off", "amount_off", "threshold_off")
KIND_ORDER = {kind: order for order, kind in enumerate(COUPON_KINDS)}

# The event kinds every table knows (settled by the ledger, described here); a table's
# `points.events` may name more. `watch` needs a room and seconds watched (min_seconds 600
# unless the rule says otherwise); `invite_order` freezes a member above 10 an hour unless
# the rule says otherwise.
EVENT_KINDS = ("watch", "share", "invite_order", "photo_review")
# An event kind's name: it is written into the ledger's reason (`event:<kind>`) and the
# cap counters' field names (`<kind>:d:<day>`), so it uses no `:`, `.` or space.
EVENT_KIND_RE = r"^[a-z][a-z0-9_]{0,63}\Z"

# Bounds that keep every sum and product of the evaluators inside int64 (the build writes
# them into ext/limits.pxd; the coupon search's packing checks MAX_LINES at compile time).
MAX_PRICE_FEN = 100_000_000  # one million yuan a unit
MAX_QTY = 9_999
MAX_LINES = 200
MAX_MULTIPLIER_PERCENT = 2_000  # 20x
MAX_PER_YUAN = 100
MAX_INSTANT = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_TIERS = 30
MAX_SEGMENT_TAGS = 64  # distinct member tags one table's segments may name: one bit each of a uint64
MAX_POINTS = 1_000_000_000  # the most a balance, a quote's member or one order's points may hold
MAX_ORDER_FEN = 10_000_000_000  # the most one order may charge: 100 million yuan
MAX_SPEND_FEN = 10_000_000_000_000  # the most a member's 12 months' spend (tier progression) may read
MAX_GROWTH = 10_000_000_000_000  # the most growth value a member or a tier's `reach` may hold
MAX_TASK_TARGET = 1_000  # the most days or events one progression task may ask for
REFUND_POLICIES = ("debt", "forgive")  # what a refund does with points already spent
COUPON_ISSUES = ("auto", "granted")  # how a member comes to have a coupon: every eligible member, or a grant
MAX_GRANT_DAYS = 3_660  # the longest a granted coupon may be valid: about ten years


@dataclass(frozen=True)
class Reach:
    """How a tier is reached (tier progression): every task of `tasks` complete, or the paid
    spend of the last 12 months at least `spend` (fen), or growth at least `growth`."""

    tasks: tuple = ()  # task names, defined in the table's progression.tasks
    spend: int | None = None
    growth: int | None = None


@dataclass(frozen=True)
class Tier:
    id: str
    name: str
    points_multiplier: int  # percent
    reach: Reach | None = None  # None: progression never moves a member into this tier


@dataclass(frozen=True)
class Task:
    """A progression task: `streak_days` consecutive local days with a counting event, or
    `count` counting events (within `within_days` days of each other's count, when set)."""

    name: str
    streak_days: int | None
    count: int | None
    within_days: int | None
    orders: bool  # a settled order counts too
    hint: str  # the quote's hint, with {left} for what is left

    @property
    def target(self) -> int:
        return self.streak_days if self.streak_days is not None else (self.count or 0)


@dataclass(frozen=True)
class Progression:
    tasks: Mapping[str, Task]  # in the order written
    growth_per_yuan: int
    review_months: int


class Segment(NamedTuple):
    """Who, by member tags, a product, coupon or redemption is for: a member with at least
    one tag of `any_of` (when it names any), every tag of `all_of` and none of `none_of`."""

    any_of: frozenset
    all_of: frozenset
    none_of: frozenset

    def admits(self, tags: frozenset) -> bool:
        return (
            (not self.any_of or not self.any_of.isdisjoint(tags))
            and self.all_of.issubset(tags)
            and self.none_of.isdisjoint(tags)
        )

    def tags(self) -> frozenset:
        return self.any_of | self.all_of | self.none_of


class Product(NamedTuple):
    """A tuple, not a dataclass: a catalogue holds 100,000 of them and a tuple is built
    three times faster."""

    sku: str
    name: str
    category: str
    price: int
    tier_prices: Mapping[str, int]  # as written: tier id -> fen
    allowed_tiers: frozenset  # tier ids (visitor included) that may see and buy it
    member_limit: int | None
    segment: Segment | None = None  # None: every member tag set may buy it


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    start: int
    end: int
    members_only: bool
    live_prices: Mapping[str, int]
    points_multiplier: int  # percent
    order_bonus: int


@dataclass(frozen=True)
class Coupon:
    id: str
    name: str
    kind: str
    percent_off: int  # percent_off
    max_discount: int | None  # percent_off cap
    amount: int  # amount_off, threshold_off
    threshold: int  # threshold_off
    price: int  # fixed_price
    units: int  # fixed_price: units per order
    scope_all: bool
    scope_skus: frozenset
    scope_categories: frozenset
    tiers: frozenset  # eligible tier ids
    room: str | None
    window_from: int | None
    window_to: int | None
    member_limit: int | None
    stock: int | None
    stack_group: str | None
    exclusive: bool
    priority: int
    segment: Segment | None = None
    issue: str = "auto"  # auto: every eligible member has it; granted: only a member who owns a grant
    valid_days: int | None = None  # granted: a grant holds until the end of the local day valid_days on


@dataclass(frozen=True)
class EventRule:
    kind: str
    points: int
    min_seconds: int | None  # seconds watched that earn the points; None: the event gives no seconds
    cap_per_session: int | None
    cap_per_day: int | None
    session_only: bool = False  # the points lapse when the live session they were earned in ends
    freeze_above_per_hour: int | None = None  # more in one clock hour freezes the member (anti-cheat)
    cap_per_week: int | None = None  # points per ISO week in the table's timezone
    counts_toward: tuple = ()  # progression task names this event counts toward
    growth: int = 0  # growth value (tier progression) the event adds


@dataclass(frozen=True)
class PointsRules:
    per_yuan: int
    birthday_multiplier: int  # percent
    order_bonus: int
    events: Mapping[str, EventRule]
    expire_after_days: int | None = None  # earned points lapse this many days after they arrive
    expire_after_months: int | None = None  # or at the end of the local day this many months after
    refund: str = "debt"  # points a refund cannot take back: owed (debt) or let go (forgive)


@dataclass(frozen=True)
class Redemption:
    id: str
    name: str
    points: int
    cash: int
    tiers: frozenset
    room: str | None
    window_from: int | None
    window_to: int | None
    sessions_watched: int  # task unlock: sessions the member must have watched
    stock: int | None  # with a `release`, its amount: the stock a period starts from
    member_limit: int | None
    segment: Segment | None = None
    low_stock: int | None = None  # alert when the stock left is at or below this
    release: Release | None = None  # stock released on a schedule
    grants_coupon: str | None = None  # redeeming it grants the member this `issue: granted` coupon


RELEASE_PERIODS = {"day": 86_400, "week": 7 * 86_400}


@dataclass(frozen=True)
class Release:
    """An item's stock released every `every_seconds` from `starts` (Unix s): the stock
    becomes `amount`, or what is left plus `amount` with `roll_over`. Period 0 runs until
    the first release after `starts`; an instant before `starts` is in period 0 too."""

    every_seconds: int
    amount: int
    starts: int
    roll_over: bool

    def period(self, now: int) -> int:
        return max(0, (now - self.starts) // self.every_seconds)


@dataclass(frozen=True)
class DrawPrize:
    """A prize of a draw: `stock` of them, each goods (`kind` sku: a pickup code for the
    product `target`), a grant of the coupon `target` (kind coupon) or `points` (kind points)."""

    id: str
    name: str
    kind: str  # one of DRAW_PRIZE_KINDS
    target: str  # the sku or the coupon id; "" for points
    points: int  # kind points: the points credited; 0 otherwise
    stock: int


DRAW_PRIZE_KINDS = ("sku", "coupon", "points")


@dataclass(frozen=True)
class Draw:
    """A lottery in a live room (docs/RULES.md, Draws): members enter while `opens` <= now <
    `closes`, paying `cost` points an entry, at most `entries_per_member` entries each and
    `max_entries` in all; an entry weighs its member's tier's weight (1 when not listed)."""

    id: str
    name: str
    room: str
    opens: int
    closes: int
    cost: int  # points an entry; 0: free
    entries_per_member: int
    max_entries: int
    weights: Mapping[str, int]  # tier id -> weight, as written
    prizes: tuple  # DrawPrize, in the order written: the first winner drawn gets the first

    def weight(self, tier: str) -> int:
        return self.weights.get(tier, 1)

    def prize_slots(self) -> list:
        """One DrawPrize per unit of stock, in the order the winners are drawn for them."""
        return [prize for prize in self.prizes for _ in range(prize.stock)]


@dataclass(frozen=True)
class RuleTable:
    name: str
    utc_offset_seconds: int
    tiers: Sequence[Tier]  # lowest to highest, visitor not included
    products: Sequence[Product]
    rooms: Sequence[Room]
    pickup_discount_percent: int
    coupons: Sequence[Coupon]
    points: PointsRules
    redemptions: Sequence[Redemption]
    progression: Progression | None = None  # None: tiers change only by import
    draws: Sequence[Draw] = ()  # lotteries in the live rooms (api/draws.py), not in the compiled tables

    def tier_rank(self, tier_id: str | None) -> int:
        """0 for visitors, 1 for the lowest tier, and so on."""
        if tier_id is None or tier_id == VISITOR:
            return 0
        for rank, tier in enumerate(self.tiers, start=1):
            if tier.id == tier_id:
                return rank
        raise ValueError(f"unknown tier {tier_id!r}")

    def tier_ids(self) -> list:
        """All tier ids, visitor first, then lowest to highest."""
        return [VISITOR] + [t.id for t in self.tiers]

    def segment_tags(self) -> list:
        """Every tag the table's segments name, sorted: a tag's position is its bit."""
        tags: set = set()
        items: list[Product | Coupon | Redemption] = [*self.products, *self.coupons, *self.redemptions]
        for item in items:
            if item.segment is not None:
                tags |= item.segment.tags()
        return sorted(tags)


class Member(NamedTuple):
    """What a quote needs to know of the shopper. A visitor has tier None.

    A tuple, not a dataclass: the compiled evaluator reads its fields by position
    (ext/evaluator.pyx checks their order when it is imported), a few nanoseconds each
    instead of an attribute lookup's twenty, on every quote. The mappings' default is one
    shared empty dict: nothing ever writes into a Member's mappings."""

    tier: str | None = None
    points: int = 0
    birthday_month: int = 0  # 1..12, 0 unknown
    sessions_watched: int = 0
    points_debt: int = 0  # points owed from a refund (the rules' points.refund: debt)
    tags: frozenset = frozenset()  # the member's tags; those no segment of the table names are ignored
    coupon_uses: Mapping[str, int] = {}  # noqa: RUF012 - never written into
    redemption_uses: Mapping[str, int] = {}  # noqa: RUF012
    sku_bought: Mapping[str, int] = {}  # noqa: RUF012
    owned_coupons: Mapping[str, int] = {}  # noqa: RUF012 - granted coupon id -> valid grants now
    spend_12m: int = 0  # fen paid by settled orders in the last 12 months (tier progression)
    growth: int = 0  # growth value (tier progression)
    tasks: Mapping[str, int] = {}  # noqa: RUF012 - progression task -> days or events so far


@dataclass(frozen=True, slots=True)
class Stock:
    """Shared stock left, by coupon id and redemption id; an id not named is untouched."""

    coupons: Mapping[str, int] = field(default_factory=dict)
    redemptions: Mapping[str, int] = field(default_factory=dict)
