"""Coupons bought with points: a coupon's `issue` and `valid_days`, and a redemption's
`grants_coupon`, which must name an `issue: granted` coupon of the same table."""

from __future__ import annotations

from ...model import COUPON_ISSUES, MAX_GRANT_DAYS, Coupon, Redemption
from .common import Checker, did_you_mean

COUPON_FIELDS = ("issue", "valid_days")
REDEMPTION_FIELDS = ("grants_coupon",)


def coupon_issue(checker: Checker, obj: dict, path: tuple) -> tuple:
    """(issue, valid_days): `auto` (the default) has no validity of its own; `granted`
    needs `valid_days`, the days a grant holds counting the day it is made."""
    issue = obj.get("issue", "auto")
    if issue not in COUPON_ISSUES:
        checker.error(
            path + ("issue",),
            f"must be one of {', '.join(COUPON_ISSUES)}, not {issue!r}{did_you_mean(str(issue), COUPON_ISSUES)}",
        )
        return "auto", None
    if issue == "auto":
        if "valid_days" in obj:
            checker.error(path + ("valid_days",), "only a coupon with issue: granted has valid_days")
        return "auto", None
    days = checker.integer(obj, path, "valid_days", 1, MAX_GRANT_DAYS, default=None)
    if days is None and "valid_days" not in obj:
        checker.error(path + ("valid_days",), "is required for issue: granted (how many days a grant holds)")
    return "granted", days


def grants_coupon(checker: Checker, obj: dict, path: tuple) -> str | None:
    """The optional `grants_coupon` of a redemption, as an id (checked against the
    coupons by check_grants)."""
    if "grants_coupon" not in obj:
        return None
    return checker.ident(obj, path, "grants_coupon")


def check_grants(checker: Checker, top: dict, coupons: list[Coupon], redemptions: list[Redemption]) -> None:
    """Every `grants_coupon` names a coupon of the table with issue: granted."""
    by_id = {c.id: c for c in coupons}
    raw = top.get("redemptions")
    if not isinstance(raw, list):
        return
    for index, obj in enumerate(raw):
        if not isinstance(obj, dict) or "grants_coupon" not in obj:
            continue
        target = obj["grants_coupon"]
        target = str(target) if isinstance(target, int) and not isinstance(target, bool) else target
        if not isinstance(target, str):
            continue  # reported by grants_coupon
        path = ("redemptions", index, "grants_coupon")
        coupon = by_id.get(target)
        if coupon is None:
            checker.error(path, f"unknown coupon {target!r}{did_you_mean(target, list(by_id))}")
        elif coupon.issue != "granted":
            checker.error(path, f"coupon {target!r} is issued to every eligible member; grant only issue: granted ones")
