"""The API's documented shapes (OpenAPI at /docs). The eligibility route does not validate
through these models (it checks its input by hand on the hot path, see api/checkout/request.py);
they are the contract the checks and the responses keep, tested in tests/test_api.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

UNAVAILABLE = (
    "`redis_unavailable`: Redis failed or did not answer within RIGHTS_REDIS_TIMEOUT_MS; or "
    "`overloaded` (with Retry-After): this worker is too busy, Redis is fine. Retry either."
)


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


class JoinOffer(BaseModel):
    tier: str
    name: str
    payable: int = Field(description="what this cart would cost at that tier, in fen")
    saves: int = Field(description="fen saved on this very cart against the price now")
    points: int = Field(description="points this order would earn at that tier")
    text: str


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


class ErrorBody(BaseModel):
    code: str = Field(description="invalid_request, malformed_json, body_too_large, not_found, redis_unavailable, ...")
    field: str | None = Field(None, description="the request field at fault, e.g. lines[3].qty")
    reason: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid_request",
                        "field": "lines[0].qty",
                        "reason": "must be a whole number from 1 to 9999",
                    }
                }
            ]
        }
    )

    error: ErrorBody


class EventRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "event_id": "watch-M00001-gala-1",
                    "member_id": "M00001",
                    "type": "watch",
                    "room": "gala",
                    "seconds": 900,
                }
            ]
        },
    )

    event_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The caller's id for this event: the same id counts once for a member.",
    )
    member_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    type: Literal["watch", "share", "invite_order", "photo_review"]
    room: str | None = Field(None, max_length=64, description="The live room it happened in; `watch` needs one.")
    seconds: int | None = Field(
        None,
        ge=1,
        le=86400,
        strict=True,
        description="`watch` only, and required there: seconds watched in this session.",
    )


class EventResult(BaseModel):
    event_id: str
    member_id: str
    type: str
    points: int = Field(description="Points this event earned (0 when a cap or the minimum watch time held it).")
    balance: int = Field(description="The member's balance after the event.")
    expires: int | None = Field(description="When the points earned lapse (Unix seconds); null: never.")
    note: str | None = Field(
        description="Why fewer points than the rule gives: `cap_per_session`, "
        "`cap_per_day` or `below_min_seconds`; null otherwise."
    )


class FreezeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"reason": "invites under review"}]}
    )

    reason: str = Field("", max_length=200, pattern=r"^[^\n\r]*$", description="Why, for the ledger entry (one line).")


class FreezeResult(BaseModel):
    member_id: str
    frozen: bool


class LedgerEntry(BaseModel):
    id: str = Field(description="The entry's id: entries are ordered by it.")
    delta: int = Field(description="Points added (positive) or taken (negative).")
    reason: str = Field(
        description="`opening`, `import`, `expired`, `event:<type>`, `order`, `refund`, "
        "`debt` (a refund's points the member had spent, now owed), `debt_paid` "
        "(a credit paying what is owed), `redeem:<item>`, `frozen` or `unfrozen`."
    )
    ref: str = Field(description="What caused it: the event id, the import, or the lapsed lot.")
    at: int = Field(description="When it happened (Unix seconds).")
    expires: int | None = Field(description="For a credit, when its points lapse; null: never.")
    balance: int = Field(description="The balance right after this entry.")
    debt: int | None = Field(
        None, description="On `debt` and `debt_paid` entries only: the points owed right after this entry."
    )


class LedgerPage(BaseModel):
    member_id: str
    balance: int
    points_debt: int = Field(
        description="Points owed from refunds (the rules' `points.refund: debt`); the next credits pay them first."
    )
    entries: list[LedgerEntry] = Field(description="Newest first.")
    next: str | None = Field(description="Pass as `before` for the next (older) page; null on the last page.")


class RedemptionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"member_id": "M00001", "redemption_id": "OATMEAL-LOWGI", "room": "gala"}]},
    )

    member_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    redemption_id: str = Field(max_length=64, description="An item of the rule table's `redemptions`.")
    room: str | None = Field(
        None, max_length=64, description="The live room the member is in (for items bound to a room)."
    )


class RedemptionResult(BaseModel):
    redemption_id: str
    member_id: str
    points: int = Field(description="Points taken.")
    cash: int = Field(description="Cash (fen) the member pays on top, at pickup.")
    balance: int = Field(description="The member's balance after.")
    pickup_code: str = Field(description="The signed code the pickup leader scans.")
    leader_id: str | None = Field(description="The member's pickup leader; null: any leader may hand it over.")
    at: int = Field(description="When it was redeemed (Unix seconds).")


class PickupVerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"leader_id": "L001", "code": "P1~M00001~OATMEAL-LOWGI~L001~123456789~AbCdEfGhIjKlMnOpQrSt"}]
        },
    )

    leader_id: str = Field(
        max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", description="The leader scanning the code."
    )
    code: str = Field(min_length=1, max_length=400)


class PickupVerified(BaseModel):
    handed_over: bool
    member_id: str
    redemption_id: str
    leader_id: str


class OrderRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "order_id": "O-20261111-000001",
                    "member_id": "M00001",
                    "room": "gala",
                    "lines": [{"sku": "MILK-1L", "qty": 2}],
                    "fulfillment": "pickup",
                    "rules_version": "dairy-gala@4f1c2a9b3e7d",
                    "location": {"lat": 31.2304, "lon": 121.4737},
                }
            ]
        },
    )

    order_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The shop's order id: an order id settles once for a member.",
    )
    member_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    room: str | None = Field(None, max_length=64)
    lines: list[Line] = Field(min_length=1, max_length=200)
    fulfillment: Literal["delivery", "pickup"] = "delivery"
    rules_version: str = Field(max_length=200, description="The `rules_version` of the quote the member accepted.")
    location: Location | None = Field(
        None, description="Where the member is: finds a pickup leader for a member without one."
    )


class OrderResult(BaseModel):
    order_id: str
    member_id: str
    rules_version: str
    subtotal: int
    discount: int
    payable: int
    points: int = Field(description="Points the order earned.")
    balance: int
    coupons: list[str] = Field(description="The coupons applied (their use is now counted).")
    leader_id: str | None = Field(description="The order's pickup leader.")
    new_neighbour: bool = Field(description="The member was bound to this leader by this order.")
    at: int


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"member_id": "M00001"}]})

    member_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class RefundResult(BaseModel):
    order_id: str
    member_id: str
    points_reversed: int = Field(description="Points taken back.")
    points_not_recovered: int = Field(description="Points the member had spent already, so not taken back.")
    points_owed: int = Field(
        description="Of those, the points this refund made a debt (the rules' "
        "`points.refund: debt`); 0 under `forgive`."
    )
    points_debt: int = Field(
        description="All the points the member owes after this refund: the next credits "
        "pay them first, and redemptions with points wait until they are paid."
    )
    balance: int
    coupons_restored: list[str] = Field(description="Coupons whose use (and total stock) is given back.")
    at: int
