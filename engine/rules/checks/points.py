"""The `points` section: points per yuan, multipliers and bonuses, the events that earn
points (watching, sharing, inviting...) with their caps, expiry, and what a refund does."""

from __future__ import annotations

import re

from ...model import EVENT_KIND_RE, EVENT_KINDS, MAX_PER_YUAN, MAX_POINTS, REFUND_POLICIES, EventRule, PointsRules
from .common import ID_RE, MAX_ID_LENGTH, Checker, did_you_mean

MAX_EXPIRE_DAYS = 3650
MAX_EXPIRE_MONTHS = 120
MAX_INVITES_PER_HOUR = 10_000
DEFAULT_INVITES_PER_HOUR = 10  # invites that order, per member and clock hour, before a freeze for review
MAX_WATCH_SECONDS = 86400
DEFAULT_WATCH_SECONDS = 600  # a `watch` rule's min_seconds when it names none
MAX_TASKS = 100  # task names one event counts toward
EVENT_FIELDS = (
    "points",
    "min_seconds",
    "cap_per_session",
    "cap_per_day",
    "cap_per_week",
    "session_only",
    "freeze_above_per_hour",
    "counts_toward",
    "growth",
)
_KIND = re.compile(EVENT_KIND_RE)


def check_points(checker: Checker, top: dict, has_rooms: bool = True) -> PointsRules:
    """`has_rooms`: the table lists live rooms (an event limited to a session needs one)."""
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
        event = _event_rule(checker, path + ("events", kind), kind, rule, has_rooms)
        if event is not None:
            events[kind] = event
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


def _event_rule(checker: Checker, epath: tuple, kind: object, rule: object, has_rooms: bool) -> EventRule | None:
    """One event kind's rule: the four kinds every table knows keep their defaults (`watch`:
    min_seconds 600; `invite_order`: freeze above 10 an hour); an author's kind has none."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        close = did_you_mean(kind, EVENT_KINDS)
        checker.error(
            epath,
            f"an event kind is a lower-case name: a lower-case letter, then lower-case letters, digits and _ "
            f"(at most 64 characters){close}; {kind!r} is not",
        )
        return None
    erule = checker.mapping(rule, epath, EVENT_FIELDS, required=("points",))
    if erule is None:
        return None
    pts = checker.integer(erule, epath, "points", 1, MAX_POINTS)
    default_seconds = DEFAULT_WATCH_SECONDS if kind == "watch" else None
    min_seconds = checker.integer(erule, epath, "min_seconds", 1, MAX_WATCH_SECONDS, default=default_seconds)
    caps = {
        name: checker.integer(erule, epath, name, 1, MAX_POINTS, default=None)
        for name in ("cap_per_session", "cap_per_day", "cap_per_week")
    }
    session_only = checker.flag(erule, epath, "session_only", False)
    default_freeze = DEFAULT_INVITES_PER_HOUR if kind == "invite_order" else None
    freeze = checker.integer(erule, epath, "freeze_above_per_hour", 1, MAX_INVITES_PER_HOUR, default=default_freeze)
    for name, cap in caps.items():
        if cap is not None and pts is not None and cap < pts:
            checker.error(
                epath + (name,),
                f"caps count points, and {cap} is less than one event's {pts} points: the first event would "
                f"earn {cap}; to allow n events, write n x {pts} (once: {name}: {pts})",
            )
    day, week = caps["cap_per_day"], caps["cap_per_week"]
    if day is not None and week is not None and day > week:
        checker.error(epath + ("cap_per_day",), f"is above cap_per_week ({week}): a week holds every day's points")
    if not has_rooms:
        for name, why in (
            ("session_only", "its points last one live session"),
            ("cap_per_session", "it caps points per live session"),
            ("min_seconds", "it counts seconds watched in a live room"),
        ):
            if name in erule and (name != "session_only" or session_only):
                checker.error(epath + (name,), f"{why}, and the table lists no rooms: add `rooms`")
    tasks = _tasks(checker, erule, epath)
    growth = checker.integer(erule, epath, "growth", 0, MAX_POINTS, default=0) or 0
    return EventRule(
        kind=kind,
        points=pts or 0,
        min_seconds=min_seconds,
        cap_per_session=caps["cap_per_session"],
        cap_per_day=day,
        cap_per_week=week,
        session_only=session_only,
        freeze_above_per_hour=freeze,
        counts_toward=tasks,
        growth=growth,
    )


def _tasks(checker: Checker, erule: dict, epath: tuple) -> tuple:
    """`counts_toward`: the task names the event counts toward, each an id, listed once.
    Whether each names a task of `progression.tasks` is checked with that section
    (checks/progression.py)."""
    raw = erule.get("counts_toward", [])
    tpath = epath + ("counts_toward",)
    if not isinstance(raw, list):
        checker.error(tpath, f"must list task names, not {raw!r}")
        return ()
    if len(raw) > MAX_TASKS:
        checker.error(tpath, f"lists more than {MAX_TASKS} tasks")
        return ()
    tasks: list = []
    for i, task in enumerate(raw):
        if not isinstance(task, str) or len(task) > MAX_ID_LENGTH or not ID_RE.match(task):
            checker.error(
                tpath + (i,),
                f"a task name starts with a letter or digit and uses only letters, digits and _ . : - "
                f"(at most {MAX_ID_LENGTH} characters), not {task!r}",
            )
        elif task in tasks:
            checker.error(tpath + (i,), f"task {task!r} is listed twice")
        else:
            tasks.append(task)
    return tuple(tasks)
