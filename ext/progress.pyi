"""Tier progression, a stage of ext.evaluator: C functions only (ext/progress.pxd), nothing for Python."""
