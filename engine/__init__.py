"""rights-engine: the rule tables, their compiler, and the evaluators that quote a cart.

Importing the package loads the evaluator that will serve quotes (`engine.EVALUATOR`
names it): the compiled one unless RIGHTS_EVALUATOR=reference asks for the reference.
A missing compiled module is an ImportError here, never a silent fallback.
"""

from . import evaluators as _evaluators

evaluator = _evaluators.get()
EVALUATOR: str = evaluator.NAME

__all__ = ["evaluator", "EVALUATOR"]
