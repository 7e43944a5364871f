"""Totals and points, a stage of ext.evaluator: C functions only (ext/points.pxd), nothing for Python."""
