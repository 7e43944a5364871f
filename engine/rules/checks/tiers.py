"""The `tiers` section: the member tiers, lowest first, each with its points multiplier.

Visitor, the tier of non-members, is implicit: it comes before every listed tier. A
tier's `reach` (tier progression) is read with the `progression` section
(checks/progression.py), which defines the tasks it names.
"""

from __future__ import annotations

from ...model import MAX_TIERS, VISITOR, Tier
from .common import Checker


def check_tiers(checker: Checker, top: dict) -> list[Tier]:
    out, ids = [], []
    raw = checker.items(top, (), "tiers", required=True)
    if not raw and "tiers" in top:
        checker.error(("tiers",), "must list at least one tier, lowest first")
    if len(raw) > MAX_TIERS:
        checker.error(("tiers",), f"at most {MAX_TIERS} tiers")
    for index, item in enumerate(raw):
        path = ("tiers", index)
        obj = checker.mapping(item, path, ("id", "name", "points_multiplier", "reach"), required=("id",))
        if obj is None:
            continue
        ident = checker.ident(obj, path, "id")
        if ident == VISITOR:
            checker.error(path + ("id",), "visitor is the implicit tier of non-members; do not list it")
            ident = None
        ids.append((index, ident))
        mult = checker.multiplier(obj, path, "points_multiplier", 100)
        if ident is not None:
            out.append(
                Tier(id=ident, name=checker.text(obj, path, "name", default=ident) or ident, points_multiplier=mult)
            )
    checker.unique(ids, ("tiers",), "id")
    return out
