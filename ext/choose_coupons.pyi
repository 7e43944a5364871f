"""Choose coupons, a stage of ext.evaluator: C functions only (ext/choose_coupons.pxd), nothing for Python."""
