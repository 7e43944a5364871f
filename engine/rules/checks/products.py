"""The `products` section: skus, base prices, tier prices, who may buy, per-member limits.

A catalogue may hold 100,000 products, so the common product is checked in one fast pass
(`_plain_product`); anything unusual goes the long way, which reports every error.
"""

from __future__ import annotations

import functools
from typing import Any

from ...model import MAX_PRICE_FEN, VISITOR, Product
from .audience import segment, tier_set
from .common import ID_RE, MAX_ID_LENGTH, MAX_MEMBER_LIMIT, MAX_NAME_LENGTH, Checker, did_you_mean

_PRODUCT_FIELDS = (
    "sku",
    "name",
    "category",
    "price",
    "tier_prices",
    "tiers",
    "min_tier",
    "segments",
    "member_limit",
)
_PRODUCT_FIELD_SET = frozenset(_PRODUCT_FIELDS)


def check_products(checker: Checker, top: dict, tier_ids: list) -> list[Product]:
    """Every valid product; every sku written, valid or not, goes to `checker.declared_skus`."""
    out, ids = [], []
    everyone = frozenset(tier_ids)
    for index, item in enumerate(checker.items(top, (), "products")):
        if isinstance(item, dict) and isinstance(item.get("sku"), (str, int)):
            checker.declared_skus.add(str(item["sku"]))
        product = _plain_product(item, tier_ids, everyone)
        if product is not None:
            out.append(product)
            ids.append((index, product.sku))
            continue
        path = ("products", index)
        obj = checker.mapping(item, path, _PRODUCT_FIELDS, required=("sku", "price"))
        if obj is None:
            continue
        sku = checker.ident(obj, path, "sku")
        ids.append((index, sku))
        price = checker.fen(obj, path, "price")
        tier_prices = {}
        if "tier_prices" in obj:
            raw = checker.keyed(obj, path, "tier_prices", "tier id to price in fen")
            for tier in raw:
                if tier not in tier_ids[1:]:
                    checker.error(
                        path + ("tier_prices", tier),
                        f"unknown tier {tier!r}{did_you_mean(tier, tier_ids[1:])}; tiers are {', '.join(tier_ids[1:])}",
                    )
                if tier in tier_ids[1:]:
                    value = checker.fen(raw, path + ("tier_prices",), tier)
                    if value is not None and price is not None and value > price:
                        checker.error(
                            path + ("tier_prices", tier),
                            f"{value} is above the base price {price}; it would never apply",
                        )
                    elif value is not None:
                        tier_prices[tier] = value
        allowed = tier_set(checker, obj, path, tier_ids)
        audience = segment(checker, obj, path)
        limit = checker.member_limit(obj, path)
        if sku is not None and price is not None:
            out.append(
                Product(
                    sku=sku,
                    name=checker.text(obj, path, "name", default=sku) or sku,
                    category=checker.text(obj, path, "category", default="", limit=MAX_ID_LENGTH) or "",
                    price=price,
                    tier_prices=tier_prices,
                    allowed_tiers=allowed,
                    member_limit=limit,
                    segment=audience,
                )
            )
    checker.unique(ids, ("products",), "sku")
    return out


@functools.lru_cache(maxsize=256)
def _upward(tier_ids: tuple, lowest: str) -> frozenset:
    """`lowest` and every tier above it (one shared set per tier, not one per product)."""
    return frozenset(tier_ids[tier_ids.index(lowest) :])


def _plain_product(item: Any, tier_ids: list, everyone: frozenset) -> Product | None:
    """The common product, checked in one pass: a large catalogue validates in a fraction of
    the time. Anything unusual returns None and goes the long way, which reports errors."""
    if type(item) is not dict or not item.keys() <= _PRODUCT_FIELD_SET or "tiers" in item or "segments" in item:
        return None
    sku, price = item.get("sku"), item.get("price")
    name, category = item.get("name", sku), item.get("category", "")
    if (
        type(sku) is not str
        or not 0 < len(sku) <= MAX_ID_LENGTH
        or not ID_RE.match(sku)
        or type(price) is not int
        or not 0 <= price <= MAX_PRICE_FEN
        or type(name) is not str
        or len(name) > MAX_NAME_LENGTH
        or type(category) is not str
        or len(category) > MAX_ID_LENGTH
    ):
        return None
    tier_prices = item.get("tier_prices", {})
    if type(tier_prices) is not dict:
        return None
    for tier, value in tier_prices.items():
        if tier not in everyone or tier == VISITOR or type(value) is not int or not 0 <= value <= price:
            return None
    allowed = everyone
    if "min_tier" in item:
        if type(item["min_tier"]) is not str or item["min_tier"] not in everyone:
            return None
        allowed = _upward(tuple(tier_ids), item["min_tier"])
    limit = item.get("member_limit")
    if "member_limit" in item and (type(limit) is not int or not 1 <= limit <= MAX_MEMBER_LIMIT):
        return None
    return Product(
        sku=sku,
        name=name or sku,
        category=category,
        price=price,
        tier_prices=tier_prices,
        allowed_tiers=allowed,
        member_limit=limit,
    )
