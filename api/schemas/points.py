"""Points: events, the ledger, freezing, redemptions and their pickup."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.model import EVENT_KIND_RE, EVENT_KINDS

from .brands import BrandField


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
    type: str = Field(
        max_length=64,
        pattern=EVENT_KIND_RE.replace("\\Z", "$"),  # the Rust regex engine has no \Z
        description="The event kind: one the served rule table's `points.events` names. Every table knows "
        f"{', '.join(EVENT_KINDS)}; a table may name more (such as `check_in`). A kind the table does not know "
        "is refused (422, field `type`) with the kinds it knows.",
    )
    room: str | None = Field(
        None,
        max_length=64,
        description="The live room it happened in; `watch` (any kind with `min_seconds`) needs one.",
    )
    seconds: int | None = Field(
        None,
        ge=1,
        le=86400,
        strict=True,
        description="Required for `watch` and any kind whose rule has `min_seconds`, refused for the others: "
        "seconds watched in this session.",
    )
    brand: str | None = BrandField


class TierChange(BaseModel):
    from_: str = Field(alias="from", description="The tier before (`visitor` for a non-member).")
    to: str = Field(description="The tier after.")
    reason: str = Field(description="`task:<name>`, `spend`, `growth` or `review`.")


class EventResult(BaseModel):
    event_id: str
    member_id: str
    type: str
    points: int = Field(description="Points this event earned (0 when a cap or the minimum watch time held it).")
    balance: int = Field(description="The member's balance after the event.")
    expires: int | None = Field(description="When the points earned lapse (Unix seconds); null: never.")
    note: str | None = Field(
        description="Why fewer points than the rule gives: `cap_per_session`, "
        "`cap_per_day`, `cap_per_week` or `below_min_seconds`; null otherwise."
    )
    tier: TierChange | None = Field(
        None,
        description="Only under rules with `progression`: the tier change this request made "
        "(null when the tier stayed); a replay answers with the same change.",
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


class ExpiringDay(BaseModel):
    date: str = Field(description="The last day the points may be used, in the rule table's timezone (YYYY-MM-DD).")
    at: int = Field(description="When they lapse (Unix seconds): the earliest instant of that day's lots.")
    points: int = Field(description="Points that lapse that day.")


class ExpiringPoints(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": "M00001",
                    "within_days": 30,
                    "total": 300,
                    "by_day": [{"date": "2027-01-31", "at": 1801411200, "points": 300}],
                }
            ]
        }
    )

    member_id: str
    within_days: int = Field(description="The window asked for, in days from now.")
    total: int = Field(description="All the points that lapse within the window.")
    by_day: list[ExpiringDay] = Field(description="By the last day they may be used, soonest first; empty for none.")


class LedgerFinding(BaseModel):
    entry_id: str = Field(description="The stream id of the entry where the chain breaks; empty when none names it.")
    n: int | None = Field(description="That entry's number in the member's chain.")
    what: str = Field(description="What is wrong: `edited: ...`, `deleted: ...`, `reordered: ...`, and the like.")


class LedgerVerification(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": "M00001",
                    "verified": True,
                    "entries": 41,
                    "n": 41,
                    "h": "3f786850e387550fdab836ed7e6dc881de23001b",
                    "finding": None,
                }
            ]
        }
    )

    member_id: str
    verified: bool = Field(description="Whether the member's hash chain checks, to its head.")
    entries: int = Field(description="Entries read.")
    n: int = Field(description="The last entry's number in the chain that checked.")
    h: str = Field(description="That entry's hash (forty `0`: none).")
    finding: LedgerFinding | None = Field(description="The first entry that does not check; null when verified.")


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
    brand: str | None = BrandField


class RedeemedGrant(BaseModel):
    id: str = Field(description="The grant's id among the member's grants.")
    coupon: str = Field(description="The coupon granted.")
    granted: int = Field(description="When (Unix seconds).")
    expires: int = Field(description="When it lapses (Unix seconds): the end of its last local day.")


class RedemptionResult(BaseModel):
    redemption_id: str
    member_id: str
    points: int = Field(description="Points taken.")
    cash: int = Field(description="Cash (fen) the member pays on top, at pickup.")
    balance: int = Field(description="The member's balance after.")
    pickup_code: str | None = Field(
        description="The signed code the pickup leader scans; null for an item that grants a coupon."
    )
    leader_id: str | None = Field(description="The member's pickup leader; null: any leader may hand it over.")
    coupon_grant: RedeemedGrant | None = Field(
        description="For an item with grants_coupon: the grant the member now owns "
        "(GET /v1/members/{id}/coupons); null otherwise."
    )
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
