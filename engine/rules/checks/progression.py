"""The `progression` section and each tier's `reach`: how a member moves between tiers.

`progression.tasks` names the tasks (a streak of local days, or a count of events, maybe
within a window of days); a tier's `reach` lists the tasks that together reach it, and/or
the paid spend of the last 12 months and the growth value that reach it alone. An event
rule's `counts_toward` must name tasks defined here when the table has the section
(without it, the names and an event's `growth` are kept and nothing counts them).
"""

from __future__ import annotations

import dataclasses

from ...model import (
    MAX_GROWTH,
    MAX_PER_YUAN,
    MAX_SPEND_FEN,
    MAX_TASK_TARGET,
    EventRule,
    Progression,
    Reach,
    Task,
    Tier,
)
from .common import ID_RE, MAX_ID_LENGTH, Checker, did_you_mean

MAX_REVIEW_MONTHS = 120
MAX_WITHIN_DAYS = 3660
MAX_PROGRESSION_TASKS = 64  # tasks one table may define
TASK_FIELDS = ("streak_days", "count", "within_days", "orders", "hint")
REACH_FIELDS = ("tasks", "spend", "growth")
DEFAULT_HINT = "{left} more for {task}"


def check_progression(
    checker: Checker, top: dict, tiers: list[Tier], events: dict[str, EventRule]
) -> tuple[Progression | None, list[Tier]]:
    """(the progression or None, the tiers with their `reach`)."""
    path = ("progression",)
    progression = None
    written: list[str] = []  # every task name written, valid or not: no second error for a bad one
    if isinstance(top.get("progression"), dict) and isinstance(top["progression"].get("tasks"), dict):
        written = [name for name in top["progression"]["tasks"] if isinstance(name, str)]
    if top.get("progression") is not None:
        obj = checker.mapping(top["progression"], path, ("tasks", "growth_per_yuan", "review_months"))
        if obj is not None:
            progression = Progression(
                tasks=_tasks(checker, obj, path),
                growth_per_yuan=checker.integer(obj, path, "growth_per_yuan", 0, MAX_PER_YUAN, default=0) or 0,
                review_months=checker.integer(obj, path, "review_months", 1, MAX_REVIEW_MONTHS, default=12) or 12,
            )
    tiers = _reaches(checker, top, tiers, progression, written)
    if progression is not None:
        for kind, rule in events.items():
            for i, name in enumerate(rule.counts_toward):
                if name not in written:
                    checker.error(("points", "events", kind, "counts_toward", i), _unknown(name, written))
    return progression, tiers


def _tasks(checker: Checker, obj: dict, path: tuple) -> dict[str, Task]:
    out: dict[str, Task] = {}
    if "tasks" not in obj:
        return out
    raw = checker.keyed(obj, path, "tasks", "a task name to its rule")
    if len(raw) > MAX_PROGRESSION_TASKS:
        checker.error(path + ("tasks",), f"at most {MAX_PROGRESSION_TASKS} tasks")
    for name, rule in raw.items():
        tpath = path + ("tasks", name)
        if not isinstance(name, str) or len(name) > MAX_ID_LENGTH or not ID_RE.match(name):
            checker.error(
                tpath,
                f"a task name starts with a letter or digit and uses only letters, digits and _ . : - "
                f"(at most {MAX_ID_LENGTH} characters), not {name!r}",
            )
            continue
        task = checker.mapping(rule, tpath, TASK_FIELDS)
        if task is None:
            continue
        streak = checker.integer(task, tpath, "streak_days", 1, MAX_TASK_TARGET, default=None)
        count = checker.integer(task, tpath, "count", 1, MAX_TASK_TARGET, default=None)
        within = checker.integer(task, tpath, "within_days", 1, MAX_WITHIN_DAYS, default=None)
        if ("streak_days" in task) == ("count" in task):
            checker.error(tpath, "give either streak_days (consecutive days) or count (events), one of them")
            continue
        if "within_days" in task and "streak_days" in task:
            checker.error(tpath + ("within_days",), "a streak counts consecutive days: within_days goes with count")
        hint = checker.text(task, tpath, "hint", default=DEFAULT_HINT)
        if streak is None and count is None:
            continue
        out[name] = Task(
            name=name,
            streak_days=streak,
            count=count,
            within_days=within if streak is None else None,
            orders=checker.flag(task, tpath, "orders", False),
            hint=hint if hint is not None else DEFAULT_HINT,
        )
    return out


def _unknown(name: object, written: list[str]) -> str:
    return (
        f"unknown task {name!r}{did_you_mean(name, written)}; progression.tasks defines: {', '.join(written) or 'none'}"
    )


def _reaches(
    checker: Checker, top: dict, tiers: list[Tier], progression: Progression | None, written: list[str]
) -> list[Tier]:
    raw = top.get("tiers")
    if not isinstance(raw, list):
        return tiers
    by_id = {t.id: t for t in tiers}
    out = {t.id: t for t in tiers}
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or "reach" not in item:
            continue
        path = ("tiers", index, "reach")
        tier = by_id.get(str(item.get("id")))
        if progression is None:
            if top.get("progression") is None:  # a section written with errors is reported where it is
                checker.error(path, "a tier is reached by tier progression: add a `progression` section")
            continue
        obj = checker.mapping(item["reach"], path, REACH_FIELDS)
        if obj is None:
            continue
        if not any(key in obj for key in REACH_FIELDS):
            checker.error(path, "give at least one of tasks, spend and growth")
            continue
        spend = checker.integer(obj, path, "spend", 1, MAX_SPEND_FEN, default=None, what="a whole number of fen")
        growth = checker.integer(obj, path, "growth", 1, MAX_GROWTH, default=None)
        names: list[str] = []
        for i, name in enumerate(checker.items(obj, path, "tasks")):
            if name not in written:
                checker.error(path + ("tasks", i), _unknown(name, written))
            elif name not in progression.tasks:
                continue  # a task written with an error, reported where it is defined
            elif name in names:
                checker.error(path + ("tasks", i), f"task {name!r} is listed twice")
            else:
                names.append(name)
        if "tasks" in obj and not names and isinstance(obj["tasks"], list) and not obj["tasks"]:
            checker.error(path + ("tasks",), "must list at least one task (or leave tasks out)")
        if tier is not None:
            out[tier.id] = dataclasses.replace(tier, reach=Reach(tasks=tuple(names), spend=spend, growth=growth))
    return [out[t.id] for t in tiers]
