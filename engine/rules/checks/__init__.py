"""The checks of a rule table, one module per section of the format.

    common.py       Checker (collects errors, walks a section's entries, checks single fields),
                    RuleError, RuleTableError, format_path, the id and UTC offset patterns
    audience.py     `tiers` / `min_tier`: who a product, coupon or redemption is for
    times.py        instants, room-relative times, a room binding and its window
    tiers.py  products.py  rooms.py  coupons.py  points.py  redemptions.py
                    one section each: `check_<section>(checker, top, ...)` returns its model objects

A new section gets its own module here with a `check_<section>` function, called from
`engine/rules/validate.py` after the sections it refers to, and its fields in
`engine/rules/schema.py` (tests/test_schema.py fails until both agree).
"""
