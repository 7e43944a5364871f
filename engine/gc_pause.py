"""Pausing the cyclic garbage collector while a large rule table is built.

Parsing, checking and compiling a table of 100,000 products makes millions of objects
that all live on: the collector would scan them again and again for nothing.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's former state after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
