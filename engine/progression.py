"""Tier progression: the quote's progress toward the next tier (the reference's numbers, and
their public form), and the member figures both the quote and the service read.

The rules are documented in docs/RULES.md, section "Tier progression". A quote shows the
progress toward the *target*: the lowest tier above the member's that has a `reach`.
The cart's payable counts as spend and as growth (whole yuan x growth_per_yuan), so a
checkout can say "this order reaches gold"; the tasks count what was done so far.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .instants import at_offset, months_later_day_end
from .model import MAX_GROWTH, MAX_SPEND_FEN, Member, Progression, RuleTable, Task

DAY = 86_400
SPEND_MONTHS = 12  # the spend a tier's `reach` reads: this calendar month and the 11 before it
HISTORY_KEEP = 50  # tier changes kept per member, newest first


@dataclass
class RawProgress:
    """Progress toward the target tier, as plain numbers (the compiled evaluator's too)."""

    tier: int = 0  # the target tier's rank; 0: no tier above the member's has a `reach`
    spend_left: int = -1  # fen still to pay after this cart; -1: the target has no spend criterion
    growth_left: int = -1  # growth still to earn after this cart; -1: no growth criterion
    tasks: list = field(default_factory=list)  # (task index, days or events left), the target's tasks in order


def target_rank(model: RuleTable, tier_rank: int) -> int:
    """The lowest tier above `tier_rank` with a `reach`, or 0."""
    for rank in range(tier_rank + 1, len(model.tiers) + 1):
        if model.tiers[rank - 1].reach is not None:
            return rank
    return 0


def decide_progress(model: RuleTable, member: Member, tier_rank: int, payable: int) -> RawProgress | None:
    """The reference's progress numbers; None for a table without `progression`."""
    progression = model.progression
    if progression is None:
        return None
    rank = target_rank(model, tier_rank)
    if rank == 0:
        return RawProgress()
    reach = model.tiers[rank - 1].reach
    assert reach is not None
    out = RawProgress(tier=rank)
    if reach.spend is not None:
        out.spend_left = max(0, reach.spend - member.spend_12m - payable)
    if reach.growth is not None:
        out.growth_left = max(0, reach.growth - member.growth - payable // 100 * progression.growth_per_yuan)
    names = list(progression.tasks)
    for name in reach.tasks:
        task = progression.tasks[name]
        out.tasks.append((names.index(name), max(0, task.target - member.tasks.get(name, 0))))
    return out


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def task_text(task: Task, left: int) -> str:
    return task.hint.replace("{left}", str(left)).replace("{task}", task.name)


def progress_dict(model: RuleTable, raw: RawProgress, payable: int) -> dict | None:
    """The quote's `tier_progress`: None when no tier above the member's has a `reach`."""
    if raw.tier == 0:
        return None
    assert model.progression is not None
    tier = model.tiers[raw.tier - 1]
    hints: list = []
    reached = raw.spend_left == 0 or raw.growth_left == 0
    if reached:
        text = f"this order reaches {tier.name}" if payable > 0 else f"{tier.name} reached: the next order moves you up"
        hints.append({"code": "reached", "value": 0, "text": text})
    if raw.spend_left > 0:
        hints.append(
            {
                "code": "spend_more",
                "value": raw.spend_left,
                "text": f"spend {_yuan(raw.spend_left)} more to reach {tier.name}",
            }
        )
    if raw.growth_left > 0:
        hints.append(
            {
                "code": "growth_more",
                "value": raw.growth_left,
                "text": f"earn {raw.growth_left} more growth to reach {tier.name}",
            }
        )
    tasks = list(model.progression.tasks.values())
    for index, left in raw.tasks:
        if left > 0:
            task = tasks[index]
            hints.append({"code": "task", "task": task.name, "value": left, "text": task_text(task, left)})
    return {"tier": tier.id, "name": tier.name, "hints": hints}


# -- the member's figures, as the service keeps them ------------------------------------------


def local_day(now: int, utc_offset: int) -> int:
    """Days since 1970-01-01 in the table's local time."""
    return (now + utc_offset) // DAY


def month_number(now: int, utc_offset: int) -> int:
    """The local calendar month as year * 12 + month - 1."""
    local = at_offset(now, utc_offset)
    return local.year * 12 + local.month - 1


def month_name(number: int) -> str:
    """A month number as yyyymm, the suffix of its spend field."""
    year, month = divmod(number, 12)
    return f"{year:04d}{month + 1:02d}"


def spend_months(now: int, utc_offset: int) -> list[str]:
    """The months whose spend counts at `now`: this one first, then the 11 before it."""
    return list(_spend_months_of_day(local_day(now, utc_offset), utc_offset))


@functools.lru_cache(maxsize=64)
def _spend_months_of_day(day: int, utc_offset: int) -> tuple[str, ...]:
    """spend_months for a local day (computed once a day: every quote of a member with
    spend asks for them)."""
    current = month_number(day * DAY - utc_offset, utc_offset)
    return tuple(month_name(current - k) for k in range(SPEND_MONTHS))


def stale_months(now: int, utc_offset: int) -> list[str]:
    """The 12 months before those that count: their spend fields are dropped as spend is added."""
    current = month_number(now, utc_offset)
    return [month_name(current - k) for k in range(SPEND_MONTHS, 2 * SPEND_MONTHS)]


def task_progress(task: Task, state: str, now: int, utc_offset: int) -> int:
    """Days or events done toward `task` at `now`, from its stored state (at most its target).

    A streak's state is `<local day> <length>`: the streak lives while its last day is today
    or yesterday. A count's state is the instants counted, newest last (at most `count`
    kept); with `within_days`, only those within that many days of `now` count."""
    parts = state.split()
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return 0
    if task.streak_days is not None:
        if len(numbers) != 2:
            return 0
        last, length = numbers
        return min(task.target, length) if last >= local_day(now, utc_offset) - 1 else 0
    since = now - task.within_days * DAY if task.within_days is not None else -1
    return min(task.target, sum(1 for t in numbers if since < t <= now))


def member_figures(
    progression: Progression | None, utc_offset: int, now: int, spend: dict, growth: int, tasks: dict
) -> dict:
    """The quote's member figures (`spend_12m`, `growth`, `tasks`) from the stored ones:
    spend by month (yyyymm -> fen), growth, and each task's state."""
    if progression is None:
        return {}
    if not spend and not growth and not tasks:  # most members: nothing recorded yet
        return {"spend_12m": 0, "growth": 0, "tasks": {}}
    months = _spend_months_of_day(local_day(now, utc_offset), utc_offset)
    return {  # at most what a quote takes: a figure past it only ever reaches every tier anyway
        "spend_12m": min(MAX_SPEND_FEN, sum(spend.get(m, 0) for m in months)) if spend else 0,
        "growth": min(MAX_GROWTH, growth),
        "tasks": {
            name: task_progress(task, tasks[name], now, utc_offset)
            for name, task in progression.tasks.items()
            if name in tasks
        },
    }


def next_review(now: int, progression: Progression, utc_offset: int) -> int:
    """The review after a tier change (or a review) at `now`: the end of the local day
    `review_months` calendar months later."""
    return months_later_day_end(now, progression.review_months, utc_offset)
