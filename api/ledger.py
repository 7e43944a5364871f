"""The points ledger in Redis: lots, entries, and the scripts that change them
(api/redis/lua/ledger_*.lua, over the lots of lua/lots.lua).

A member's balance is made of lots: each credit is a lot (points left, expiry), and
spending takes from the oldest lots first. Every change is an entry in the member's
ledger stream. The balance is always the sum of the live lots; the `points` field of the
member hash is a copy of it, kept by the same script that changes the lots, so that a
quote reads the balance with the rest of the member in one HGETALL. `lapse_at` there is
the earliest expiry among the lots (0: none), so that a reader knows when a sweep is due
without reading the lots, and `lapse_points` the points that lapse then (a quote shows
them when they are near).

Keys, all with the member id as hash tag (one Redis Cluster slot per member):

    lots:{<id>}   hash    lot number -> "<points left> <expiry, Unix seconds; 0: never>",
                          with " o" after it for an order's lot (the order's record keeps
                          its number); an order's lot that lapses with points left stays
                          as "0 <expiry> <points lapsed>", outside the balance, until the
                          order is refunded or its record is gone (lua/lots.lua);
                          field "#" holds the last lot number given
    led:{<id>}    stream  entries: delta, reason, ref, at, expires, balance (after), debt (on
                          the entries that change it), n and h: the entry's place and hash in
                          the member's hash chain, whose head (chain_n, chain_h) the member
                          hash keeps (lua/chain.lua, api/ledger_chain.py). The first entry
                          waits in the member hash (`e:id`, `e:delta`, ...) until a second
                          comes: no stream for a member with one entry (ledger_entries)
    ev:{<id>}     hash    event id -> "<points> <balance> <expires> <note> <reason>": an event
                          counts once, and its replay is answered from this
    ev:{<id>}:at  zset    event id -> the wall-clock second it was credited; ids older than
                          EVENT_REPLAY_DAYS are dropped from both by the next credit
    caps:{<id>}   hash    points earned per event kind and session / day / ISO week, for the caps

Every script makes all of its refusals before its first write (Redis does not roll a
script back), and redis-py reloads a script the server has forgotten (NOSCRIPT). Two
writes come first on purpose: forgetting event ids past their replay window, and
recording the attempt in the member's rate window (lua/rate.lua: an attempt within the
rate counts even when a later check refuses it; one past the rate, or a replay, does not).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from engine.instants import last_day, months_later_day_end
from engine.model import PointsRules

from .access import RATE_KEY_TTL_SECONDS, RateLimit
from .redis.keys import caps_key, events_index_key, events_key, ledger_key, lots_key, member_key
from .redis.scripts import Scripts

CAPS_TTL_SECONDS = 8 * 86400  # cap counters outlive any day, ISO week and live session they count
EVENT_REPLAY_DAYS = 30  # an event id counts once within this many days of its credit
PRUNE_BATCH = 64  # forgotten event ids dropped per credit: bounded work that outpaces any rate limit


def earned_expiry(points: PointsRules, utc_offset: int, now: int) -> int:
    """When points earned at `now` (an order's, an event's) lapse by the rules: Unix
    seconds, 0 for never. `expire_after_days`: that many days to the second after they
    arrive; `expire_after_months`: at the end of the table's local day that many calendar
    months after the day they arrive (engine.instants.months_later_day_end)."""
    if points.expire_after_days:
        return now + points.expire_after_days * 86400
    if points.expire_after_months:
        return months_later_day_end(now, points.expire_after_months, utc_offset)
    return 0


def set_balance(scripts: Scripts, member_id: str, points: int, now: int, ref: str, client=None):
    """Bring a member's balance to `points` through the ledger (an `import` entry): a lot
    for a rise, the oldest lots first for a fall. Returns the script call (a pipeline
    queues it)."""
    return scripts.ledger_set_balance(
        keys=[member_key(member_id), lots_key(member_id), ledger_key(member_id)], args=[points, now, ref], client=client
    )


def sweep(scripts: Scripts, member_id: str, now: int, client=None):
    """Lapse a member's expired lots now; the balance after (-1: no such member)."""
    return scripts.ledger_sweep(
        keys=[member_key(member_id), lots_key(member_id), ledger_key(member_id)], args=[now], client=client
    )


def credit_event(
    scripts: Scripts,
    member_id: str,
    *,
    now: int,
    event_id: str,
    reason: str,
    points: int,
    expires: int,
    note: str,
    session_field: str,
    session_cap: int | None,
    day_field: str,
    day_cap: int | None,
    week_field: str = "",
    week_cap: int | None = None,
    rate_field: str = "",
    rate_limit: int | None = None,
    rate: RateLimit | None = None,
    wall_now: float | None = None,
):
    """Credit one event, once per event id within EVENT_REPLAY_DAYS; a replay is answered
    from its record and not counted against `rate` (the member's events a minute)."""
    wall = int(time.time() if wall_now is None else wall_now)
    keys = [
        member_key(member_id),
        lots_key(member_id),
        ledger_key(member_id),
        events_key(member_id),
        caps_key(member_id),
        events_index_key(member_id),
    ]
    args: list[str | int] = [
        now,
        event_id,
        reason,
        points,
        expires,
        note,
        session_field,
        -1 if session_cap is None else session_cap,
        day_field,
        -1 if day_cap is None else day_cap,
        CAPS_TTL_SECONDS,
        rate_field,
        -1 if rate_limit is None else rate_limit,
        wall,
        wall - EVENT_REPLAY_DAYS * 86400,
        PRUNE_BATCH,
        week_field,
        -1 if week_cap is None else week_cap,
    ]
    if rate is not None:
        keys.append(rate.key)
        args += [rate.limit, RATE_KEY_TTL_SECONDS]
    return scripts.ledger_credit_event(keys=keys, args=args)


def freeze(scripts: Scripts, member_id: str, frozen: bool, now: int, reason: str, client=None):
    """Freeze or unfreeze a member (a `frozen` / `unfrozen` ledger entry when it changes);
    -1 when there is no such member. Returns the script call (a pipeline queues it)."""
    return scripts.ledger_freeze(
        keys=[member_key(member_id), ledger_key(member_id)], args=[int(frozen), now, reason], client=client
    )


def expiring_by_day(raw_lots: dict, now: int, within_days: int, utc_offset: int) -> list[dict]:
    """The points of a member's lots (`HGETALL lots:{<id>}`, swept at `now`) that lapse
    within `within_days` days of `now`, grouped by the last local day they may be used:
    [{date, at (the day's earliest lapse), points}], soonest first."""
    until = now + within_days * 86400
    days: dict[str, dict] = {}
    for field, value in raw_lots.items():
        name = field.decode() if isinstance(field, bytes) else field
        if name == "#":
            continue
        left, expires = (int(part) for part in (value.decode() if isinstance(value, bytes) else value).split(" ")[:2])
        if left <= 0 or not now < expires <= until:
            continue
        date = last_day(expires, utc_offset)
        day = days.setdefault(date, {"date": date, "at": expires, "points": 0})
        day["at"] = min(day["at"], expires)
        day["points"] += left
    return [days[date] for date in sorted(days)]


HELD = ("delta", "reason", "ref", "at", "expires", "balance", "debt", "brand", "from")
_HELD_DEFAULT = {"ref": b"", "expires": b"0"}  # held only when not these (lua/chain.lua)
HELD_NAMES = ("e:id", *(f"e:{name}" for name in HELD))  # HMGET these of the member hash for held_entry


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def held_entry(values: Sequence) -> tuple[bytes, dict] | None:
    """The ledger's first entry while the member hash holds it (lua/chain.lua), as XRANGE
    gives a stream entry but for its `h` (its n is 1), from the member hash's values of
    HELD_NAMES; None when it holds none."""
    if values[0] is None:
        return None
    fields = {}
    for name, value in zip(HELD, values[1:]):
        value = _HELD_DEFAULT.get(name) if value is None else value
        if value is not None:
            fields[name.encode()] = _bytes(value)
    fields[b"n"] = b"1"
    return _bytes(values[0]) + b"-0", fields


def with_held(held: tuple | None, oldest_first: list) -> list:
    """The stream's first entries (oldest first) with the held entry ahead of them, unless
    they hold it already: read before the stream, it may have moved there in between
    (the hash is read first, so it is never missed)."""
    if held is None or any(_bytes(entry_id) == held[0] for entry_id, _ in oldest_first[:1]):
        return oldest_first
    return [held, *oldest_first]


def ledger_entries(client, member_id: str, start: str = "-", count: int | None = 1_000) -> list:
    """A member's ledger entries from `start` (XRANGE's min), oldest first, at most `count`
    from the stream (None: all) and, from the start, the one the member hash holds ahead
    of them (sync client)."""
    held = held_entry(client.hmget(member_key(member_id), HELD_NAMES)) if start == "-" else None
    return with_held(held, client.xrange(ledger_key(member_id), min=start, max="+", count=count))


def parse_entry(entry_id, fields: dict) -> dict:
    """A ledger stream entry as the API shows it."""

    def text(name: str) -> str:
        value = fields.get(name.encode(), fields.get(name, b""))
        return value.decode() if isinstance(value, bytes) else value

    expires = int(text("expires") or 0)
    out = {
        "id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        "delta": int(text("delta")),
        "reason": text("reason"),
        "ref": text("ref"),
        "at": int(text("at")),
        "expires": expires or None,
        "balance": int(text("balance")),
    }
    debt = text("debt")
    if debt:  # only the entries that change a debt from a refund carry it
        out["debt"] = int(debt)
    return out
