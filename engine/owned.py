"""Coupons a member owns: `issue: granted` coupons, granted by redeeming an item whose
`grants_coupon` names them (docs/RULES.md, "Coupons bought with points").

A granted coupon is a candidate of a quote like any other; it is refused `not_owned`
unless the quote's member holds a valid grant of it (Member.owned_coupons, filled by the
API from the member's grants in Redis). This module holds what both evaluators and the
API share about grants: when a grant lapses, and which redemption grants a coupon.
"""

from __future__ import annotations

from .instants import days_later_day_end
from .model import RuleTable


def grant_expires(granted: int, valid_days: int, utc_offset: int) -> int:
    """When a grant made at `granted` lapses: the local midnight that ends the last of its
    `valid_days` days, the day of the grant being the first (valid_days 1: the end of that
    day). A grant is valid while now < this instant."""
    return days_later_day_end(granted, valid_days - 1, utc_offset)


def granting_redemption(model: RuleTable, coupon_id: str) -> int:
    """The position of the first redemption that grants `coupon_id`, or -1 when none does."""
    for k, item in enumerate(model.redemptions):
        if item.grants_coupon == coupon_id:
            return k
    return -1
