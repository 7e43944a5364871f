"""Orders and refunds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .brands import BrandField
from .checkout import Line, Location
from .points import TierChange


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
    brand: str | None = BrandField


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
    tier: TierChange | None = Field(
        None,
        description="Only under rules with `progression`: the tier change this request made "
        "(null when the tier stayed); a replay answers with the same change.",
    )


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"member_id": "M00001"}]})

    member_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    brand: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description=(
            "The brand the order was settled in (docs/BRANDS.md); without it, the home brand. In an alliance,"
            " naming another brand than the one that settled the order is 422 on `brand`."
        ),
    )


class RefundResult(BaseModel):
    order_id: str
    member_id: str
    points_reversed: int = Field(description="Points taken back.")
    points_not_recovered: int = Field(description="Points the member had spent already, so not taken back.")
    points_lapsed: int = Field(
        description="The order's points that had lapsed unspent: they left the balance when they "
        "lapsed, so they are neither taken back nor owed. The order's points are `points_reversed` "
        "+ `points_not_recovered` + `points_lapsed`."
    )
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
    coupon_grants_restored: list[str] = Field(
        description="The member's coupon grants (GET /v1/members/{id}/coupons) the order used, valid again."
    )
    coupon_grants_expired: list[str] = Field(
        description="Grants the order used that lapsed since: they stay used, nothing is given back."
    )
    at: int
