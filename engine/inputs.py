"""Checking the inputs of a quote, the same way for both evaluators.

A bad input is the caller's error, never a wrong price: each one raises QuoteInputError
naming the field and the reason, which the API turns into a 422 and the CLI into a
one-line message.
"""
from __future__ import annotations

from typing import Optional, Sequence

from . import codes
from .model import MAX_INSTANT, MAX_LINES, MAX_POINTS, MAX_QTY, VISITOR, Member


class QuoteInputError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_quote_inputs(table, member: Member, room: Optional[str], now: int, lines: Sequence,
                       fulfillment: str) -> tuple:
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
