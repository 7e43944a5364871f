"""The `redemptions` section: what members may get for points, cash or a watched task,
for which member tiers, in which room and window, with stock and per-member limits."""

from __future__ import annotations

from ...model import MAX_POINTS, VISITOR, Redemption
from .audience import segment, tier_set
from .common import Checker
from .times import room_ref, window


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
            )
        )
    checker.unique(ids, ("redemptions",), "id")
    return out
