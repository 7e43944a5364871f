"""Choose coupons, a stage of ext.evaluator: C functions only (ext/coupons.pxd), nothing for Python."""
