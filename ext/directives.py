"""The Cython compiler directives of the evaluator, shared by setup.py and the annotate test.

Unchecked loops by default (bounds, wraparound and None checks off, C division); with
debug=True the checks come back on, for a build the test suite can run against.
"""


def directives(debug: bool = False) -> dict:
    return {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "nonecheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
