"""The `redemptions` section: what members may get for points, cash or a watched task,
for which member tiers, in which room and window, with stock and per-member limits."""

from __future__ import annotations

from ...model import MAX_POINTS, RELEASE_PERIODS, VISITOR, Redemption, Release
from .audience import segment, tier_set
from .common import MAX_STOCK, Checker
from .grants import REDEMPTION_FIELDS as GRANT_REDEMPTION_FIELDS
from .grants import grants_coupon
from .times import instant, room_ref, window


def check_redemptions(checker: Checker, top: dict, tier_ids: list, rooms: dict) -> list[Redemption]:
    out, ids = [], []
    for index, path, obj in checker.entries(
        top,
        "redemptions",
        (
            "id",
            "name",
            "points",
            "cash",
            "tiers",
            "min_tier",
            "segments",
            "room",
            "window",
            "unlock",
            "stock",
            "member_limit",
            "low_stock",
            "release",
            *GRANT_REDEMPTION_FIELDS,
        ),
        required=("id", "points"),
    ):
        ident = checker.ident(obj, path, "id")
        ids.append((index, ident))
        pts = checker.integer(obj, path, "points", 0, MAX_POINTS)
        cash = checker.fen(obj, path, "cash", default=0)
        if pts == 0 and cash == 0 and "unlock" not in obj:
            checker.error(path + ("points",), "a redemption must cost points or cash, or be unlocked by a task")
        sessions = 0
        if "unlock" in obj:
            unlock = checker.mapping(
                obj["unlock"], path + ("unlock",), ("sessions_watched",), required=("sessions_watched",)
            )
            if unlock is not None:
                sessions = checker.integer(unlock, path + ("unlock",), "sessions_watched", 1, 100_000) or 0
        errors_before = len(checker.errors)
        tiers = tier_set(checker, obj, path, tier_ids, members_only=True)
        if VISITOR in tiers and len(checker.errors) == errors_before:
            checker.error(
                path + ("tiers" if "tiers" in obj else "min_tier",),
                "visitors have no points to spend; a redemption is for member tiers only",
            )
        audience = segment(checker, obj, path)
        room = room_ref(checker, obj, path, rooms)
        start, end = window(checker, obj, path, rooms)
        stock = checker.stock(obj, path)
        limit = checker.member_limit(obj, path)
        release = _release(checker, obj, path)
        if release is not None:
            stock = release.amount
        low = _low_stock(checker, obj, path, stock)
        grants = grants_coupon(checker, obj, path)
        if None in (ident, pts, cash):
            continue
        out.append(
            Redemption(
                id=ident,
                name=checker.text(obj, path, "name", default=ident) or ident,
                points=pts,
                cash=cash,
                tiers=tiers,
                room=room,
                window_from=start,
                window_to=end,
                sessions_watched=sessions,
                stock=stock,
                member_limit=limit,
                segment=audience,
                low_stock=low,
                release=release,
                grants_coupon=grants,
            )
        )
    checker.unique(ids, ("redemptions",), "id")
    return out


def _release(checker: Checker, obj: dict, path: tuple) -> Release | None:
    """The optional `release`: `every` day or week from `starts`, the stock becomes
    `amount` (or what is left plus `amount` with `roll_over`). Not with `stock`."""
    if "release" not in obj:
        return None
    where = path + ("release",)
    raw = checker.mapping(
        obj["release"], where, ("every", "amount", "starts", "roll_over"), required=("every", "amount", "starts")
    )
    if raw is None:
        return None
    if "stock" in obj:
        checker.error(path + ("stock",), "an item with a `release` has the stock its release gives; leave `stock` out")
    every = raw.get("every")
    if every not in RELEASE_PERIODS:
        checker.error(where + ("every",), f"must be one of {', '.join(RELEASE_PERIODS)}, not {every!r}")
    amount = checker.integer(raw, where, "amount", 1, MAX_STOCK)
    starts = instant(checker, raw["starts"], where + ("starts",)) if "starts" in raw else None
    roll_over = checker.flag(raw, where, "roll_over", False)
    if every not in RELEASE_PERIODS or amount is None or starts is None:
        return None
    return Release(every_seconds=RELEASE_PERIODS[every], amount=amount, starts=starts, roll_over=roll_over)


def _low_stock(checker: Checker, obj: dict, path: tuple, stock: int | None) -> int | None:
    """The optional `low_stock`: alert at or below this many left; below the stock."""
    low = checker.integer(obj, path, "low_stock", 0, MAX_STOCK - 1, default=None)
    if low is None:
        return None
    if stock is None:
        if "stock" not in obj and "release" not in obj:
            checker.error(path + ("low_stock",), "an item without a `stock` (or a `release`) never runs low")
        return None
    if low >= stock:
        what = "its release's amount" if "release" in obj else "its stock"
        checker.error(path + ("low_stock",), f"must be below {what} ({stock}), not {low}")
        return None
    return low
