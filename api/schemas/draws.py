"""Draws in the live room: an entry, and the results document (commitment before the draw,
seed, entries and winners after)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DrawEntryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"member_id": "M00001"}]})

    member_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class DrawEntryResult(BaseModel):
    draw_id: str
    member_id: str
    entry: int = Field(description="The member's entry number in this draw: 1, 2, ...")
    tier: str = Field(description="The member's tier when entering, as the draw weighs it.")
    weight: int = Field(description="The entry's weight: the tier's weight in the draw's rule (1 when not listed).")
    points: int = Field(description="Points the entry cost (0: free).")
    balance: int = Field(description="The member's balance after the entry.")
    at: int = Field(description="When (Unix seconds).")


class DrawPrize(BaseModel):
    id: str
    name: str
    kind: str = Field(description="sku (goods: a pickup code), coupon (a grant) or points.")
    sku: str | None = None
    coupon: str | None = None
    points: int | None = None
    stock: int = Field(description="How many of this prize: the slots it fills, one after the other.")


class DrawEntryListed(BaseModel):
    member_id: str
    entry: int
    tier: str
    weight: int


class DrawWinner(BaseModel):
    slot: int = Field(description="1 for the first prize drawn.")
    prize: str
    member_id: str
    entry: int
    tier: str
    award: str | None = Field(None, description="awarded, withheld (with the reason) or pending.")
    withheld: str | None = Field(None, description="Why a prize was not awarded: member_frozen, grants_full, ...")
    pickup_code: str | None = Field(None, description="Goods only, and only in the admin draw route's answer.")


class DrawResults(BaseModel):
    """Before the draw: the commitment and the counts. After: the seed, the entry list in
    canonical order and the winners, enough for `rights draw verify`."""

    algorithm: str = Field(description="rights-engine-draw-v1: docs/API.md#draws says how to recompute the winners.")
    draw_id: str
    name: str
    room: str
    state: str = Field(description="open (entries taken in the window), closed (drawing), drawn.")
    opens: int
    closes: int
    commitment: str = Field(description="SHA-256 of the seed, hex; public before the first entry.")
    weights: dict[str, int]
    prizes: list[DrawPrize]
    entries_count: int
    max_entries: int | None = None
    drawn_at: int | None = None
    seed: str | None = Field(None, description="The 32-byte seed, hex; only once drawn.")
    entries: list[DrawEntryListed] | None = Field(None, description="Every entry, canonical order; once drawn.")
    winners: list[DrawWinner] | None = None
