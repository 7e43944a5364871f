"""Coupons a member owns: the grants a redemption with `grants_coupon` makes, what a quote
knows of them, and their list (GET /v1/members/{id}/coupons).

Storage, in the member's slot (lua/grants.lua does every change):

    cg:{<member>}    hash   a record per grant under `g<n>`, and the counter `n`:
                            "<coupon> <granted> <expires> <v|u> <order or -> <changed>"
    m:{<member>}     field  `g:<coupon>`: the expiries of the coupon's unused grants, comma
                            separated: what a quote reads with the rest of the member

A grant holds while now < expires (engine/owned.py: the end of its last local day). A
member keeps at most MAX_GRANTS records; a record goes GRANT_RETENTION_DAYS after it
lapses, used or not (pruned by the member's next grant), so a refund within that time
still finds the grant its order used. An order uses the unused grant that lapses first;
its refund gives the grant back only while it still holds.
"""

from __future__ import annotations

from engine.owned import grant_expires

MAX_GRANTS = 200  # records a member keeps (valid, used or lapsed within the retention)
GRANT_RETENTION_DAYS = 90  # a record is kept this long after its grant lapses
OWNED_PREFIX = "g:"  # the member hash's field of a coupon's unused grants


def owned_counts(expiries: dict, now: int) -> dict:
    """{coupon id: unused grants still holding at `now`} from the member hash's `g:` lists."""
    out = {}
    for coupon, listed in expiries.items():
        count = sum(1 for at in listed if at > now)
        if count:
            out[coupon] = count
    return out


def parse_expiries(text: str) -> list:
    """A `g:<coupon>` field's expiries; a part that does not parse is left out."""
    return [int(part) for part in text.split(",") if part.isdigit()]


def grant_list(raw: dict, now: int) -> list:
    """The grants hash (HGETALL's answer) as the route's list, oldest grant first."""
    out: list[dict] = []
    for key, value in raw.items():
        key = key.decode() if isinstance(key, bytes) else key
        value = value.decode() if isinstance(value, bytes) else value
        parts = value.split(" ")
        if not key.startswith("g") or not key[1:].isdigit() or len(parts) != 6:
            continue
        coupon, granted, expires, state, order, changed = parts
        if state == "u":
            shown = "used"
        else:
            shown = "valid" if int(expires) > now else "expired"
        out.append(
            {
                "id": key,
                "coupon": coupon,
                "granted": int(granted),
                "expires": int(expires),
                "state": shown,
                "order_id": order if state == "u" else None,
                "used_at": int(changed) if state == "u" else None,
            }
        )
    out.sort(key=lambda g: int(str(g["id"])[1:]))
    return out


def expiry_of_grant(table, item, now: int) -> int:
    """When a grant made now by redeeming `item` lapses; 0 for an item that grants nothing."""
    if item.grants_coupon is None:
        return 0
    coupon = table.model.coupons[table.coupon_index[item.grants_coupon]]
    return grant_expires(now, coupon.valid_days, table.model.utc_offset_seconds)
