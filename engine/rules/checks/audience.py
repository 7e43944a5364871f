"""Who a product, coupon or redemption is for: a set of tiers, written as `tiers: [...]`
or `min_tier: id` against the table's tiers (lowest first, visitor before them all)."""

from __future__ import annotations

from .common import Checker, did_you_mean


def tier_set(checker: Checker, obj: dict, path: tuple, tier_ids: list, members_only: bool = False) -> frozenset:
    """The tiers `obj` names, or everyone (visitors included) when it names none; every
    member tier when `members_only` (a redemption spends points, which only members have).
    """
    if "tiers" in obj and "min_tier" in obj:
        checker.error(path + ("min_tier",), "give either tiers or min_tier, not both")
        return frozenset(tier_ids)
    if "min_tier" in obj:
        tier = obj["min_tier"]
        if type(tier) is not str or tier not in tier_ids:
            checker.error(
                path + ("min_tier",),
                f"unknown tier {tier!r}{did_you_mean(tier, tier_ids)}; tiers are {', '.join(tier_ids)}",
            )
            return frozenset(tier_ids)
        return frozenset(tier_ids[tier_ids.index(tier) :])
    if "tiers" in obj:
        listed = obj["tiers"]
        if not isinstance(listed, list) or not listed:
            checker.error(path + ("tiers",), "must be a non-empty list of tier ids")
            return frozenset(tier_ids)
        for index, tier in enumerate(listed):
            if type(tier) is not str or tier not in tier_ids:
                checker.error(
                    path + ("tiers", index),
                    f"unknown tier {tier!r}{did_you_mean(tier, tier_ids)}; tiers are {', '.join(tier_ids)}",
                )
        return frozenset(t for t in listed if type(t) is str and t in tier_ids)
    return frozenset(tier_ids[1:] if members_only else tier_ids)
