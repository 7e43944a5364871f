"""Builds the compiled evaluator (ext/evaluator.pyx).

RIGHTS_DEBUG=1 builds it with bounds and wraparound checks on, so the test suite can
run the unchecked loops' checked twin; RIGHTS_ANNOTATE=1 also writes the `cython -a`
HTML report next to the source.
"""
import os
import sys

import numpy  # noqa: F401  (build requirement: the arrays' buffer layout)
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("RIGHTS_DEBUG") == "1"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ext.directives import directives  # noqa: E402

extensions = [
    Extension(
        "ext.evaluator",
        ["ext/evaluator.pyx"],
        extra_compile_args=["-O3" if not DEBUG else "-O0", "-g" if os.environ.get("RIGHTS_SYMBOLS") or DEBUG else "-g0"],
        define_macros=[("RIGHTS_DEBUG", "1")] if DEBUG else [],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives(DEBUG),
        annotate=os.environ.get("RIGHTS_ANNOTATE") == "1",
        build_dir="build/cython-debug" if DEBUG else None,  # never overwrite the optimised C
    ),
)
