"""The eligibility request's plain bodies read in C (ext/request_body.pyx)."""

def read(
    body: bytes, channels: frozenset[str]
) -> tuple[str | None, tuple[str, str] | None, str | None, list[tuple[str, int]], str, None, str | None] | None:
    """(member_id, identity, room, lines, fulfillment, location, brand) of a plain body, or None."""
