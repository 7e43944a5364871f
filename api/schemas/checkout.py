"""POST /v1/eligibility: the request and the quote it answers with."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .brands import BrandField


class Identity(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    channel: Literal["phone", "openid", "unionid", "app"] = Field(description="The channel the id comes from.")
    value: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9+_.:@-]+$",
        description="The id on that channel, e.g. a phone number or a WeChat OpenID.",
    )


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(ge=1, le=9999, strict=True)


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


ELIGIBILITY_REQUEST_EXAMPLE: dict[str, Any] = {
    "identity": {"channel": "openid", "value": "oDEMO0000001"},
    "room": "gala",
    "lines": [{"sku": "MILK-1L", "qty": 2}, {"sku": "POWDER-900", "qty": 1}],
    "fulfillment": "delivery",
}


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [ELIGIBILITY_REQUEST_EXAMPLE]},
    )

    member_id: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The member id; or give `identity`, not both.",
    )
    identity: Identity | None = Field(
        None, description="A channel identity; or give `member_id`. Neither: the shopper is a visitor."
    )
    room: str | None = Field(None, max_length=64, description="The live room the shopper is in.")
    lines: list[Line] = Field(max_length=200, description="The cart, at most 200 lines.")
    fulfillment: Literal["delivery", "pickup"] = "delivery"
    location: Location | None = Field(None, description="Where the shopper is (for the pickup leader).")
    brand: str | None = BrandField

    @model_validator(mode="after")
    def one_way_to_name_the_member(self) -> EligibilityRequest:
        if self.member_id is not None and self.identity is not None:
            raise ValueError("give member_id or identity, not both")
        return self


class Hint(BaseModel):
    code: str
    value: int | str | None
    text: str


class QuoteLine(BaseModel):
    sku: str
    qty: int
    eligible: bool
    reason: str | None
    hint: Hint | None
    unit_price: int | None = Field(description="Fen, after the price layers.")
    price_layer: Literal["base", "tier", "live", "pickup"] | None
    amount: int
    discount: int
    final: int
    coupons: list[dict]


class CouponApplied(BaseModel):
    id: str
    name: str
    kind: str
    amount: int


class CouponNotApplied(BaseModel):
    id: str
    name: str
    kind: str
    reason: str
    hint: Hint | None


class Totals(BaseModel):
    subtotal: int
    discount: int
    payable: int


class PointsEarned(BaseModel):
    total: int
    base: int
    per_yuan: int
    multipliers: list[dict]
    after_multipliers: int
    bonuses: list[dict]
    note: str | None


class RedemptionOption(BaseModel):
    id: str
    name: str
    points: int
    cash: int
    available: bool
    reason: str | None
    hint: Hint | None


class PointsExpiring(BaseModel):
    points: int = Field(description="the points that lapse then")
    at: int = Field(description="when they lapse (Unix seconds)")
    date: str = Field(description="the last day they may be used, in the rule table's timezone (YYYY-MM-DD)")


class MemberInfo(BaseModel):
    id: str | None = Field(description="null for a visitor")
    status: Literal["member", "visitor", "lapsed"] = Field(
        description="lapsed: a paid membership past its expiry, priced as a visitor until renewed"
    )
    tier: str = Field(description="the tier the quote was priced at (visitor for visitors and lapsed members)")
    member_tier: str | None = Field(description="the tier on record (differs from `tier` when lapsed)")
    points: int = Field(description="the points balance")
    frozen: bool
    paid_until: int | None = Field(description="Unix seconds the paid membership runs to, if any")
    points_expiring: PointsExpiring | None = Field(
        None,
        description="only when the member's next points to lapse do so within 30 days: how many "
        "(those lapsing at that instant; with `expire_after_months`, all of that day's), when, and "
        "their last day; left out otherwise",
    )


class JoinOffer(BaseModel):
    tier: str
    name: str
    payable: int = Field(description="what this cart would cost at that tier, in fen")
    saves: int = Field(description="fen saved on this very cart against the price now")
    points: int = Field(description="points this order would earn at that tier")
    text: str


class ProgressHint(BaseModel):
    code: str = Field(description="`reached`, `spend_more`, `growth_more` or `task`")
    value: int = Field(description="fen, growth or days/events left (0 for `reached`)")
    text: str
    task: str | None = Field(None, description="the task's name, for `task`")


class TierProgress(BaseModel):
    tier: str = Field(description="the next tier above the member's that has a `reach`")
    name: str
    hints: list[ProgressHint]


class EligibilityResponse(BaseModel):
    rules_version: str
    at: int = Field(description="the instant the quote was made for (Unix seconds, the server's clock)")
    member: MemberInfo
    tier: str
    room: dict | None
    lines: list[QuoteLine]
    coupons_applied: list[CouponApplied]
    coupons_not_applied: list[CouponNotApplied]
    coupon_search: dict
    totals: Totals
    points: PointsEarned
    redemptions: list[RedemptionOption]
    join_offer: JoinOffer | None = Field(description="for visitors and lapsed members: what joining saves")
    tier_progress: TierProgress | None = Field(
        None,
        description="only under rules with `progression`: the progress toward the next tier, this cart "
        "counted (docs/RULES.md, Tier progression); null when no tier above has a `reach`",
    )
