"""Builds the compiled evaluator: one extension module per ext/*.pyx (the Python face in
ext/evaluator.pyx, each stage of a quote in its own module, cimporting one another).

The constant .pxd files are first rewritten from engine/ (ext/generate_contract.py), so
the numbers compiled in are the engine's. RIGHTS_DEBUG=1 builds with bounds and
wraparound checks on, so the test suite can run the unchecked loops' checked twin;
RIGHTS_ANNOTATE=1 also writes the `cython -a` HTML reports next to the sources.
"""

import os
import sys
from pathlib import Path

import numpy  # noqa: F401  (build requirement: the arrays' buffer layout)
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("RIGHTS_DEBUG") == "1"
HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(HERE))
from ext.directives import directives  # noqa: E402
from ext.generate_contract import write_all  # noqa: E402

for written in write_all():
    print(f"rewrote {written} from engine/")

SYMBOLS = bool(os.environ.get("RIGHTS_SYMBOLS")) or DEBUG
extensions = [
    Extension(
        f"ext.{source.stem}",
        [f"ext/{source.name}"],
        extra_compile_args=["-O0" if DEBUG else "-O3", "-g" if SYMBOLS else "-g0"],
        define_macros=[("RIGHTS_DEBUG", "1")] if DEBUG else [],
    )
    for source in sorted((HERE / "ext").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives(DEBUG),
        annotate=os.environ.get("RIGHTS_ANNOTATE") == "1",
        build_dir="build/cython-debug" if DEBUG else None,  # never overwrite the optimised C
    ),
)
