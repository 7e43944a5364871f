"""Checking the inputs of a quote, the same way for both evaluators.

A bad input is the caller's error, never a wrong price: each one raises QuoteInputError
naming the field and the reason, which the API turns into a 422 and the CLI into a
one-line message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import codes
from .model import (
    MAX_GROWTH,
    MAX_INSTANT,
    MAX_LINES,
    MAX_POINTS,
    MAX_QTY,
    MAX_SPEND_FEN,
    MAX_TASK_TARGET,
    VISITOR,
    Member,
    Stock,
)


class QuoteInputError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_quote_inputs(table, member: Member, room: str | None, now: int, lines: Sequence, fulfillment: str) -> tuple:
    """(tier rank, room index or -1, lines as (sku, qty) tuples, pickup flag)."""
    tier = member.tier
    if tier is None or tier == VISITOR:
        tier_rank = 0
    else:
        tier_rank = table.tier_rank.get(tier, -1)
        if tier_rank < 0:
            raise QuoteInputError("member.tier", f"unknown tier {tier!r}")
    if not 0 <= member.birthday_month <= 12:
        raise QuoteInputError("member.birthday_month", "must be 1 to 12, or 0 when unknown")
    if not 0 <= member.points <= MAX_POINTS:
        raise QuoteInputError("member.points", f"must be from 0 to {MAX_POINTS}")
    if not 0 <= member.sessions_watched <= MAX_POINTS:
        raise QuoteInputError("member.sessions_watched", f"must be from 0 to {MAX_POINTS}")
    if not 0 <= member.points_debt <= MAX_POINTS:
        raise QuoteInputError("member.points_debt", f"must be from 0 to {MAX_POINTS}")
    check_progress_figures(member)
    if type(now) is not int or not 0 <= now <= MAX_INSTANT:
        raise QuoteInputError("now", "must be Unix seconds between 1970 and 9999")
    if room is None:
        room_index = -1
    else:
        room_index = table.room_index.get(room, -1)
        if room_index < 0:
            raise QuoteInputError("room", f"unknown room {room!r}")
    if fulfillment not in codes.FULFILLMENTS:
        raise QuoteInputError("fulfillment", "must be delivery or pickup")
    if len(lines) > MAX_LINES:
        raise QuoteInputError("lines", f"at most {MAX_LINES} lines in one cart")
    checked = []
    for index, line in enumerate(lines):
        sku, qty = line
        if type(sku) is not str:
            raise QuoteInputError(f"lines[{index}].sku", "must be text")
        if type(qty) is not int or not 1 <= qty <= MAX_QTY:
            raise QuoteInputError(f"lines[{index}].qty", f"must be a whole number from 1 to {MAX_QTY}")
        checked.append((sku, qty))
    return tier_rank, room_index, checked, fulfillment == "pickup"


def check_progress_figures(member: Member) -> None:
    """The tier-progression figures of a quote's member (both evaluators call this)."""
    if type(member.spend_12m) is not int or not 0 <= member.spend_12m <= MAX_SPEND_FEN:
        raise QuoteInputError("member.spend_12m", f"must be a whole number of fen from 0 to {MAX_SPEND_FEN}")
    if type(member.growth) is not int or not 0 <= member.growth <= MAX_GROWTH:
        raise QuoteInputError("member.growth", f"must be a whole number from 0 to {MAX_GROWTH}")
    tasks = member.tasks
    if not isinstance(tasks, dict) or not all(
        type(k) is str and type(v) is int and 0 <= v <= MAX_TASK_TARGET for k, v in tasks.items()
    ):
        raise QuoteInputError("member.tasks", f"must map task names to days or events done, 0 to {MAX_TASK_TARGET}")


_MEMBER_INTS = ("points", "birthday_month", "sessions_watched", "points_debt")
_MEMBER_COUNTS = ("coupon_uses", "redemption_uses", "sku_bought", "owned_coupons")


def member_from_mapping(data: Any, field: str = "member") -> Member:
    """A Member from plain data (JSON), every field checked; unknown fields are refused."""
    if data is None:
        return Member()
    if not isinstance(data, dict):
        raise QuoteInputError(field, 'must be an object such as {"tier": "gold", "points": 1850}')
    allowed = ("tier",) + _MEMBER_INTS + ("tags",) + _MEMBER_COUNTS + ("spend_12m", "growth", "tasks")
    for key in data:
        if key not in allowed:
            raise QuoteInputError(f"{field}.{key}", f"unknown field; expected one of: {', '.join(allowed)}")
    tier = data.get("tier")
    if tier is not None and type(tier) is not str:
        raise QuoteInputError(f"{field}.tier", "must be a tier id or null for a visitor")
    # keyword arguments run left to right: the fields are checked in the order of the tuples above
    return Member(
        tier=tier,
        points=_member_int(data, field, "points"),
        birthday_month=_member_int(data, field, "birthday_month"),
        sessions_watched=_member_int(data, field, "sessions_watched"),
        points_debt=_member_int(data, field, "points_debt"),
        tags=_member_tags(data, field),
        coupon_uses=_member_counts(data, field, "coupon_uses"),
        redemption_uses=_member_counts(data, field, "redemption_uses"),
        sku_bought=_member_counts(data, field, "sku_bought"),
        owned_coupons=_member_counts(data, field, "owned_coupons"),
        spend_12m=_member_bounded(data, field, "spend_12m", MAX_SPEND_FEN),
        growth=_member_bounded(data, field, "growth", MAX_GROWTH),
        tasks=_member_tasks(data, field),
    )


def _member_int(data: dict, field: str, key: str) -> int:
    value = data.get(key, 0)
    if type(value) is not int or not 0 <= value <= MAX_POINTS:
        raise QuoteInputError(f"{field}.{key}", f"must be a whole number from 0 to {MAX_POINTS}")
    return value


def _member_bounded(data: dict, field: str, key: str, top: int) -> int:
    value = data.get(key, 0)
    if type(value) is not int or not 0 <= value <= top:
        raise QuoteInputError(f"{field}.{key}", f"must be a whole number from 0 to {top}")
    return value


def _member_tasks(data: dict, field: str) -> dict[str, int]:
    value = data.get("tasks", {})
    if not isinstance(value, dict) or not all(
        type(k) is str and type(v) is int and 0 <= v <= MAX_TASK_TARGET for k, v in value.items()
    ):
        raise QuoteInputError(
            f"{field}.tasks",
            f'must map task names to days or events done (0 to {MAX_TASK_TARGET}), e.g. {{"watch_days": 2}}',
        )
    return value


def _member_tags(data: dict, field: str) -> frozenset:
    value = data.get("tags", [])
    if not isinstance(value, list) or not all(type(t) is str for t in value):
        raise QuoteInputError(f"{field}.tags", 'must be a list of tags such as ["family-0-3"]')
    return frozenset(value)


def _member_counts(data: dict, field: str, key: str) -> dict[str, int]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(
        type(k) is str and type(v) is int and 0 <= v <= MAX_POINTS for k, v in value.items()
    ):
        what = "valid grants" if key == "owned_coupons" else "uses"
        raise QuoteInputError(f"{field}.{key}", f"must map ids to whole numbers of {what}")
    return value


def stock_from_mapping(data: Any, field: str = "stock") -> Stock:
    """Stock left by coupon and redemption id, from plain data."""
    if data is None:
        return Stock()
    if not isinstance(data, dict) or not set(data) <= {"coupons", "redemptions"}:
        raise QuoteInputError(field, "must be an object with coupons and/or redemptions")
    for key in ("coupons", "redemptions"):
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(
            type(k) is str and type(v) is int and v >= 0 for k, v in value.items()
        ):
            raise QuoteInputError(f"{field}.{key}", "must map ids to whole numbers left")
    return Stock(coupons=data.get("coupons", {}), redemptions=data.get("redemptions", {}))
