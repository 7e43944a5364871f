"""What changed between two rule tables, in a rule author's words.

Items are matched by id (tier, sku, room, coupon, redemption); each change is one entry
with the item, the field, the old and new values as written in a table, and a sentence:
"MILK-1L price: 15.90 -> 14.90 yuan", "coupon GOLD-GALA-85 added", "room gala window:
20:00-23:00 -> 19:30-23:00".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..instants import format_instant
from ..model import RELEASE_PERIODS, Progression, Reach, Release, RuleTable, Segment

_MONEY = {"price", "amount", "threshold", "max_discount", "cash", "tier_prices", "live_prices"}
_INSTANTS = {"start", "end", "window_from", "window_to", "opens", "closes"}
_PERCENT = {"points_multiplier", "birthday_multiplier"}
_SECTIONS = (
    ("tier", "tiers", "id"),
    ("product", "products", "sku"),
    ("room", "rooms", "id"),
    ("coupon", "coupons", "id"),
    ("redemption", "redemptions", "id"),
    ("draw", "draws", "id"),
)


def _fields(item: Any) -> dict:
    if dataclasses.is_dataclass(item):
        return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    return item._asdict()


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _show(field: str, value: Any, utc_offset: int) -> Any:
    """A value as an author would write or read it."""
    if value is None:
        return None
    if isinstance(value, Segment):  # as written: only the lists that name tags
        return {key: sorted(tags) for key, tags in value._asdict().items() if tags}
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Reach):  # as written: the criteria given
        written = {"tasks": list(value.tasks), "spend": value.spend, "growth": value.growth}
        return {key: v for key, v in written.items() if v not in (None, [])}
    if isinstance(value, Progression):  # as written
        return {
            "tasks": {
                name: {k: v for k, v in _fields(t).items() if k != "name" and v is not None}
                for name, t in value.tasks.items()
            },
            "growth_per_yuan": value.growth_per_yuan,
            "review_months": value.review_months,
        }
    if isinstance(value, Release):  # as written
        every = next(name for name, seconds in RELEASE_PERIODS.items() if seconds == value.every_seconds)
        return {
            "every": every,
            "amount": value.amount,
            "starts": format_instant(value.starts, utc_offset),
            "roll_over": value.roll_over,
        }
    if field == "prizes":  # a draw's, as written
        return [f"{p.id} x{p.stock}: {p.kind} {p.target or p.points}" for p in value]
    if field in _INSTANTS:
        return format_instant(value, utc_offset)
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    return value


def _say(field: str, value: Any) -> str:
    if value is None:
        return "none"
    if field in _MONEY and isinstance(value, int):
        return f"{_yuan(value)} yuan"
    if field in _MONEY and isinstance(value, dict):
        return ", ".join(f"{k} {_yuan(v)}" for k, v in value.items()) or "none"
    if field in _PERCENT:
        return f"x{value / 100:g}"
    if field == "segment":
        return "; ".join(f"{key} {', '.join(tags)}" for key, tags in value.items())
    if field == "reach":
        parts = [f"tasks {', '.join(value['tasks'])}"] if "tasks" in value else []
        parts += [f"spend {_yuan(value['spend'])} yuan"] if "spend" in value else []
        parts += [f"growth {value['growth']}"] if "growth" in value else []
        return " or ".join(parts)
    if field == "release":
        carried = ", what is left carried over" if value["roll_over"] else ""
        return f"{value['amount']} every {value['every']} from {value['starts']}{carried}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def diff_tables(old: RuleTable, new: RuleTable) -> list:
    """Every change from `old` to `new`, section by section, in table order."""
    changes = []
    for kind, section, key in _SECTIONS:
        before = {getattr(item, key): item for item in getattr(old, section)}
        after = {getattr(item, key): item for item in getattr(new, section)}
        for ident, item in after.items():
            if ident not in before:
                changes.append(
                    {
                        "item": kind,
                        "id": ident,
                        "change": "added",
                        "field": None,
                        "from": None,
                        "to": None,
                        "text": f"{kind} {ident} added",
                    }
                )
                continue
            old_fields, new_fields = _fields(before[ident]), _fields(item)
            for field, value in new_fields.items():
                was = _show(field, old_fields[field], old.utc_offset_seconds)
                now = _show(field, value, new.utc_offset_seconds)
                if was != now:
                    changes.append(
                        {
                            "item": kind,
                            "id": ident,
                            "change": "changed",
                            "field": field,
                            "from": was,
                            "to": now,
                            "text": f"{kind} {ident} {field}: {_say(field, was)} -> {_say(field, now)}",
                        }
                    )
        for ident in before:
            if ident not in after:
                changes.append(
                    {
                        "item": kind,
                        "id": ident,
                        "change": "removed",
                        "field": None,
                        "from": None,
                        "to": None,
                        "text": f"{kind} {ident} removed",
                    }
                )
    for field in ("pickup_discount_percent", "utc_offset_seconds"):
        was, now = getattr(old, field), getattr(new, field)
        if was != now:
            changes.append(
                {
                    "item": "table",
                    "id": None,
                    "change": "changed",
                    "field": field,
                    "from": was,
                    "to": now,
                    "text": f"{field}: {was} -> {now}",
                }
            )
    was, now = _show("progression", old.progression, 0), _show("progression", new.progression, 0)
    if was != now:
        changes.append(
            {
                "item": "table",
                "id": None,
                "change": "changed",
                "field": "progression",
                "from": was,
                "to": now,
                "text": "progression: " + ("added" if was is None else "removed" if now is None else "changed"),
            }
        )
    old_points, new_points = _fields(old.points), _fields(new.points)
    for field, value in new_points.items():
        was = _show(field, old_points[field], 0) if field != "events" else _events(old_points[field])
        now = _show(field, value, 0) if field != "events" else _events(value)
        if was != now:
            changes.append(
                {
                    "item": "points",
                    "id": None,
                    "change": "changed",
                    "field": field,
                    "from": was,
                    "to": now,
                    "text": f"points {field}: {_say(field, was)} -> {_say(field, now)}",
                }
            )
    return changes


def _events(events: dict) -> dict:
    return {kind: _fields(rule) for kind, rule in sorted(events.items())}


def summary(changes: list) -> dict:
    out: dict = {}
    for change in changes:
        key = f"{change['item']}s_{change['change']}"
        out[key] = out.get(key, 0) + 1
    return out


def describe(old_version: str | None, new_version: str | None, changes: list) -> dict:
    return {"from": old_version, "to": new_version, "summary": summary(changes), "changes": changes}
