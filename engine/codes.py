"""Reason codes and price layers, as small integers shared by both evaluators.

The compiled evaluator writes these numbers into its result; the public quote turns
them into the names below. Changing a number here changes the compiled module's
meaning too, so the build writes ext/codes.pxd from this module (ext/generate_contract.py).
"""

from __future__ import annotations

OK = 0
UNKNOWN_SKU = 1
TIER_TOO_LOW = 2
MEMBERS_ONLY_ROOM = 3
MEMBER_LIMIT_REACHED = 4
NOT_IN_ROOM = 5
OUTSIDE_WINDOW = 6
THRESHOLD_NOT_MET = 7
NOT_IN_SCOPE = 8
OUT_OF_STOCK = 9
LOST_TO_BETTER_COMBINATION = 10
NO_SAVING = 11
TASK_LOCKED = 12
INSUFFICIENT_POINTS = 13
TIER_NOT_ELIGIBLE = 14  # the member's tier is not among those allowed, and no higher one is
POINTS_DEBT = 15  # the member owes points from a refund: no redemption with points until they are paid
SEGMENT_NOT_ELIGIBLE = 16  # the member's tags are not in the segment the item names (checked after the tier)
NOT_OWNED = 17  # an `issue: granted` coupon the member holds no valid grant of (hint: the redemption granting it)

REASONS = {
    OK: None,
    UNKNOWN_SKU: "unknown_sku",
    TIER_TOO_LOW: "tier_too_low",
    MEMBERS_ONLY_ROOM: "members_only_room",
    MEMBER_LIMIT_REACHED: "member_limit_reached",
    NOT_IN_ROOM: "not_in_room",
    OUTSIDE_WINDOW: "outside_window",
    THRESHOLD_NOT_MET: "threshold_not_met",
    NOT_IN_SCOPE: "not_in_scope",
    OUT_OF_STOCK: "out_of_stock",
    LOST_TO_BETTER_COMBINATION: "lost_to_better_combination",
    NO_SAVING: "no_saving",
    TASK_LOCKED: "task_locked",
    INSUFFICIENT_POINTS: "insufficient_points",
    TIER_NOT_ELIGIBLE: "tier_not_eligible",
    POINTS_DEBT: "points_debt",
    SEGMENT_NOT_ELIGIBLE: "segment_not_eligible",
    NOT_OWNED: "not_owned",
}

LAYER_NONE = 0
LAYER_BASE = 1
LAYER_TIER = 2
LAYER_LIVE = 3
LAYER_PICKUP = 4
LAYERS = {LAYER_NONE: None, LAYER_BASE: "base", LAYER_TIER: "tier", LAYER_LIVE: "live", LAYER_PICKUP: "pickup"}

DELIVERY = 0
PICKUP = 1
FULFILLMENTS = {"delivery": DELIVERY, "pickup": PICKUP}

# Coupon kinds as numbers, in application order (matches model.COUPON_KINDS).
KIND_FIXED_PRICE = 0
KIND_PERCENT_OFF = 1
KIND_AMOUNT_OFF = 2
KIND_THRESHOLD_OFF = 3

# The coupon search stops after this many line steps (one coupon applied to one line
# in one tried combination); nearly every cart is decided exactly long before.
SEARCH_BUDGET = 65536
