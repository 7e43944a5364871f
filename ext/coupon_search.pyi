"""The coupon search, a stage of ext.evaluator: C functions only (ext/coupon_search.pxd), nothing for Python."""
