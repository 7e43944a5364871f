"""Who a product, coupon or redemption is for: a set of tiers, written as `tiers: [...]`
or `min_tier: id` against the table's tiers (lowest first, visitor before them all), and
a segment of member tags, written as `segments: {any_of, all_of, none_of}`."""

from __future__ import annotations

from ...model import MAX_SEGMENT_TAGS, Segment
from .common import ID_RE, MAX_ID_LENGTH, Checker, did_you_mean, format_path

SEGMENT_KEYS = ("any_of", "all_of", "none_of")


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


def segment(checker: Checker, obj: dict, path: tuple) -> Segment | None:
    """The segment `obj` names under `segments`, or None when it names none (everyone) or
    has an error. Each tag is noted in `checker.segment_tags` (its first place) for the
    table's limit of MAX_SEGMENT_TAGS distinct tags, which `segment_limit` checks."""
    if "segments" not in obj:
        return None
    here = path + ("segments",)
    raw = checker.mapping(obj["segments"], here, SEGMENT_KEYS)
    if raw is None:
        return None
    errors_before = len(checker.errors)
    lists: dict = {}
    for key in SEGMENT_KEYS:
        listed = raw.get(key, [])
        if not isinstance(listed, list):
            checker.error(here + (key,), "must be a list of tags")
            listed = []
        seen: dict = {}
        for index, tag in enumerate(listed):
            if type(tag) is not str or len(tag) > MAX_ID_LENGTH or not ID_RE.match(tag):
                checker.error(
                    here + (key, index),
                    f"{tag!r} is not a tag: a tag starts with a letter or digit and uses only letters, "
                    f"digits and _ . : - (at most {MAX_ID_LENGTH} characters), such as family-0-3",
                )
            elif tag in seen:
                checker.error(
                    here + (key, index), f"{tag!r} is listed twice (also at {format_path(here + (key, seen[tag]))})"
                )
            else:
                seen[tag] = index
                checker.segment_tags.setdefault(tag, here + (key, index))
        lists[key] = seen
    if not any(lists.values()) and len(checker.errors) == errors_before:
        checker.error(here, "names no tags; give at least one of any_of, all_of, none_of")
    for tag, index in lists["none_of"].items():
        if tag in lists["all_of"]:
            checker.error(
                here + ("none_of", index),
                f"{tag!r} is in both all_of and none_of: no member could be in this segment",
            )
    if lists["any_of"] and lists["any_of"].keys() <= lists["none_of"].keys():
        checker.error(
            here + ("any_of",),
            "every tag of any_of is also in none_of: no member could be in this segment",
        )
    if len(checker.errors) != errors_before:
        return None
    return Segment(
        any_of=frozenset(lists["any_of"]), all_of=frozenset(lists["all_of"]), none_of=frozenset(lists["none_of"])
    )


def segment_limit(checker: Checker) -> None:
    """At most MAX_SEGMENT_TAGS distinct tags in one table (each is one bit of a member's
    mask); every tag past the limit, in sorted order, is reported where it first appears."""
    tags = sorted(checker.segment_tags)
    for tag in tags[MAX_SEGMENT_TAGS:]:
        checker.error(
            checker.segment_tags[tag],
            f"{tag!r} is tag {tags.index(tag) + 1} of {len(tags)} distinct tags the segments name; "
            f"a table may name at most {MAX_SEGMENT_TAGS}",
        )
