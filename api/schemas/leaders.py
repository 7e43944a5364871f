"""A pickup leader's back office: its group's ranking, its pick list, its new neighbours."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

NAME_MASKED = (
    "The member's name as a leader sees it: a Chinese name keeps its first character, and "
    "its last from three characters on (`张*`, `王*明`); any other its first character "
    "(`A*`); no name: `*`."
)


class RankedMember(BaseModel):
    rank: int = Field(ge=1, description="1 for the most points; equal balances are ordered by member id.")
    member_id: str
    name_masked: str = Field(description=NAME_MASKED)
    points: int = Field(ge=0, description="The member's points balance.")
    tier: str = Field(description="The member's tier (`visitor`: none).")


class LeaderRanking(BaseModel):
    leader_id: str
    members: int = Field(ge=0, description="Members ranked: the group bound to this leader, frozen ones left out.")
    complete: bool = Field(
        description="False when the group is larger than a ranking reads (5,000 members): only those read are ranked."
    )
    entries: list[RankedMember] = Field(description="The first `top`, by rank.")


class LeaderRedemption(BaseModel):
    member_id: str
    redemption_id: str = Field(description="The item redeemed.")
    state: Literal["awaiting_pickup", "handed_over", "unconfirmed"] = Field(
        description="`awaiting_pickup`: paid, to hand over; `handed_over`; `unconfirmed`: the "
        "redemption is still being paid (or stopped half way: a scan settles it)."
    )
    redeemed_at: int = Field(description="When it was redeemed (Unix seconds).")
    handed_at: int | None = Field(description="When it was handed over; null: not yet.")


class LeaderRedemptions(BaseModel):
    leader_id: str
    entries: list[LeaderRedemption] = Field(description="Newest first; kept 90 days. Never the pickup codes.")


class Neighbour(BaseModel):
    member_id: str
    name_masked: str = Field(description=NAME_MASKED)
    order_id: str = Field(description="The order that bound the member to this leader.")
    at: int = Field(description="When (Unix seconds).")


class LeaderNeighbours(BaseModel):
    leader_id: str
    entries: list[Neighbour] = Field(description="Newest first: the feed's `new_neighbour` entries.")
