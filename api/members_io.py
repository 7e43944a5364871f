"""Member files (JSON lines or CSV) into MemberRecords, and the demo members.

A row is refused with its line number and the field at fault; the good rows go on.
Fields: id (required), name, tier, points, birthday_month, sessions_watched, leader,
tags (a list, or comma separated in CSV), paid_until (Unix seconds or ISO 8601),
frozen, phone, openid, unionid, app; JSON rows may also carry coupon_uses,
redemption_uses and sku_bought (id -> count).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from collections.abc import Iterator

import orjson

from engine.instants import parse_instant
from engine.model import MAX_POINTS

from .redis.keys import DEMO_MARK
from .store import CHANNELS, IDENTITY_VALUE, MEMBER_ID, MemberRecord

FIELDS = (
    ("id", "name", "tier", "points", "birthday_month", "sessions_watched", "leader", "tags", "paid_until", "frozen")
    + CHANNELS
    + ("coupon_uses", "redemption_uses", "sku_bought")
)
_KNOWN = frozenset(FIELDS)
_COUNTS = ("coupon_uses", "redemption_uses", "sku_bought")
MAX_TAGS = 100  # a member's tags, each an id
MAX_USAGE_IDS = 1_000  # ids in each of a member's usage maps (coupon_uses, ...)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"-?[0-9]+\Z")  # ASCII digits only: str.isdigit() takes '²', which int() refuses


class RowError(ValueError):
    def __init__(self, field: str | None, reason: str):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def _is_csv(text: str, name: str) -> bool:
    return name.endswith(".csv") or (not text.lstrip().startswith("{") and "," in text.split("\n", 1)[0])


def count_rows(text: str, name: str) -> int:
    """How many rows read_rows will give (a progress bar's total): a JSON-lines file's
    non-blank lines; a CSV file's rows, read once more (a quoted field may hold newlines)."""
    text = text.removeprefix("\ufeff")
    if _is_csv(text, name):
        return sum(1 for _ in read_rows(text, name))
    return sum(1 for line in text.splitlines() if line.strip())


def read_rows(text: str, name: str) -> Iterator[tuple]:
    """(line number, row dict or RowError) for each member row of a .jsonl/.json or .csv file,
    read as they are asked for (an import reads the next rows while Redis writes a batch).
    A byte-order mark before the first row (a spreadsheet's UTF-8 export) is not data."""
    text = text.removeprefix("\ufeff")
    if _is_csv(text, name):
        reader = csv.DictReader(io.StringIO(text))
        try:
            if reader.fieldnames is None:  # the header: without it, no rows
                return
        except csv.Error as exc:
            yield reader.reader.line_num, RowError(None, f"not valid CSV here, the rest not read: {exc}")
            return
        twice = sorted({f for f in reader.fieldnames if f.strip() and reader.fieldnames.count(f) > 1})
        if twice:  # csv would keep the last column silently (blank ones, a spreadsheet's trailing commas, hold nothing)
            yield 1, RowError(twice[0], f"column {twice[0]!r} is named twice in the header; the file is not read")
            return
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field past csv's size limit: where the row ends is unknown, so stop
                yield reader.reader.line_num, RowError(None, f"not valid CSV here, the rest not read: {exc}")
                return
            # csv's key None holds the fields past the header's; empty ones (a trailing comma) lose nothing
            extra = row.get(None)
            if extra and any(field.strip() for field in extra):
                header = len(reader.fieldnames or ())
                yield reader.line_num, RowError(None, f"{header + len(extra)} fields, but the header names {header}")
                continue
            yield reader.line_num, {k: v for k, v in row.items() if k is not None and v not in (None, "")}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, RowError(None, f"not valid JSON: {exc}")
            continue
        yield number, row if isinstance(row, dict) else RowError(None, "a row must be a JSON object")


def record_from_row(row: dict, tiers: set | None = None) -> MemberRecord:
    """Check one row; raise RowError naming the field. (An import reads tens of thousands
    of rows a second: a usual row takes the short ways through.)"""
    if not _KNOWN.issuperset(row):
        raise RowError(next(key for key in row if key not in _KNOWN), "unknown field")
    get = row.get
    member_id = get("id")
    if type(member_id) is not str or not MEMBER_ID.match(member_id):
        raise RowError("id", "is required: letters, digits and _ . : -, at most 64")
    name = get("name", "")
    if type(name) is not str or len(name) > 100 or _CONTROL.search(name):
        name = _text(row, "name", 100)
    tier = get("tier") or None
    if tier is not None and (not isinstance(tier, str) or (tiers is not None and tier not in tiers)):
        raise RowError("tier", f"unknown tier {tier!r}" + (f"; tiers are {', '.join(sorted(tiers))}" if tiers else ""))
    points = get("points", 0)
    if type(points) is not int or not 0 <= points <= MAX_POINTS:
        points = _number(row, "points", 0, MAX_POINTS)
    birthday = get("birthday_month", 0)
    if type(birthday) is not int or not 0 <= birthday <= 12:
        birthday = _number(row, "birthday_month", 0, 12)
    sessions = get("sessions_watched", 0)
    if type(sessions) is not int or not 0 <= sessions <= MAX_POINTS:
        sessions = _number(row, "sessions_watched", 0, MAX_POINTS)
    leader = get("leader", "")
    if leader and (type(leader) is not str or not MEMBER_ID.match(leader)):
        raise RowError("leader", "a leader id: letters, digits and _ . : -, at most 64")
    tags = get("tags")
    if tags is None:
        tags = []
    else:
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            raise RowError("tags", f"must be a list of at most {MAX_TAGS} tags")
        for tag in tags:
            if type(tag) is not str or not MEMBER_ID.match(tag):
                raise RowError("tags", f"{tag!r} is not a tag: letters, digits and _ . : -, at most 64")
    paid_until = get("paid_until")
    paid_until = _instant(paid_until) if paid_until is not None else 0
    frozen = get("frozen", False)
    if frozen is not False and frozen is not True:
        if isinstance(frozen, str):
            if frozen.lower() not in ("0", "1", "true", "false", "yes", "no"):
                raise RowError("frozen", "must be true or false")
            frozen = frozen.lower() in ("1", "true", "yes")
        if not isinstance(frozen, bool):
            raise RowError("frozen", "must be true or false")
    identities = {}
    for channel in CHANNELS:
        value = get(channel)
        if value is not None:
            if type(value) is int:  # a phone number written as a JSON number
                value = str(value)
            if type(value) is not str or not IDENTITY_VALUE.match(value):
                raise RowError(channel, "must be 1 to 128 letters, digits or + _ . : @ -")
            identities[channel] = value
    record = MemberRecord(
        id=member_id,
        name=name,
        tier=tier,
        points=points,
        birthday_month=birthday,
        sessions_watched=sessions,
        leader=leader,
        tags=tags,
        paid_until=paid_until,
        frozen=frozen,
        identities=identities,
    )
    for key in _COUNTS:
        counts = get(key)
        if counts is None:
            continue
        if (
            not isinstance(counts, dict)
            or len(counts) > MAX_USAGE_IDS
            or not all(MEMBER_ID.match(k) and type(v) is int and 0 <= v <= MAX_POINTS for k, v in counts.items())
        ):
            raise RowError(key, f"must map at most {MAX_USAGE_IDS} ids to whole numbers from 0 to {MAX_POINTS}")
        setattr(record, key, dict(counts))
    return record


def _text(row: dict, key: str, limit: int) -> str:
    value = row.get(key, "")
    if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
        raise RowError(key, f"must be text of at most {limit} characters, without control characters")
    return value


def _number(row: dict, key: str, lo: int, hi: int) -> int:
    value = row.get(key, 0)
    if type(value) is int and lo <= value <= hi:
        return value
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        value = int(value)
    if type(value) is not int or not lo <= value <= hi:
        raise RowError(key, f"must be a whole number from {lo} to {hi}")
    return value


def _instant(value) -> int:
    if value in (None, "", 0):
        return 0
    try:
        return parse_instant(value)
    except ValueError:
        raise RowError("paid_until", "must be Unix seconds or an ISO 8601 time") from None


def demo_members(count: int = 10_000, seed: int = 1) -> list:
    """Deterministic members across the demo tiers, each reachable by phone, OpenID and
    UnionID. The first few are fixed, for the README and examples/eligibility-request.json:
    M00001 gold with 1850 points (openid oDEMO0000001), M00002 black-gold, M00003 silver,
    M00004 a gold member whose paid membership lapsed."""
    rng = random.Random(seed)
    out = []
    now = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
    for k in range(1, count + 1):
        tier = rng.choices(["silver", "gold", "black_gold"], weights=(55, 30, 15))[0]
        record = MemberRecord(
            id=f"M{k:05d}",
            name=f"demo member {k}",
            tier=tier,
            points=rng.randint(0, 6000),
            birthday_month=rng.randint(1, 12),
            sessions_watched=rng.randint(0, 6),
            leader=f"L{rng.randint(1, 80):03d}",
            tags=rng.sample(["family_0_3", "fitness", "elderly", "office"], 1),
            paid_until=now + 365 * 86400 if rng.random() < 0.3 else 0,
            identities={"phone": f"1380000{k:04d}", "openid": f"oDEMO{k:07d}", "unionid": f"uDEMO{k:07d}"},
        )
        out.append(record)
    fixed = {1: ("gold", 1850, 0), 2: ("black_gold", 5200, 0), 3: ("silver", 900, 0), 4: ("gold", 3000, now - 86400)}
    for k, (tier, points, paid_until) in fixed.items():
        record = out[k - 1]
        record.tier, record.points, record.paid_until, record.birthday_month = tier, points, paid_until, 3
    return out


DEMO_VERSION = "1:10000"


DEMO_LEADERS = 80  # L001..L080, the leaders the demo members are bound to


def demo_leaders() -> list:
    """Pickup points for the demo members' `leader` (L001..L080): active, spread over
    central Shanghai, so a leader's back office and a pickup work on a demo server."""
    from engine.geo import Leader

    rng = random.Random(2)
    return [
        Leader(
            f"L{k:03d}",
            f"demo leader {k}",
            round(31.15 + rng.random() * 0.15, 6),
            round(121.40 + rng.random() * 0.15, 6),
            True,
        )
        for k in range(1, DEMO_LEADERS + 1)
    ]


def load_demo_leaders(client) -> bool:
    """The demo leaders, written when the Redis holds no leader at all (imported leaders
    are never replaced); True when they were written now."""
    from .leaders import write_leaders
    from .redis.keys import LEADERS_KEY

    if client.hlen(LEADERS_KEY):
        return False
    write_leaders(client, demo_leaders())
    return True


def load_demo_members(client) -> bool:
    """The demo members, loaded once into the Redis of `client` (a marker key records that
    they are there); True when they were loaded now."""
    from .store import write_members

    if (client.get(DEMO_MARK) or b"").decode() == DEMO_VERSION:
        return False
    members = demo_members()
    for start in range(0, len(members), 1000):
        write_members(client, members[start : start + 1000])
    client.set(DEMO_MARK, DEMO_VERSION)
    return True
