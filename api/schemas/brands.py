"""The `brand` field every brand-scoped request body may carry."""

from __future__ import annotations

from pydantic import Field

BrandField = Field(
    None,
    pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
    description="The brand whose rules, members and stock answer (docs/BRANDS.md); without it, the brand "
    "whose table has the room, else the home brand.",
)
