"""Redemptions, a stage of ext.evaluator: C functions only (ext/redemptions.pxd), nothing for Python."""
