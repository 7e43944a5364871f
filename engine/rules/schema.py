"""A JSON Schema (draft 2020-12) of the rule table format, for editors and CI checks.

The validator (build_table in validate.py, with each section's checks in checks/) is the
authority on what a rule table may say; this schema restates it for tools that speak JSON
Schema (editor completion, pre-commit checks), and tests/test_schema.py keeps the two in
step: same field names in every section, same integer bounds, same kinds.

What a JSON Schema cannot say is only described (in the `description` of the field
concerned) and left to the validator: ids used twice, references to unknown tiers, skus,
categories and rooms, a window or room that must end after it starts, a tier or live price
above the base price, a threshold coupon saving more than its threshold, and the exact
calendar check of a time. Two differences are inherent to JSON Schema: it counts 1590.0
as an integer (the validator wants 1590), and it cannot check "at most two decimal places"
of a multiplier written as a bare number (1.005). Times must be quoted in YAML to reach
the schema as text (the validator also reads YAML's unquoted timestamps).
"""

from __future__ import annotations

from typing import Any

from ..model import (
    COUPON_ISSUES,
    COUPON_KINDS,
    EVENT_KIND_RE,
    EVENT_KINDS,
    MAX_GRANT_DAYS,
    MAX_GROWTH,
    MAX_MULTIPLIER_PERCENT,
    MAX_PER_YUAN,
    MAX_POINTS,
    MAX_PRICE_FEN,
    MAX_QTY,
    MAX_SEGMENT_TAGS,
    MAX_SPEND_FEN,
    MAX_TASK_TARGET,
    MAX_TIERS,
    REFUND_POLICIES,
    VISITOR,
)
from .checks.common import (
    ID_RE,
    MAX_ID_LENGTH,
    MAX_MEMBER_LIMIT,
    MAX_NAME_LENGTH,
    MAX_STOCK,
    RELATIVE_TIME_RE,
    UTC_OFFSET_RE,
)
from .checks.draws import (
    DEFAULT_MAX_ENTRIES,
    MAX_DRAW_ENTRIES,
    MAX_DRAW_PRIZES,
    MAX_DRAW_WEIGHT,
    MAX_ENTRIES_PER_MEMBER,
)
from .checks.points import (
    DEFAULT_INVITES_PER_HOUR,
    DEFAULT_WATCH_SECONDS,
    MAX_EXPIRE_DAYS,
    MAX_EXPIRE_MONTHS,
    MAX_INVITES_PER_HOUR,
    MAX_TASKS,
    MAX_WATCH_SECONDS,
)
from .checks.progression import DEFAULT_HINT, MAX_PROGRESSION_TASKS, MAX_REVIEW_MONTHS, MAX_WITHIN_DAYS
from .validate import FORMAT_VERSION

SCHEMA_ID = f"urn:rights-engine:rule-table:format-{FORMAT_VERSION}"

# Bounds the section checks write as literals; tests/test_schema.py checks each against build_table.
MAX_PRIORITY = 1_000_000
MAX_SESSIONS = 100_000
MAX_UNITS = MAX_QTY

# A time as ISO 8601 text: a date, optionally a time (T or space), optionally an offset.
# Without an offset it is read in the table's `timezone`.
TIME_PATTERN = (
    r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?\s*$"
)
# room_start / room_end, optionally shifted: "room_end - 5m", "room_start + 1h30m".
RELATIVE_PATTERN = r"^\s*" + RELATIVE_TIME_RE.pattern.lstrip("^").rstrip("$") + r"\s*$"
# A multiplier written as text: a plain decimal; the validator allows at most two decimal places.
MULTIPLIER_TEXT_PATTERN = r"^\s*\+?(?:[0-9]+(?:\.[0-9]{0,2}0*)?|\.[0-9]{1,2}0*)\s*$"

_KIND_FIELDS = {
    "fixed_price": ("price", "units"),
    "percent_off": ("percent_off", "max_discount"),
    "amount_off": ("amount",),
    "threshold_off": ("threshold", "amount"),
}
_KIND_REQUIRED = {
    "fixed_price": ("price",),
    "percent_off": ("percent_off",),
    "amount_off": ("amount",),
    "threshold_off": ("threshold", "amount"),
}


# -- small builders ---------------------------------------------------------------------


def _described(schema: dict, description: str, default: Any = None) -> dict:
    out = {"description": description, **schema}
    if default is not None:
        out["default"] = default
    return out


def _integer(description: str, lo: int, hi: int, default: int | None = None) -> dict:
    return _described({"type": "integer", "minimum": lo, "maximum": hi}, description, default)


def _fen(description: str, lo: int = 0, default: int | None = None) -> dict:
    return _integer(f"{description} Whole fen: 1990 is 19.90 yuan; write no decimal point.", lo, MAX_PRICE_FEN, default)


def _text(description: str, limit: int = MAX_NAME_LENGTH, default: str | None = None) -> dict:
    return _described({"type": "string", "maxLength": limit}, description, default)


def _name(shown: str, fallback: str) -> dict:
    return _text(f"The name shown {shown}; {fallback} when left out.")


def _flag(description: str, default: bool) -> dict:
    return _described({"type": "boolean"}, description, default)


def _nullable(schema: dict) -> dict:
    """`schema`, or nothing written after the colon (YAML null), which means 'not set'."""
    return {**schema, "type": [schema["type"], "null"]}


def _ident(description: str) -> dict:
    return _described(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_ID_LENGTH, "pattern": ID_RE.pattern},
                {"type": "integer", "minimum": 0},
            ]
        },
        f"{description} Starts with a letter or digit, then letters, digits and _ . : - "
        f"(at most {MAX_ID_LENGTH} characters); a bare number is read as text. Must be unique in its list.",
    )


def _tier_ref() -> dict:
    return {"type": "string", "maxLength": MAX_ID_LENGTH}


def _multiplier(description: str) -> dict:
    hi = MAX_MULTIPLIER_PERCENT // 100
    return _described(
        {
            "anyOf": [
                {"type": "number", "minimum": 0.01, "maximum": hi},
                {"type": "string", "pattern": MULTIPLIER_TEXT_PATTERN},
            ]
        },
        f"{description} A number from 0.01 to {hi} with at most two decimal places (1.5 is 1.5x), "
        f"as a number or as text.",
        1,
    )


def _list(items: dict, description: str, **bounds: int) -> dict:
    return _described({"type": "array", "items": items, **bounds}, description)


def _section(description: str, properties: dict, required: tuple = (), **extra: Any) -> dict:
    """A mapping that accepts exactly `properties`: the validator rejects any other field."""
    out = {"type": "object", "description": description, "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def _ref(name: str, description: str | None = None) -> dict:
    return {"$ref": f"#/$defs/{name}", **({"description": description} if description else {})}


def _time(description: str) -> dict:
    return _described(
        {"type": "string", "pattern": TIME_PATTERN},
        f'{description} An ISO 8601 time such as "2026-11-11T20:00:00+08:00"; without an offset '
        f"it is read in the table's timezone. Quote it in YAML.",
    )


def _tier_set(whom: str, default_text: str) -> dict:
    """The `tiers` / `min_tier` pair that says who may use a product, coupon or redemption."""
    return {
        "tiers": _list(
            _tier_ref(),
            f"The tiers {whom}, by id; `visitor` means non-members. "
            f"Each must be visitor or a tier of the top-level `tiers`. Give this or `min_tier`, not both; "
            f"with neither, {default_text}.",
            minItems=1,
        ),
        "min_tier": _described(
            _tier_ref(),
            f"The lowest tier {whom}; every higher tier is included. "
            f"Must be visitor or a tier of the top-level `tiers`. Give this or `tiers`, not both.",
        ),
    }


def _segments(whom: str) -> dict:
    """The `segments` mapping: who, by member tags, may use a product, coupon or redemption."""

    def tags(description: str) -> dict:
        tag = {"type": "string", "maxLength": MAX_ID_LENGTH, "pattern": ID_RE.pattern}
        return _list(tag, f"{description} Each tag is listed once.", uniqueItems=True)

    segments = _section(
        f"Who, by member tags, {whom}; checked after the tiers: a member is in the segment when they have at "
        f"least one tag of `any_of` (when it names any), every tag of `all_of` and no tag of `none_of`. "
        f"Give at least one non-empty list. A tag in both `all_of` and `none_of`, or an `any_of` all of whose "
        f"tags are in `none_of`, admits nobody and is refused. A table's segments may name at most "
        f"{MAX_SEGMENT_TAGS} distinct tags. With no `segments`, every member may, whatever their tags.",
        {
            "any_of": tags("The member needs at least one of these tags."),
            "all_of": tags("The member needs every one of these tags."),
            "none_of": tags("The member must have none of these tags."),
        },
    )
    # at least one list is non-empty: not every list written (perhaps none) is empty
    segments["not"] = {"properties": {key: {"maxItems": 0} for key in ("any_of", "all_of", "none_of")}}
    return segments


_NOT_BOTH_TIER_FORMS = {"not": {"required": ["tiers", "min_tier"]}}
# visitors have no points account, so a redemption's tier set never names them
_NO_VISITOR_REDEEMS = {
    "properties": {"tiers": {"not": {"contains": {"const": VISITOR}}}, "min_tier": {"not": {"const": VISITOR}}}
}


def _window_bound(description: str) -> dict:
    return _described(
        {
            "anyOf": [
                {"type": "string", "pattern": RELATIVE_PATTERN},
                {"type": "string", "pattern": TIME_PATTERN},
            ]
        },
        f'{description} Either an ISO 8601 time ("2026-11-11T22:30:00+08:00"; quote it in YAML) or a time '
        f"relative to the live room named in `room`: room_start, room_end, or shifted by a duration made of "
        f'd/h/m/s parts, e.g. "room_end - 5m", "room_start + 1h30m".',
    )


def _relative_window_needs_room() -> dict:
    """A window relative to room_start/room_end is only meaningful with `room` set."""
    relative = {"type": "string", "pattern": RELATIVE_PATTERN}
    return {
        "if": {
            "required": ["window"],
            "properties": {
                "window": {
                    "anyOf": [
                        {"type": "object", "required": [end], "properties": {end: relative}} for end in ("from", "to")
                    ]
                }
            },
        },
        "then": {"required": ["room"], "properties": {"room": {"type": "string"}}},
    }


def _room_binding(what: str) -> dict:
    return {
        "room": _nullable(
            _described(
                {"type": "string", "maxLength": MAX_ID_LENGTH},
                f"The id of the live room this {what} belongs to; it is offered only to a "
                f"shopper in that room. Must be a room listed in `rooms`.",
            )
        ),
        "window": _ref(
            "window",
            f"When the {what} may be used, from `from` (included) to `to` (excluded); "
            f"without one, while `room` is live, or always when there is no room.",
        ),
    }


def _kind_rule(kind: str) -> dict:
    """The fields a coupon of `kind` needs, and the other kinds' fields it must not have."""
    foreign = sorted({f for fields in _KIND_FIELDS.values() for f in fields} - set(_KIND_FIELDS[kind]))
    return {
        "if": {"required": ["kind"], "properties": {"kind": {"const": kind}}},
        "then": {"required": list(_KIND_REQUIRED[kind]), "properties": {f: False for f in foreign}},
    }


def _event(kind: str | None) -> dict:
    """An event kind's rule: one of the four every table knows (with its defaults), or, for
    None, a kind the author names."""
    fields = {
        "points": _integer("Points earned each time.", 1, MAX_POINTS),
        "min_seconds": _integer(
            "Seconds of watching a live room that earn the points; the event then names its room and the "
            "seconds watched. Left out, the event gives no seconds"
            + (" (a `watch` rule's default is 600)." if kind != "watch" else "."),
            1,
            MAX_WATCH_SECONDS,
            DEFAULT_WATCH_SECONDS if kind == "watch" else None,
        ),
        "cap_per_session": _integer(
            "At most this many points from this event in one live session; no cap when left out. "
            "Caps count points, not events: once is the event's points.",
            1,
            MAX_POINTS,
        ),
        "cap_per_day": _integer(
            "At most this many points from this event in one day (the table's local day); no cap when left out. "
            "Caps count points, not events.",
            1,
            MAX_POINTS,
        ),
        "cap_per_week": _integer(
            "At most this many points from this event in one ISO week (Monday to Sunday, the table's local "
            "time); no cap when left out. Caps count points, not events.",
            1,
            MAX_POINTS,
        ),
        "session_only": {
            "type": "boolean",
            "default": False,
            "description": "The points lapse when the live session they were earned in ends "
            "(the event must name a live room).",
        },
        "freeze_above_per_hour": _integer(
            "A member credited with more of these events than this in one clock hour is frozen for review "
            "(anti-cheat); no limit when left out"
            + (
                f" (an `invite_order` rule's default is {DEFAULT_INVITES_PER_HOUR})." if kind != "invite_order" else "."
            ),
            1,
            MAX_INVITES_PER_HOUR,
            DEFAULT_INVITES_PER_HOUR if kind == "invite_order" else None,
        ),
        "counts_toward": _list(
            {"type": "string", "maxLength": MAX_ID_LENGTH, "pattern": ID_RE.pattern},
            "Names of the tasks this event counts toward, each listed once. With a `progression` section "
            "each must be one of its tasks; without one the names are kept and nothing counts them.",
            maxItems=MAX_TASKS,
            uniqueItems=True,
        ),
        "growth": _integer("Growth value (tier progression) each credited event adds.", 0, MAX_POINTS, 0),
    }
    what = {
        "watch": "watching a live room",
        "share": "sharing",
        "invite_order": "inviting a new member who orders",
        "photo_review": "a photo review",
    }.get(kind or "", "an event kind the table names")
    return _section(f"Points for {what} (settled by the points ledger, not by a quote).", fields, required=("points",))


# -- the schema -------------------------------------------------------------------------


def rule_table_schema() -> dict:
    """The JSON Schema of a rule table file (YAML or JSON), draft 2020-12."""
    kinds = ", ".join(COUPON_KINDS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "rights-engine rule table",
        "description": "Tier prices, live rooms, coupons, points and redemptions of one brand, read by the "
        "rights engine. Money is whole fen, multipliers are numbers such as 1.5, times are "
        "ISO 8601. See docs/RULES.md.",
        "type": "object",
        "additionalProperties": False,
        "required": ["tiers"],
        "if": {"properties": {"tiers": {"contains": {"type": "object", "required": ["reach"]}}}},
        "then": {
            "required": ["progression"],
            "properties": {"progression": {"type": "object"}},
            "description": "A tier with `reach` needs a `progression` section.",
        },
        "properties": {
            "format": _described(
                {"type": "integer", "const": FORMAT_VERSION, "minimum": FORMAT_VERSION, "maximum": FORMAT_VERSION},
                f"The version of this file format; this engine reads {FORMAT_VERSION}.",
                FORMAT_VERSION,
            ),
            "name": _text("The table's name, used in its version id.", default="rules"),
            "timezone": _described(
                {"type": "string", "pattern": UTC_OFFSET_RE.pattern},
                "The UTC offset, such as +08:00, in which times without an offset are read "
                "and the birthday month is taken.",
                "+08:00",
            ),
            "tiers": _list(
                _ref("tier"),
                "The member tiers, lowest first. Non-members are the implicit tier `visitor`, which is not listed.",
                minItems=1,
                maxItems=MAX_TIERS,
            ),
            "products": _nullable(_list(_ref("product"), "The products a cart may hold.")),
            "rooms": _nullable(_list(_ref("room"), "The live rooms (sessions).")),
            "fulfillment": _ref("fulfillment", "Delivery and self-pickup settings."),
            "coupons": _nullable(
                _list(
                    _ref("coupon"),
                    "The coupons, issued automatically to whoever qualifies; coupons of one kind apply in this order.",
                )
            ),
            "points": _ref("points", "How members earn points (1 point per yuan when left out)."),
            "redemptions": _nullable(_list(_ref("redemption"), "The redemption catalogue shown with the balance.")),
            "progression": {
                "anyOf": [_ref("progression"), {"type": "null"}],
                "description": "Tier progression (docs/RULES.md, Tier progression); none when left out.",
            },
            "draws": _nullable(_list(_ref("draw"), "Lotteries in the live rooms (docs/RULES.md, Draws).")),
        },
        "$defs": {
            "tier": _section(
                "A member tier.",
                {
                    "id": _ident("The tier's id, used in tier lists, `min_tier` and `tier_prices`; not `visitor`."),
                    "name": _name("to members, e.g. 金卡 gold", "the id"),
                    "points_multiplier": _multiplier("Points multiplier of this tier."),
                    "reach": _ref("reach", "How tier progression reaches this tier; never, when left out."),
                },
                required=("id",),
                allOf=[{"properties": {"id": {"not": {"const": VISITOR}}}}],
            ),
            "product": _section(
                "A product (sku).",
                {
                    "sku": _ident("The product's sku."),
                    "name": _name("at checkout", "the sku"),
                    "category": _text(
                        "The category coupons may be scoped to, e.g. milk.", limit=MAX_ID_LENGTH, default=""
                    ),
                    "price": _fen("The base price of one unit."),
                    "tier_prices": _described(
                        {
                            "type": "object",
                            "propertyNames": {"maxLength": MAX_ID_LENGTH, "not": {"const": VISITOR}},
                            "additionalProperties": _fen("The price of one unit for this tier."),
                        },
                        "Price per member tier id (not visitor). A tier without one inherits the nearest lower "
                        "tier's price. Each must be at or below the base price.",
                    ),
                    **_tier_set("that may see and buy it", "everyone may, visitors included"),
                    "segments": _segments("may see and buy it"),
                    "member_limit": _integer(
                        "At most this many units per member, over all their orders; no limit when left out.",
                        1,
                        MAX_MEMBER_LIMIT,
                    ),
                },
                required=("sku", "price"),
                allOf=[_NOT_BOTH_TIER_FORMS],
            ),
            "room": _section(
                "A live room (session).",
                {
                    "id": _ident("The room's id, named by coupons, redemptions and quotes."),
                    "name": _name("to shoppers", "the id"),
                    "start": _time("When the room goes live."),
                    "end": _time("When the room ends; after `start`. Live means start <= now < end."),
                    "members_only": _flag("Only members may buy in this room; visitors are refused.", False),
                    "live_prices": _described(
                        {
                            "type": "object",
                            "propertyNames": {"maxLength": MAX_ID_LENGTH},
                            "additionalProperties": _fen("The price of one unit while the room is live."),
                        },
                        "Price per sku while the room is live; each sku must be a listed product and each price at "
                        "or below its base price. It applies only when lower than the member's tier price.",
                    ),
                    "points_multiplier": _multiplier("Points multiplier of an order placed while the room is live."),
                    "order_bonus": _integer(
                        "Points added to an order placed while the room is live.", 0, MAX_POINTS, 0
                    ),
                },
                required=("id", "start", "end"),
            ),
            "fulfillment": _section(
                "How orders are handed over.",
                {
                    "pickup_discount_percent": _integer(
                        "Percent off each unit's price when the member picks the "
                        "order up at the group leader's pickup point.",
                        0,
                        100,
                        0,
                    ),
                },
            ),
            "coupon": _section(
                f"A coupon. Its `kind` ({kinds}) decides which amount fields it takes.",
                {
                    "id": _ident("The coupon's id."),
                    "name": _name("at checkout", "the id"),
                    "kind": _described(
                        {"enum": list(COUPON_KINDS)},
                        "fixed_price: some units cost a set price; percent_off: a percentage off; "
                        "amount_off: a fixed amount off; threshold_off: an amount off once the "
                        "items in scope reach a threshold.",
                    ),
                    "percent_off": _integer(
                        "percent_off only: percent taken off each line in scope, e.g. 15 for 15% off (85折).", 1, 100
                    ),
                    "max_discount": _fen(
                        "percent_off only: the most the coupon may save in one order; no cap when left out.", lo=1
                    ),
                    "amount": _fen(
                        "amount_off and threshold_off: the amount saved; for threshold_off at most the threshold.", lo=1
                    ),
                    "threshold": _fen("threshold_off only: the amount the items in scope must reach.", lo=1),
                    "price": _fen("fixed_price only: the price each covered unit costs (0 for a free unit)."),
                    "units": _integer("fixed_price only: how many units in one order get the price.", 1, MAX_UNITS, 1),
                    "scope": _described(
                        {"anyOf": [{"const": "all"}, _ref("scope")]},
                        'What the coupon applies to: "all" or a list of skus and/or categories.',
                        "all",
                    ),
                    **_tier_set("that receive it", "every tier receives it, visitors included"),
                    "segments": _segments("receives it"),
                    **_room_binding("coupon"),
                    "member_limit": _integer(
                        "At most this many uses per member, over all their orders; no limit when left out.",
                        1,
                        MAX_MEMBER_LIMIT,
                    ),
                    "stock": _integer("How many uses there are in all; no limit when left out.", 0, MAX_STOCK),
                    "stack_group": _nullable(
                        _described(
                            {"type": "string", "minLength": 1},
                            "Coupons of one stack group never combine: an order uses at "
                            "most one of them. Without one the coupon combines with "
                            "all others.",
                        )
                    ),
                    "exclusive": _flag("The coupon is only ever used alone.", False),
                    "issue": _described(
                        {"enum": list(COUPON_ISSUES)},
                        "auto: every member who qualifies has it at checkout; granted: only a member who owns a "
                        "valid grant of it (bought through a redemption's grants_coupon) has it.",
                        "auto",
                    ),
                    "valid_days": _integer(
                        "issue: granted only, and required there: the days a grant holds, the day it is made being "
                        "the first; it lapses at the midnight (table's timezone) that ends the last.",
                        1,
                        MAX_GRANT_DAYS,
                    ),
                    "priority": _integer(
                        "Breaks ties between equally good choices: higher wins, then the smaller id.",
                        -MAX_PRIORITY,
                        MAX_PRIORITY,
                        0,
                    ),
                },
                required=("id", "kind"),
                allOf=[
                    _NOT_BOTH_TIER_FORMS,
                    _relative_window_needs_room(),
                    {
                        "description": "valid_days with issue: granted only, and required there.",
                        "if": {"required": ["issue"], "properties": {"issue": {"const": "granted"}}},
                        "then": {"required": ["valid_days"]},
                        "else": {"not": {"required": ["valid_days"]}},
                    },
                ]
                + [_kind_rule(k) for k in COUPON_KINDS],
            ),
            "scope": _section(
                "The skus and categories a coupon applies to; at least one list must name something.",
                {
                    "skus": _list({"type": ["string", "integer"]}, "Skus of listed products."),
                    "categories": _list({"type": ["string", "integer"]}, "Categories that some listed product has."),
                },
                minProperties=1,
                allOf=[
                    {
                        "anyOf": [
                            {"required": ["skus"], "properties": {"skus": {"minItems": 1}}},
                            {"required": ["categories"], "properties": {"categories": {"minItems": 1}}},
                        ]
                    }
                ],
            ),
            "window": _section(
                "When the coupon or redemption may be used: from `from` (included) until `to` "
                "(excluded). A missing end is open. Without a window, one bound to a room holds "
                "while the room is live, and one without a room always holds.",
                {
                    "from": _window_bound("The first instant it may be used."),
                    "to": _window_bound("The instant it stops; after `from`."),
                },
            ),
            "points": _section(
                "How members earn points; visitors earn none.",
                {
                    "per_yuan": _integer(
                        "Points per yuan paid, before multipliers (rounded down).", 0, MAX_PER_YUAN, 1
                    ),
                    "birthday_multiplier": _multiplier("Points multiplier in the member's birthday month."),
                    "order_bonus": _integer("Points added to every order, in a room or not.", 0, MAX_POINTS, 0),
                    "events": _section(
                        "Points for behaviour, by event kind. Every table knows watch, share, invite_order and "
                        "photo_review; a table may name more kinds (a lower-case letter, then lower-case letters, "
                        "digits and _).",
                        {kind: _event(kind) for kind in EVENT_KINDS},
                        additionalProperties=_event(None),
                        propertyNames={"pattern": EVENT_KIND_RE, "maxLength": 64},
                    ),
                    "expire_after_days": _integer(
                        "Earned points (orders' and events') lapse this many days after they arrive; "
                        "they never lapse when left out (nor expire_after_months given).",
                        1,
                        MAX_EXPIRE_DAYS,
                    ),
                    "expire_after_months": _integer(
                        "Earned points (orders' and events') lapse at the end of the table's local day "
                        "this many calendar months after the day they arrive (a day the month lacks: "
                        "its last day). Not together with expire_after_days.",
                        1,
                        MAX_EXPIRE_MONTHS,
                    ),
                    "refund": _described(
                        {"enum": list(REFUND_POLICIES)},
                        "What a refund does with an order's points the member has spent already: "
                        "debt: they are owed, later credits pay them first and redemptions wait "
                        "until they are paid; forgive: they are let go.",
                        "debt",
                    ),
                },
                allOf=[{"not": {"required": ["expire_after_days", "expire_after_months"]}}],
            ),
            "redemption": _section(
                "An item members may redeem with points, points and cash, or a task.",
                {
                    "id": _ident("The redemption's id."),
                    "name": _name("in the catalogue", "the id"),
                    "points": _integer("Points it costs (0 for none).", 0, MAX_POINTS),
                    "cash": _fen("Cash paid on top of the points.", default=0),
                    **_tier_set("that may redeem it", "every member tier may, visitors not"),
                    "segments": _segments("may redeem it"),
                    **_room_binding("redemption"),
                    "unlock": _section(
                        "A task that unlocks the item.",
                        {
                            "sessions_watched": _integer(
                                "Live sessions the member must have watched.", 1, MAX_SESSIONS
                            ),
                        },
                        required=("sessions_watched",),
                    ),
                    "stock": _integer("How many there are in all; no limit when left out.", 0, MAX_STOCK),
                    "member_limit": _integer(
                        "At most this many per member; no limit when left out.", 1, MAX_MEMBER_LIMIT
                    ),
                    "low_stock": _integer(
                        "Alert (GET /v1/stock/alerts, the dashboard, rights_stock_low) when the stock left is "
                        "at or below this many; below `stock` (or the release's amount), so it needs one.",
                        0,
                        MAX_STOCK - 1,
                    ),
                    "grants_coupon": _described(
                        {"type": "string", "minLength": 1},
                        "Redeeming it grants the member this coupon (an issue: granted coupon of the table) instead "
                        "of goods to pick up.",
                    ),
                    "release": _section(
                        "Stock released on a schedule: at the start of every period the stock becomes "
                        "`amount`, or what is left plus `amount` with `roll_over`. Not with `stock`.",
                        {
                            "every": _described({"enum": ["day", "week"]}, "How long a period is."),
                            "amount": _integer("The units each period releases.", 1, MAX_STOCK),
                            "starts": _time("When the first period starts; a new one every `every` after it."),
                            "roll_over": _flag("Whether what is left at a period's end is kept on top.", False),
                        },
                        required=("every", "amount", "starts"),
                    ),
                },
                required=("id", "points"),
                allOf=[
                    {"not": {"required": ["stock", "release"]}},
                    {
                        "description": "low_stock needs a stock or a release.",
                        "if": {"required": ["low_stock"]},
                        "then": {"anyOf": [{"required": ["stock"]}, {"required": ["release"]}]},
                    },
                    _NOT_BOTH_TIER_FORMS,
                    _relative_window_needs_room(),
                    _NO_VISITOR_REDEEMS,
                    {
                        "description": "A redemption must cost points or cash, or be unlocked by a task.",
                        "not": {
                            "required": ["points"],
                            "properties": {"points": {"const": 0}, "cash": {"const": 0}},
                            "not": {"required": ["unlock"]},
                        },
                    },
                ],
            ),
            **_progression_defs(),
            **_draw_defs(),
        },
    }


def _draw_defs() -> dict:
    """The `draws` section and a draw's prizes (checks/draws.py)."""
    bound = {"type": "string", "anyOf": [{"pattern": RELATIVE_PATTERN}, {"pattern": TIME_PATTERN}]}
    return {
        "draw": _section(
            "A lottery in a live room: members enter in its window, winners are drawn from a committed seed.",
            {
                "id": _ident("The draw's id."),
                "name": _name("to members", "the id"),
                "room": _described(
                    {"type": "string", "maxLength": MAX_ID_LENGTH}, "The live room it runs in; a room of `rooms`."
                ),
                "window": _section(
                    "When entries are taken: from `from` (included) until `to` (excluded); both ends, absolute "
                    "or relative to the room (room_start, room_end - 30m). The room's live time when left out.",
                    {
                        "from": _described(bound, "The first instant an entry is taken."),
                        "to": _described(bound, "The instant entries stop; after `from`. Drawing comes after."),
                    },
                    required=("from", "to"),
                ),
                "cost": _integer("Points an entry costs; 0 for a free entry.", 0, MAX_POINTS, 0),
                "entries_per_member": _integer("Entries one member may make.", 1, MAX_ENTRIES_PER_MEMBER, 1),
                "max_entries": _integer(
                    "Entries in all; the draw refuses more (it bounds the results document).",
                    1,
                    MAX_DRAW_ENTRIES,
                    DEFAULT_MAX_ENTRIES,
                ),
                "weights": _described(
                    {
                        "type": "object",
                        "propertyNames": {"maxLength": MAX_ID_LENGTH, "not": {"const": VISITOR}},
                        "additionalProperties": {"type": "integer", "minimum": 1, "maximum": MAX_DRAW_WEIGHT},
                    },
                    "An entry's weight by its member's tier (a tier of `tiers`); a tier not listed weighs 1.",
                ),
                "prizes": _list(
                    _ref("draw_prize"),
                    f"The prizes, drawn in the order written; at most {MAX_DRAW_PRIZES} in all (the stocks' sum).",
                    minItems=1,
                ),
            },
            required=("id", "room", "prizes"),
        ),
        "draw_prize": _section(
            "A prize: exactly one of `sku` (goods, a pickup code), `coupon` (a grant) and `points`.",
            {
                "id": _ident("The prize's id, unique in its draw."),
                "name": _name("to members", "the id"),
                "sku": _described({"type": "string", "maxLength": MAX_ID_LENGTH}, "Goods: a sku of `products`."),
                "coupon": _described(
                    {"type": "string", "maxLength": MAX_ID_LENGTH}, "A coupon of `coupons` with issue: granted."
                ),
                "points": _integer("Points credited through the ledger.", 1, MAX_POINTS),
                "stock": _integer("How many of this prize.", 1, MAX_DRAW_PRIZES, 1),
            },
            required=("id",),
            oneOf=[{"required": ["sku"]}, {"required": ["coupon"]}, {"required": ["points"]}],
        ),
    }


def _progression_defs() -> dict:
    """The `progression` section, its tasks and a tier's `reach` (checks/progression.py)."""
    task_name = {"type": "string", "maxLength": MAX_ID_LENGTH, "pattern": ID_RE.pattern}
    return {
        "progression": _section(
            "Tier progression: the tasks a tier's `reach` names, growth per yuan and the downgrade review.",
            {
                "tasks": _described(
                    {
                        "type": "object",
                        "propertyNames": task_name,
                        "additionalProperties": _ref("task"),
                        "maxProperties": MAX_PROGRESSION_TASKS,
                    },
                    "The tasks, by name; an event rule's `counts_toward` names them.",
                ),
                "growth_per_yuan": _integer(
                    "Growth value per whole yuan paid by a settled order; event rules may add `growth`.",
                    0,
                    MAX_PER_YUAN,
                    0,
                ),
                "review_months": _integer(
                    "The downgrade review comes this many calendar months after the member's last tier change "
                    "(at the end of that local day).",
                    1,
                    MAX_REVIEW_MONTHS,
                    12,
                ),
            },
        ),
        "task": _section(
            "A progression task: streak_days (consecutive local days, each with a counting event) or count "
            "(counting events, within_days of now when given), one of them.",
            {
                "streak_days": _integer(
                    "Consecutive local days, each with at least one counting event.", 1, MAX_TASK_TARGET
                ),
                "count": _integer("Counting events.", 1, MAX_TASK_TARGET),
                "within_days": _integer(
                    "With count: only events of the last this many days count; all when left out.", 1, MAX_WITHIN_DAYS
                ),
                "orders": _flag("A settled order counts toward the task too.", False),
                "hint": _text(
                    "The quote's hint while the task is not done; {left} is replaced by what is left, {task} by "
                    "the name.",
                    default=DEFAULT_HINT,
                ),
            },
            oneOf=[{"required": ["streak_days"]}, {"required": ["count"]}],
            dependentSchemas={"within_days": {"required": ["count"]}},
        ),
        "reach": _section(
            "How tier progression reaches this tier: every listed task done, or the spend, or the growth "
            "(any criterion given). Needs a `progression` section.",
            {
                "tasks": _list(
                    task_name, "Tasks that together reach the tier (each defined in progression.tasks).", minItems=1
                ),
                "spend": _fen("Paid spend of this calendar month and the 11 before it that reaches the tier.", 1)
                | {"maximum": MAX_SPEND_FEN},
                "growth": _integer("Growth value that reaches the tier.", 1, MAX_GROWTH),
            },
            minProperties=1,
        ),
    }
