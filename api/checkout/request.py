"""The eligibility decision behind POST /v1/eligibility: read the request, find the
member, quote, and say what joining would save a visitor.

The request is checked by hand rather than through pydantic: it is the hottest route,
and the checks below are the ones api/schemas.EligibilityRequest documents (a test holds
the two together). Every refusal names the field and the reason. With the compiled
evaluator, a plain body (ext/request_body.pyx) is read in C first, to what `parse_request`
would make of it; any other body, and every refusal, is read here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from engine.inputs import QuoteInputError
from engine.instants import last_day
from engine.model import MAX_LINES, MAX_QTY, Member

from ..brands import BRAND_ID, BRAND_ID_HELP
from ..progression import with_figures
from ..store import CHANNELS, IDENTITY_VALUE, MEMBER_ID, MemberRecord

_FIELDS = {"member_id", "identity", "room", "lines", "fulfillment", "location", "brand"}
MAX_SKU_LENGTH = 64


class RequestInvalid(ValueError):
    def __init__(self, field: str | None, reason: str, code: str = "invalid_request"):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason
        self.code = code


@dataclass(slots=True)
class EligibilityRequest:
    member_id: str | None
    identity: tuple | None  # (channel, value)
    room: str | None
    lines: list  # (sku, qty)
    fulfillment: str
    location: tuple | None  # (lat, lon)
    brand: str | None = None  # None: the room's brand, or the home brand


def parse_request(data) -> EligibilityRequest:
    if type(data) is not dict:
        raise RequestInvalid(None, "the body must be a JSON object")
    for key in data:
        if key not in _FIELDS:
            raise RequestInvalid(key, f"unknown field; expected one of: {', '.join(sorted(_FIELDS))}")
    member_id = data.get("member_id")
    if member_id is not None and (type(member_id) is not str or not MEMBER_ID.match(member_id)):
        raise RequestInvalid("member_id", "must be a member id: letters, digits and _ . : -, at most 64")
    identity = data.get("identity")
    if identity is not None:
        if member_id is not None:
            raise RequestInvalid("identity", "give member_id or identity, not both")
        if type(identity) is not dict or set(identity) != {"channel", "value"}:
            raise RequestInvalid("identity", 'must be {"channel": ..., "value": ...}')
        if identity["channel"] not in CHANNELS:
            raise RequestInvalid("identity.channel", f"must be one of: {', '.join(CHANNELS)}")
        if type(identity["value"]) is not str or not IDENTITY_VALUE.match(identity["value"]):
            raise RequestInvalid("identity.value", "must be 1 to 128 letters, digits or + _ . : @ -")
        identity = (identity["channel"], identity["value"])
    room = data.get("room")
    if room is not None and (type(room) is not str or not 0 < len(room) <= 64):
        raise RequestInvalid("room", "must be a room id (text, at most 64 characters) or null")
    raw_lines = data.get("lines")
    if type(raw_lines) is not list:
        raise RequestInvalid("lines", 'is required: a list of {"sku": ..., "qty": ...}')
    if len(raw_lines) > MAX_LINES:
        raise RequestInvalid("lines", f"at most {MAX_LINES} lines in one cart, not {len(raw_lines)}")
    lines = []
    for index, line in enumerate(raw_lines):
        if type(line) is not dict or len(line) != 2 or "sku" not in line or "qty" not in line:
            raise RequestInvalid(f"lines[{index}]", 'must be {"sku": ..., "qty": ...}')
        sku, qty = line["sku"], line["qty"]
        if type(sku) is not str or not 0 < len(sku) <= MAX_SKU_LENGTH:
            raise RequestInvalid(f"lines[{index}].sku", f"must be text of 1 to {MAX_SKU_LENGTH} characters")
        if type(qty) is not int or not 1 <= qty <= MAX_QTY:
            raise RequestInvalid(f"lines[{index}].qty", f"must be a whole number from 1 to {MAX_QTY}")
        lines.append((sku, qty))
    fulfillment = data.get("fulfillment", "delivery")
    if fulfillment not in ("delivery", "pickup"):
        raise RequestInvalid("fulfillment", "must be delivery or pickup")
    location = data.get("location")
    if location is not None:
        if type(location) is not dict or set(location) != {"lat", "lon"}:
            raise RequestInvalid("location", 'must be {"lat": ..., "lon": ...}')
        lat, lon = location["lat"], location["lon"]
        for name, value, bound in (("lat", lat, 90), ("lon", lon, 180)):
            if type(value) not in (int, float) or not math.isfinite(value) or not -bound <= value <= bound:
                raise RequestInvalid(f"location.{name}", f"must be a number from -{bound} to {bound}")
        location = (float(lat), float(lon))
    brand = data.get("brand")
    if brand is not None and (type(brand) is not str or not BRAND_ID.match(brand)):
        raise RequestInvalid("brand", f"must be {BRAND_ID_HELP}, or null")
    return EligibilityRequest(member_id, identity, room, lines, fulfillment, location, brand)


PlainReader = Callable[[bytes, frozenset], tuple | None]  # ext/request_body.pyx read


def read_request(body: bytes, plain: PlainReader | None) -> EligibilityRequest:
    """The request a body makes: read by `plain` (the compiled reader, `plain_reader`)
    when it is plain, else parsed and checked here. orjson.JSONDecodeError for a body
    that is not JSON, RequestInvalid for one the route refuses."""
    if plain is not None:
        fields = plain(body, _CHANNELS)
        if fields is not None:
            return EligibilityRequest(*fields)
    return parse_request(orjson.loads(body))


_CHANNELS = frozenset(CHANNELS)
_PLAIN_READERS: dict[Any, PlainReader | None] = {}


def plain_reader(evaluator: Any) -> PlainReader | None:
    """The compiled reader of plain bodies when `evaluator` is the compiled one; None with
    the reference, which reads every body in Python."""
    try:
        return _PLAIN_READERS[evaluator]
    except KeyError:
        found: PlainReader | None = None
        if getattr(evaluator, "NAME", None) == "compiled":
            from ext.request_body import read

            found = read
        _PLAIN_READERS[evaluator] = found
        return found


def encoded(req: EligibilityRequest) -> bytes:
    """The request as compact JSON, from what was parsed: what a shadow run replays, and
    no bigger than the parsed cart (padding and unknown bytes of the body are gone)."""
    body: dict = {"lines": [{"sku": sku, "qty": qty} for sku, qty in req.lines], "fulfillment": req.fulfillment}
    if req.member_id is not None:
        body["member_id"] = req.member_id
    if req.identity is not None:
        body["identity"] = {"channel": req.identity[0], "value": req.identity[1]}
    if req.room is not None:
        body["room"] = req.room
    if req.location is not None:
        body["location"] = {"lat": req.location[0], "lon": req.location[1]}
    if req.brand is not None:
        body["brand"] = req.brand
    return orjson.dumps(body)


_VISITOR = Member()


def pricing(record: MemberRecord | None, now: int, model: Any = None) -> tuple:
    """(status, the Member to quote): a lapsed paid membership is priced as a visitor.
    With the served table's `model`, the member carries its tier-progression figures."""
    if record is None:
        return "visitor", _VISITOR
    if record.lapsed(now):
        status, member = "lapsed", record.engine_member(as_visitor=True, now=now)
    else:
        status, member = "member", record.engine_member(now=now)
    if model is not None and model.progression is not None:
        member = with_figures(member, record, model, now)
    return status, member


EXPIRING_NOTICE_DAYS = 30  # a quote shows the member's next points to lapse this many days ahead


def member_info(record: MemberRecord | None, status: str, tier: str, now: int, utc_offset: int) -> dict:
    """The answer's `member` block; `points_expiring` only when the member's next points to
    lapse do so within EXPIRING_NOTICE_DAYS of `now` (read from the member hash: no extra
    round trip), their last day in the table's timezone (`utc_offset`)."""
    if record is None:
        return {
            "id": None,
            "status": "visitor",
            "tier": tier,
            "member_tier": None,
            "points": 0,
            "frozen": False,
            "paid_until": None,
        }
    info: dict[str, object] = {
        "id": record.id,
        "status": status,
        "tier": tier,
        "member_tier": record.tier,
        "points": record.points,
        "frozen": record.frozen,
        "paid_until": record.paid_until or None,
    }
    if record.lapse_points > 0 and now < record.lapse_at <= now + EXPIRING_NOTICE_DAYS * 86400:
        info["points_expiring"] = {
            "points": record.lapse_points,
            "at": record.lapse_at,
            "date": last_day(record.lapse_at, utc_offset),
        }
    return info


def join_offer(evaluator, table, request: EligibilityRequest, now: int, payable_now: int) -> dict | None:
    """What the cheapest tier would cost and earn on this very cart."""
    model = table.model
    if not model.tiers:
        return None
    tier = model.tiers[0]
    try:
        quote = evaluator.quote(table, Member(tier=tier.id), request.room, now, request.lines, request.fulfillment)
    except QuoteInputError:
        return None
    saves = payable_now - quote.payable
    text = (
        (
            f"join as {tier.name}: this cart costs {quote.payable // 100}.{quote.payable % 100:02d} yuan, "
            f"{saves // 100}.{saves % 100:02d} less, and earns {quote.points} points"
        )
        if saves > 0
        else f"join as {tier.name}: this cart earns {quote.points} points"
    )
    return {
        "tier": tier.id,
        "name": tier.name,
        "payable": quote.payable,
        "saves": saves,
        "points": quote.points,
        "text": text,
    }
