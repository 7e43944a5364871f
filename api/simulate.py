"""Dry runs: quote carts under a candidate table (not activated) and/or at a chosen
instant, next to the active table, and say what changes per cart. Nothing that live
traffic reads is touched: the candidate is compiled into a table of its own."""

from __future__ import annotations

import orjson

from engine.inputs import QuoteInputError, member_from_mapping

from .checkout.request import RequestInvalid, parse_request, pricing

MAX_CARTS = 1000
MAX_REPLAY = 10_000


def outline(quote) -> dict:
    """What a rule author compares: payable, points, coupons applied."""
    result = quote.to_dict()
    return {
        "payable": result["totals"]["payable"],
        "points": result["points"]["total"],
        "coupons": [c["id"] for c in result["coupons_applied"]],
    }


async def member_for(cart: dict, find_member, field: str, now: int):
    """The member of a simulated cart: an inline snapshot, or found and priced exactly as a
    checkout would (a lapsed membership as a visitor)."""
    if "member" in cart:
        return member_from_mapping(cart.pop("member"), f"{field}.member")
    return pricing(await find_member(parse_request({**cart, "lines": []})), now)[1]


def compare(evaluator, active, candidate, member, req, now: int) -> dict:
    before = outline(evaluator.quote(active, member, req.room, now, req.lines, req.fulfillment))
    after = outline(evaluator.quote(candidate, member, req.room, now, req.lines, req.fulfillment))
    return {
        "active": {"version": active.version, **before},
        "candidate": {"version": candidate.version, **after},
        "change": {
            "payable": after["payable"] - before["payable"],
            "points": after["points"] - before["points"],
            "coupons_added": [c for c in after["coupons"] if c not in before["coupons"]],
            "coupons_removed": [c for c in before["coupons"] if c not in after["coupons"]],
        },
    }


async def simulate(
    evaluator, active, candidate, find_member, carts: list, replay: list, at: int | None, now: int, brand: str = ""
) -> dict:
    """Every cart (and replayed request) under both tables, with totals of the changes; a
    cart naming another `brand` than the one simulated is refused."""
    results = []
    for index, cart in enumerate(carts):
        field = f"carts[{index}]"
        if not isinstance(cart, dict):
            raise RequestInvalid(field, "must be an object like an eligibility request (member may be inline)")
        cart = dict(cart)
        member = await member_for(cart, find_member, field, now if at is None else at)
        try:
            req = parse_request(cart)
        except RequestInvalid as exc:
            raise RequestInvalid(f"{field}.{exc.field}" if exc.field else field, exc.reason) from None
        if brand and req.brand is not None and req.brand != brand:
            raise RequestInvalid(f"{field}.brand", f"this simulation is of brand {brand}: try {req.brand} with ?brand=")
        try:
            results.append(
                {"cart": index, **compare(evaluator, active, candidate, member, req, now if at is None else at)}
            )
        except QuoteInputError as exc:  # the quote's own field (member.tier, say), placed in its cart
            raise QuoteInputError(f"{field}.{exc.field}" if exc.field else field, exc.reason) from None
    for body, seen_at in replay:
        try:
            cart = orjson.loads(body)
            member = await member_for(cart, find_member, "replay", seen_at if at is None else at)
            req = parse_request(cart)
            results.append(
                {
                    "replayed_at": seen_at,
                    **compare(evaluator, active, candidate, member, req, seen_at if at is None else at),
                }
            )
        except (RequestInvalid, QuoteInputError, orjson.JSONDecodeError):
            continue  # a sample the candidate cannot read (an unknown room, say) is skipped
    changed = [
        r
        for r in results
        if r["change"]["payable"]
        or r["change"]["points"]
        or r["change"]["coupons_added"]
        or r["change"]["coupons_removed"]
    ]
    return {
        "active": active.version,
        "candidate": candidate.version,
        "at": at,
        "carts": len(results),
        "changed": len(changed),
        "payable_change": sum(r["change"]["payable"] for r in results),
        "points_change": sum(r["change"]["points"] for r in results),
        "results": results,
    }
