"""A member's granted coupons (GET /v1/members/{id}/coupons)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CouponGrant(BaseModel):
    id: str = Field(description="The grant's id, e.g. g1 (the member's grants are numbered from 1).")
    coupon: str = Field(description="The granted coupon's id in the rule table.")
    granted: int = Field(description="When it was granted (Unix seconds).")
    expires: int = Field(
        description="When it lapses (Unix seconds): the midnight, in the rule table's timezone, that ends the last "
        "of the coupon's valid_days."
    )
    state: Literal["valid", "used", "expired"] = Field(
        description="valid: an order may use it now; used: an order used it (a refund gives it back while it "
        "holds); expired: it lapsed unused."
    )
    order_id: str | None = Field(description="The order that used it; null unless used.")
    used_at: int | None = Field(description="When that order was settled (Unix seconds); null unless used.")


class CouponGrants(BaseModel):
    member_id: str
    grants: list[CouponGrant] = Field(description="Oldest first; at most 200, kept 90 days after they lapse.")
