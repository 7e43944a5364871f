"""The `points` section: points per yuan, multipliers and bonuses, the events that earn
points (watching, sharing, inviting...) with their caps, expiry, and what a refund does."""

from __future__ import annotations

from ...model import EVENT_KINDS, MAX_PER_YUAN, MAX_POINTS, REFUND_POLICIES, EventRule, PointsRules
from .common import Checker, did_you_mean

MAX_EXPIRE_DAYS = 3650
MAX_EXPIRE_MONTHS = 120
MAX_INVITES_PER_HOUR = 10_000
DEFAULT_INVITES_PER_HOUR = 10  # invites that order, per member and clock hour, before a freeze for review


def check_points(checker: Checker, top: dict) -> PointsRules:
    path = ("points",)
    obj = checker.mapping(
        top.get("points", {}),
        path,
        (
            "per_yuan",
            "birthday_multiplier",
            "order_bonus",
            "events",
            "expire_after_days",
            "expire_after_months",
            "refund",
        ),
    )
    if obj is None:
        obj = {}
    per_yuan = checker.integer(obj, path, "per_yuan", 0, MAX_PER_YUAN, default=1)
    birthday = checker.multiplier(obj, path, "birthday_multiplier", 100)
    bonus = checker.integer(obj, path, "order_bonus", 0, MAX_POINTS, default=0)
    events = {}
    raw_events = checker.keyed(obj, path, "events", "an event kind to its rule") if "events" in obj else {}
    for kind, rule in raw_events.items():
        epath = path + ("events", kind)
        if kind not in EVENT_KINDS:
            checker.error(
                epath, f"unknown event kind{did_you_mean(kind, EVENT_KINDS)}; kinds are {', '.join(EVENT_KINDS)}"
            )
            continue
        allowed = (
            ("points", "cap_per_session", "cap_per_day", "session_only")
            + (("min_seconds",) if kind == "watch" else ())
            + (("freeze_above_per_hour",) if kind == "invite_order" else ())
        )
        erule = checker.mapping(rule, epath, allowed, required=("points",))
        if erule is None:
            continue
        pts = checker.integer(erule, epath, "points", 1, MAX_POINTS)
        events[kind] = EventRule(
            kind=kind,
            points=pts or 0,
            min_seconds=checker.integer(erule, epath, "min_seconds", 1, 86400, default=600) or 600,
            cap_per_session=checker.integer(erule, epath, "cap_per_session", 1, MAX_POINTS, default=None),
            cap_per_day=checker.integer(erule, epath, "cap_per_day", 1, MAX_POINTS, default=None),
            session_only=checker.flag(erule, epath, "session_only", False),
            freeze_above_per_hour=checker.integer(
                erule, epath, "freeze_above_per_hour", 1, MAX_INVITES_PER_HOUR, default=DEFAULT_INVITES_PER_HOUR
            )
            if kind == "invite_order"
            else None,
        )
    expire = checker.integer(obj, path, "expire_after_days", 1, MAX_EXPIRE_DAYS, default=None)
    months = checker.integer(obj, path, "expire_after_months", 1, MAX_EXPIRE_MONTHS, default=None)
    if "expire_after_days" in obj and "expire_after_months" in obj:
        # both would say when the same points lapse: an order's, and an event's
        checker.error(
            path + ("expire_after_months",),
            "give either expire_after_days or expire_after_months, not both: each says when all earned points lapse",
        )
    refund = obj.get("refund", "debt")
    if refund not in REFUND_POLICIES:
        checker.error(
            path + ("refund",), f"unknown refund policy {refund!r}; policies are {', '.join(REFUND_POLICIES)}"
        )
        refund = "debt"
    return PointsRules(
        per_yuan=per_yuan if per_yuan is not None else 1,
        birthday_multiplier=birthday,
        order_bonus=bonus or 0,
        events=events,
        expire_after_days=expire,
        expire_after_months=months,
        refund=refund,
    )
