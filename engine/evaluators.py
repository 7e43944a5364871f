"""Choosing the evaluator: the compiled one by default, the reference only when asked.

`RIGHTS_EVALUATOR=reference` (or `get("reference")`) selects the pure-Python reference.
Otherwise the compiled module must import; if it does not, this fails loudly rather
than quietly serving checkout from an evaluator a hundred times slower.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import reference

NAMES = ("compiled", "reference")


class CompiledMissing(ImportError):
    pass


class UnknownEvaluator(ValueError):
    """An evaluator name that is not one of NAMES: the caller's setting (exit 2 from `rights`)."""

    exit_code = 2


def _compiled() -> ModuleType:
    try:
        from ext import evaluator
    except ImportError as exc:
        raise CompiledMissing(
            "the compiled evaluator (ext.evaluator) is not built: run `pip install -e .` "
            "(or `python setup.py build_ext --inplace`), or set RIGHTS_EVALUATOR=reference "
            f"to use the slow reference evaluator on purpose ({exc})"
        ) from exc
    return evaluator


def get(name: str | None = None) -> ModuleType:
    """The evaluator module named, or the one RIGHTS_EVALUATOR names, or the compiled one."""
    asked = name or os.environ.get("RIGHTS_EVALUATOR") or "compiled"
    if asked == "compiled":
        return _compiled()
    if asked == "reference":
        return reference
    said = f"evaluator {asked!r}" if name else f"RIGHTS_EVALUATOR={asked!r}"
    raise UnknownEvaluator(f"{said}: unknown evaluator; choose one of {', '.join(NAMES)}")
