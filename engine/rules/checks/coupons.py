"""The `coupons` section: the four kinds and their amounts, what a coupon applies to
(`scope`), who may use it, its room and window, limits, stock, and how coupons stack."""

from __future__ import annotations

from dataclasses import dataclass

from ...model import COUPON_KINDS, Coupon
from .audience import segment, tier_set
from .common import Checker, did_you_mean
from .grants import COUPON_FIELDS as GRANT_COUPON_FIELDS
from .grants import coupon_issue
from .times import room_ref, window

_COUPON_FIELDS = (
    "id",
    "name",
    "kind",
    "percent_off",
    "max_discount",
    "amount",
    "threshold",
    "price",
    "units",
    "scope",
    "tiers",
    "min_tier",
    "segments",
    "room",
    "window",
    "member_limit",
    "stock",
    "stack_group",
    "exclusive",
    "priority",
    *GRANT_COUPON_FIELDS,
)
_KIND_FIELDS = {
    "percent_off": ("percent_off", "max_discount"),
    "amount_off": ("amount",),
    "threshold_off": ("threshold", "amount"),
    "fixed_price": ("price", "units"),
}
_EVERY_KIND_FIELD = {f for fields in _KIND_FIELDS.values() for f in fields}


def check_coupons(
    checker: Checker, top: dict, tier_ids: list, skus: dict, categories: set, rooms: dict
) -> list[Coupon]:
    out, ids = [], []
    for index, path, obj in checker.entries(top, "coupons", _COUPON_FIELDS, required=("id", "kind")):
        ident = checker.ident(obj, path, "id")
        ids.append((index, ident))
        kind = obj.get("kind")
        if "kind" in obj and kind not in COUPON_KINDS:
            checker.error(
                path + ("kind",),
                f"unknown kind {kind!r}{did_you_mean(kind, COUPON_KINDS)}; kinds are {', '.join(COUPON_KINDS)}",
            )
            kind = None
        amounts = check_amounts(checker, obj, path, kind) if kind else None
        scope = check_scope(checker, obj, path, skus, categories)
        tiers = tier_set(checker, obj, path, tier_ids)
        audience = segment(checker, obj, path)
        room = room_ref(checker, obj, path, rooms)
        start, end = window(checker, obj, path, rooms)
        member_limit = checker.member_limit(obj, path)
        stock = checker.stock(obj, path)
        group = obj.get("stack_group")
        if group is not None and (not isinstance(group, str) or not group):
            checker.error(path + ("stack_group",), "must be a non-empty name")
            group = None
        priority = checker.integer(obj, path, "priority", -1_000_000, 1_000_000, default=0)
        exclusive = checker.flag(obj, path, "exclusive", False)
        issue, valid_days = coupon_issue(checker, obj, path)
        if ident is None or kind is None or scope is None or priority is None or amounts is None:
            continue
        out.append(
            Coupon(
                id=ident,
                name=checker.text(obj, path, "name", default=ident) or ident,
                kind=kind,
                percent_off=amounts.percent_off,
                max_discount=amounts.max_discount,
                amount=amounts.amount,
                threshold=amounts.threshold,
                price=amounts.price,
                units=amounts.units,
                scope_all=scope[0],
                scope_skus=scope[1],
                scope_categories=scope[2],
                tiers=tiers,
                room=room,
                window_from=start,
                window_to=end,
                member_limit=member_limit,
                stock=stock,
                stack_group=group,
                exclusive=exclusive,
                priority=priority,
                segment=audience,
                issue=issue,
                valid_days=valid_days,
            )
        )
    checker.unique(ids, ("coupons",), "id")
    return out


@dataclass(frozen=True)
class Amounts:
    """The values of a coupon's kind; the fields its kind does not use keep these defaults."""

    percent_off: int = 0
    max_discount: int | None = None
    amount: int = 0
    threshold: int = 0
    price: int = 0
    units: int = 1


def check_amounts(checker: Checker, obj: dict, path: tuple, kind: str) -> Amounts | None:
    """The values of a coupon of `kind`, or None when one it needs has an error; the fields
    of the other kinds are refused."""
    for key in sorted(_EVERY_KIND_FIELD - set(_KIND_FIELDS[kind])):
        if key in obj:
            checker.error(path + (key,), f"does not belong to a {kind} coupon")
    if kind == "percent_off":
        percent = checker.integer(obj, path, "percent_off", 1, 100)
        cap = checker.fen(obj, path, "max_discount", default=None, lo=1)
        return None if percent is None else Amounts(percent_off=percent, max_discount=cap)
    if kind == "amount_off":
        amount = checker.fen(obj, path, "amount", lo=1)
        return None if amount is None else Amounts(amount=amount)
    if kind == "threshold_off":
        threshold = checker.fen(obj, path, "threshold", lo=1)
        amount = checker.fen(obj, path, "amount", lo=1)
        if threshold is None or amount is None:
            return None
        if amount > threshold:
            checker.error(path + ("amount",), "saves more than the threshold it asks to spend")
        return Amounts(amount=amount, threshold=threshold)
    price = checker.fen(obj, path, "price")
    units = checker.integer(obj, path, "units", 1, 9999, default=1)
    return None if price is None or units is None else Amounts(price=price, units=units)


def check_scope(checker: Checker, obj: dict, path: tuple, skus: dict, categories: set) -> tuple | None:
    """(everything, skus, categories) a coupon applies to: `scope: all`, or listed skus and categories."""
    value = obj.get("scope", "all")
    if value == "all":
        return (True, frozenset(), frozenset())
    raw = checker.mapping(value, path + ("scope",), ("skus", "categories"))
    if raw is None:
        return None
    if not raw:
        checker.error(path + ("scope",), "names no skus and no categories; write scope: all for everything")
        return None
    found = {}
    for key, known, what in (("skus", skus, "sku"), ("categories", categories, "category")):
        listed = raw.get(key, [])
        if not isinstance(listed, list):
            checker.error(path + ("scope", key), f"must be a list of {key}")
            listed = []
        for index, name in enumerate(listed):
            if str(name) not in known:
                checker.error(
                    path + ("scope", key, index),
                    f"unknown sku {name!r}{did_you_mean(name, known)}"
                    if what == "sku"
                    else f"no product has category {name!r}{did_you_mean(name, known)}",
                )
        found[key] = frozenset(str(n) for n in listed if str(n) in known)
    if not raw.get("skus") and not raw.get("categories"):
        checker.error(path + ("scope",), "names no skus and no categories; write scope: all for everything")
        return None
    return (False, found["skus"], found["categories"])
