"""Lines and price layers, a stage of ext.evaluator: C functions only (ext/price_lines.pxd), nothing for Python."""
