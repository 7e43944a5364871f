"""Tier progression in the service: counting events and settled orders toward the tiers'
`reach`, the lazy downgrade review, and the member's tier history (lua/tier_progress.lua,
one script over the member's own keys, so every change is atomic and Cluster-safe).

The member hash `m:{<id>}` keeps the figures, so that a quote reads them with the rest of
the member in one HGETALL:

    sp:<yyyymm>    fen paid by settled orders that local month (the last 12 months count)
    growth         growth value
    t:<task>       a streak task: `<local day> <length>`; a count task: the instants counted
    tier_since     the instant of the last tier change by progression
    review_at      the downgrade review's instant (0 or absent: none scheduled)

`tiers:{<id>}` (a list, newest first, at most HISTORY_KEEP) records each change as
`<at> <from> <to> <reason> <ref>`; the ref is the event id (`ev:<id>`) or the order id
(`ord:<id>`) that caused it, so a replayed request answers with the same change.
`tiers:{<id>}:refs` (a sorted set) remembers each ref counted while its request may be
replayed (an event 30 days, an order 400), so a ref counts once, and a replay whose first
attempt stopped between its settlement and its count is counted then.
"""

from __future__ import annotations

from typing import Any

from engine.model import Member, RuleTable
from engine.progression import HISTORY_KEEP, local_day, member_figures, next_review, spend_months, stale_months

from .ledger import EVENT_REPLAY_DAYS
from .redis.keys import ORDER_RETENTION_DAYS, member_key, order_key, tier_history_key, tier_refs_key
from .redis.scripts import Scripts


def _specs(model: RuleTable) -> tuple[str, str]:
    """The tasks and the tiers as the script reads them, made once per table."""
    cached = getattr(model, "_progression_specs", None)
    if cached is not None:
        return cached
    progression = model.progression
    assert progression is not None
    tasks = ";".join(
        f"{t.name}|{'s' if t.streak_days is not None else 'c'}|{t.target}|{(t.within_days or 0) * 86400}"
        for t in progression.tasks.values()
    )
    tiers = ";".join(
        f"{t.id}|{int(t.reach is not None)}|"
        f"{t.reach.spend if t.reach and t.reach.spend is not None else -1}|"
        f"{t.reach.growth if t.reach and t.reach.growth is not None else -1}|"
        f"{','.join(t.reach.tasks) if t.reach else ''}"
        for t in model.tiers
    )
    specs = (tasks, tiers)
    object.__setattr__(model, "_progression_specs", specs)
    return specs


def run_call(
    model: RuleTable,
    member_id: str,
    now: int,
    *,
    mode: str,
    ref: str = "",
    spend: int = 0,
    growth: int = 0,
    tasks: tuple = (),
    counted_at: int = 0,
) -> tuple[list, list]:
    """(KEYS, ARGV) of tier_progress for `run`'s arguments."""
    tasks_spec, tiers_spec = _specs(model)
    offset = model.utc_offset_seconds
    assert model.progression is not None
    keys = [
        member_key(member_id),
        tier_history_key(member_id),
        tier_refs_key(member_id),
        order_key(member_id, ref[4:]) if ref.startswith("ord:") else tier_refs_key(member_id),
    ]
    args = [
        mode,
        now,
        ref or "-",
        local_day(now, offset),
        spend,
        growth,
        ",".join(tasks),
        tasks_spec,
        tiers_spec,
        ",".join(spend_months(now, offset)),
        ",".join(stale_months(now, offset)),
        next_review(now, model.progression, offset),
        HISTORY_KEEP,
        now + (ORDER_RETENTION_DAYS if ref.startswith("ord:") else EVENT_REPLAY_DAYS) * 86400,
        spend_months(counted_at or now, offset)[0],
    ]
    return keys, args


def change_of(done: list) -> dict | None | str:
    """tier_progress's answer as `run` returns it."""
    parts = [_text(p) for p in done]
    if parts[0] == "unknown_member":
        return "unknown_member"
    before, after, reason = parts[1], parts[2], parts[3]
    if before == after:
        return None
    return {"from": before or "visitor", "to": after or "visitor", "reason": reason}


async def run(scripts: Scripts, model: RuleTable, member_id: str, now: int, **how: Any) -> dict | None | str:
    """Run the script: 'count' an event or order (after the review, when due), 'refund' an
    order settled at `counted_at` (its spend and growth taken back, once), or only
    'review' (`how`: run_call's keywords). The change to answer with ({from, to, reason};
    None when the tier stayed), or 'unknown_member'."""
    keys, args = run_call(model, member_id, now, **how)
    return change_of(await scripts.tier_progress(keys=keys, args=args))


def parse_history(raw: list) -> list[dict]:
    """The history list (newest first) as the API shows it."""
    out = []
    for entry in raw:
        parts = _text(entry).split(" ", 4)
        if len(parts) != 5 or not parts[0].isdigit():
            continue  # not written by lua/tier_progress.lua: never shown, never a 500
        at, before, after, reason, ref = parts
        out.append({"at": int(at), "from": before, "to": after, "reason": reason, "ref": None if ref == "-" else ref})
    return out


async def replayed(
    scripts: Scripts, redis: Any, model: RuleTable, member_id: str, now: int, **count: Any
) -> dict | None:
    """The `tier` of a replayed event or order: counted now if its first attempt stopped
    before counting (the script counts a ref once), else the change it made then. A review
    due now is made first, as a change of its own: never the replay's answer."""
    await run(scripts, model, member_id, now, mode="review")
    change = await run(scripts, model, member_id, now, mode="count", **count)
    if isinstance(change, dict):
        return change
    return await change_by(redis, member_id, count["ref"])


async def change_by(redis: Any, member_id: str, ref: str) -> dict | None:
    """The change a request (its ref) made, for the answer to its replay: the last one it
    made, from the kept history (None when it made none, or it is no longer kept)."""
    mine = [e for e in parse_history(await redis.lrange(tier_history_key(member_id), 0, -1)) if e["ref"] == ref]
    if not mine or mine[-1]["from"] == mine[0]["to"]:
        return None
    return {"from": mine[-1]["from"], "to": mine[0]["to"], "reason": mine[0]["reason"]}


def review_due(record: Any, now: int) -> bool:
    return record is not None and 0 < record.review_at <= now


def with_figures(member: Member, record: Any, model: RuleTable, now: int) -> Member:
    """The quote's member with its progression figures, for a table with `progression`."""
    if model.progression is None or record is None:
        return member
    if not record.spend and not record.growth and not record.task_state:
        return member  # nothing recorded: the Member's own zeros are the figures
    figures = member_figures(
        model.progression, model.utc_offset_seconds, now, record.spend, record.growth, record.task_state
    )
    return member._replace(**figures)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
