"""Alliances: brands of one deployment that share their members and one points pool, and
the clearing between them.

An alliance is declared by the deployment's admin (`PUT /v1/alliances/{name}`, `rights
alliance set FILE`) and kept in `alliances:{rules}`. Its brands share one member base,
the members of its owner (the home brand when it is one of them, else the first brand
named), so a member's balance earned in one brand's room is spent in another's.

Every points lot an alliance brand credits records the brand that issued it, and every
take records what it took from each issuer (lua/lots.lua; the ledger entry's `brand` and
`from`). Points from lots that name no issuer (imported, or earned before the alliance)
count as the owner brand's. Clearing reads the members' ledgers: points issued by X and redeemed at Y are a
flow from X to Y, valued at X's value per point; X owes Y that. Each flow is counted once,
as owed by one brand and owed to another, so the nets balance to zero by construction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .ledger import HELD_NAMES, held_entry, with_held
from .redis.keys import ALLIANCES_KEY, Scope, ledger_key, member_key

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}\Z")
MAX_ALLIANCES = 32
MAX_POINTS_PER_VALUE = 1_000_000  # a value is "fen per N points": N at most this
SPENDING = ("redeem:", "draw:")  # the reasons of a take that spends points at a brand: a flow


class AllianceInvalid(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Value:
    """What points are worth in clearing: `fen` per `points` points (exact, no float)."""

    fen: int
    points: int

    def of(self, points: int) -> int:
        """Fen for `points` points, rounded half up."""
        return (2 * points * self.fen + self.points) // (2 * self.points)


@dataclass(frozen=True)
class Alliance:
    name: str
    brands: tuple  # the owner's members are the alliance's: see owner()
    point_value: Value
    values: dict = field(default_factory=dict)  # brand -> Value of the points it issues, when not point_value
    redeem: frozenset = frozenset()  # the brands whose catalogues take the pool's points

    def owner(self, home: str) -> str:
        return home if home in self.brands else self.brands[0]

    def value_of(self, issuer: str) -> Value:
        return self.values.get(issuer, self.point_value)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "brands": list(self.brands),
            "point_value": {"fen": self.point_value.fen, "points": self.point_value.points},
            "values": {b: {"fen": v.fen, "points": v.points} for b, v in sorted(self.values.items())},
            "redeem": sorted(self.redeem),
        }


def _value(raw: Any, where: str) -> Value:
    if not isinstance(raw, dict) or set(raw) != {"fen", "points"}:
        raise AllianceInvalid(where, 'must be {"fen": F, "points": N}: F fen for N points')
    fen, points = raw["fen"], raw["points"]
    if type(fen) is not int or not 0 <= fen <= 1_000_000:
        raise AllianceInvalid(f"{where}.fen", "a whole number of fen from 0 to 1,000,000")
    if type(points) is not int or not 1 <= points <= MAX_POINTS_PER_VALUE:
        raise AllianceInvalid(f"{where}.points", f"a whole number of points from 1 to {MAX_POINTS_PER_VALUE:,}")
    return Value(fen, points)


def parse(raw: Any, name: str) -> Alliance:
    """An alliance from its declaration (a JSON object), checked; AllianceInvalid names the
    field and the reason."""
    from .brands import BRAND_ID, BRAND_ID_HELP

    if not NAME.match(name):
        raise AllianceInvalid("name", "1 to 32 lower-case letters, digits or -, starting with a letter or digit")
    if not isinstance(raw, dict):
        raise AllianceInvalid("body", "an object with brands, point_value, and optionally values and redeem")
    if "name" in raw and raw["name"] != name:
        raise AllianceInvalid("name", f"the body names {raw['name']!r}, the path {name!r}")
    unknown = set(raw) - {"name", "brands", "point_value", "values", "redeem"}
    if unknown:
        raise AllianceInvalid(sorted(unknown)[0], "unknown field; expected brands, point_value, values, redeem")
    brands = raw.get("brands")
    if not isinstance(brands, list) or not 2 <= len(brands) <= 64:
        raise AllianceInvalid("brands", "a list of 2 to 64 brand ids")
    for index, brand in enumerate(brands):
        if not isinstance(brand, str) or not BRAND_ID.match(brand):
            raise AllianceInvalid(f"brands[{index}]", f"must be {BRAND_ID_HELP}")
    if len(set(brands)) != len(brands):
        raise AllianceInvalid("brands", "a brand is named twice")
    if "point_value" not in raw:
        raise AllianceInvalid("point_value", 'is required: {"fen": F, "points": N}, what N points are worth')
    point_value = _value(raw["point_value"], "point_value")
    values_raw = raw.get("values", {})
    if not isinstance(values_raw, dict):
        raise AllianceInvalid("values", 'brand -> {"fen": F, "points": N}')
    values = {}
    for brand, each in values_raw.items():
        if brand not in brands:
            raise AllianceInvalid(f"values.{brand}", "not a brand of this alliance")
        values[brand] = _value(each, f"values.{brand}")
    redeem = raw.get("redeem", brands)
    if not isinstance(redeem, list) or any(b not in brands for b in redeem):
        raise AllianceInvalid("redeem", "a list of this alliance's brands")
    return Alliance(name, tuple(brands), point_value, values, frozenset(redeem))


async def stored(redis) -> dict[str, Alliance]:
    """Every alliance declared on this deployment, by name."""
    out = {}
    for name, raw in (await redis.hgetall(ALLIANCES_KEY)).items():
        text = name.decode() if isinstance(name, bytes) else name
        out[text] = parse(orjson.loads(raw), text)
    return out


def stored_sync(client) -> dict[str, Alliance]:
    out = {}
    for name, raw in client.hgetall(ALLIANCES_KEY).items():
        text = name.decode() if isinstance(name, bytes) else name
        out[text] = parse(orjson.loads(raw), text)
    return out


def overlap(alliance: Alliance, others: dict[str, Alliance]) -> str | None:
    """A brand of `alliance` that another alliance already has (a brand is in one at most)."""
    for other in others.values():
        if other.name == alliance.name:
            continue
        shared = sorted(set(alliance.brands) & set(other.brands))
        if shared:
            return f"brand {shared[0]} is in alliance {other.name} already"
    return None


def members_of(alliances: dict[str, Alliance], home: str) -> dict[str, str]:
    """brand -> the brand whose members it uses, for every brand in an alliance."""
    return {brand: a.owner(home) for a in alliances.values() for brand in a.brands}


# -- clearing -------------------------------------------------------------------------------


@dataclass
class Clearing:
    """What each brand issued and redeemed, and who owes whom, from the ledgers."""

    alliance: Alliance
    owner: str  # the brand whose members are the alliance's: points that name no issuer are its
    since: int
    until: int
    issued: dict = field(default_factory=lambda: defaultdict(int))
    redeemed: dict = field(default_factory=lambda: defaultdict(int))
    taken_back: dict = field(default_factory=lambda: defaultdict(int))  # refunds and debts paid, by issuer
    unattributed: dict = field(default_factory=lambda: defaultdict(int))  # spent from lots naming no issuer
    lapsed: dict = field(default_factory=lambda: defaultdict(int))  # expired in a brand's request
    flows: dict = field(default_factory=lambda: defaultdict(int))  # (issuer, redeemer) -> points
    members: int = 0
    entries: int = 0

    def add(self, fields: dict) -> None:
        brand = _field(fields, "brand")
        if not brand:
            return
        at = int(_field(fields, "at") or 0)
        if not self.since <= at < self.until:
            return
        self.entries += 1
        delta = int(_field(fields, "delta") or 0)
        reason = _field(fields, "reason")
        taken = _taken(_field(fields, "from"))
        if delta > 0:
            self.issued[brand] += delta
        elif delta < 0 and reason.startswith(SPENDING):
            self.redeemed[brand] += -delta
            for issuer, points in taken.items():
                self.flows[(issuer, brand)] += points
            older = -delta - sum(taken.values())  # from lots that name no issuer: the owner brand's
            if older:
                self.unattributed[brand] += older
                self.flows[(self.owner, brand)] += older
        elif reason == "expired":  # lapsed unspent: no brand honoured them, so no flow
            self.lapsed[brand] += -delta
        elif delta < 0:
            for issuer, points in taken.items():
                self.taken_back[issuer] += points
            if not taken:
                self.taken_back[brand] += -delta

    def report(self) -> dict:
        alliance = self.alliance
        owed_to: dict = defaultdict(int)
        owes: dict = defaultdict(int)
        flows = []
        for (issuer, redeemer), points in sorted(self.flows.items()):
            if issuer == redeemer or points == 0:
                continue
            fen = alliance.value_of(issuer).of(points)
            owes[issuer] += fen
            owed_to[redeemer] += fen
            flows.append({"issued_by": issuer, "redeemed_at": redeemer, "points": points, "fen": fen})
        brands = []
        for brand in alliance.brands:
            brands.append(
                {
                    "brand": brand,
                    "issued": self.issued[brand],
                    "redeemed": self.redeemed[brand],
                    "redeemed_elsewhere": sum(p for (i, r), p in self.flows.items() if i == brand and r != brand),
                    "redeemed_here_from_others": sum(
                        p for (i, r), p in self.flows.items() if r == brand and i != brand
                    ),
                    "taken_back": self.taken_back[brand],
                    "unattributed": self.unattributed[brand],
                    "owed_fen": owed_to[brand],
                    "owes_fen": owes[brand],
                    "net_fen": owed_to[brand] - owes[brand],
                }
            )
        return {
            "alliance": alliance.name,
            "from": self.since,
            "to": self.until,
            "point_value": {"fen": alliance.point_value.fen, "points": alliance.point_value.points},
            "members": self.members,
            "entries": self.entries,
            "brands": brands,
            "flows": flows,
            "balance_fen": sum(b["net_fen"] for b in brands),
        }


def _field(fields: dict, name: str) -> str:
    value = fields.get(name.encode(), fields.get(name, b""))
    return value.decode() if isinstance(value, bytes) else value


def _taken(text: str) -> dict:
    out = {}
    for part in filter(None, text.split(",")):
        brand, _, points = part.partition("=")
        out[brand] = int(points)
    return out


def _owner_members(client, owner_scope: str, batch: int = 1_000) -> Iterator[list[str]]:
    """The ids of the members in the alliance's member scope, by SCAN over every primary."""
    from .ledger_chain import primaries

    suffix = f"~{owner_scope}" if owner_scope else ""
    for node in primaries(client):
        cursor = 0
        while True:
            cursor, keys = node.scan(cursor, match="m:{*", count=batch, _type="hash")
            ids = []
            for raw in keys:
                key = raw.decode() if isinstance(raw, bytes) else raw
                member_id, _, rest = key[3:].partition("}")
                if rest == suffix:
                    ids.append(member_id)
            if ids:
                yield ids
            if int(cursor) == 0:
                break


def clearing(client, alliance: Alliance, home: str, since: int, until: int) -> dict:
    """The clearing report of `alliance` for entries at `since` <= at < `until` (sync client)."""
    from .brands import scoped

    owner = alliance.owner(home)
    scope = Scope("", "" if owner == home else owner)
    result = Clearing(alliance, owner, since, until)
    page = 1_000  # stream entries a read
    for batch in _owner_members(client, scope.members):
        with scoped(scope):
            streams = [ledger_key(member_id) for member_id in batch]
            pipe = client.pipeline(transaction=False)  # a batch's members in one round trip
            for member_id, stream in zip(batch, streams):  # the hash before the stream: api/ledger.py with_held
                pipe.hmget(member_key(member_id), HELD_NAMES)
                pipe.xrange(stream, min="-", max="+", count=page)
            replies = pipe.execute()
        for k, stream in enumerate(streams):
            result.members += 1
            entries = replies[2 * k + 1]
            for _, fields in with_held(held_entry(replies[2 * k]), entries):
                result.add(fields)
            while len(entries) == page:  # a longer ledger: the rest a page at a time
                last = entries[-1][0]
                entries = client.xrange(
                    stream, min="(" + (last.decode() if isinstance(last, bytes) else last), count=page
                )
                for _, fields in entries:
                    result.add(fields)
    return result.report()


DEMO_ALLIANCE = {  # the demo's: its two brands share members and points, a point worth a fen
    "brands": ["dairy", "grain"],
    "point_value": {"fen": 1, "points": 1},
}


def load_demo_alliance(client) -> bool:
    """Declare the demo's alliance `grain-dairy` in the Redis of `client` unless one is
    declared there; True when it was declared now."""
    if client.hlen(ALLIANCES_KEY):
        return False
    alliance = parse(DEMO_ALLIANCE, "grain-dairy")
    return bool(client.hsetnx(ALLIANCES_KEY, alliance.name, orjson.dumps(alliance.as_dict())))
