"""`cython -a` of every compiled module: each function that runs without the GIL (the whole
hot path: pricing, candidates, checks, search, allocation, points, redemptions) has no line
that calls into Python."""

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ext.directives import directives

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "ext").glob("*.pyx"))


def nogil_functions(lines: list) -> list:
    """(first, last) line numbers of each top-level `cdef ... nogil` function, whose
    signature may run over several lines."""
    spans, start = [], None
    for number, line in enumerate(lines, start=1):
        top_level = line and not line[0].isspace()
        if top_level and start:
            spans.append((start, number - 1))
            start = None
        if top_level and line.startswith("cdef") and "(" in line:
            signature, k = line, number
            while not signature.rstrip().endswith(":") and k < len(lines):
                signature += lines[k]
                k += 1
            if "nogil" in signature:
                start = number
    if start:
        spans.append((start, len(lines)))
    return spans


def test_the_hot_path_is_all_annotated():
    """The stages' nogil functions are all found (a parser change would silently skip them)."""
    counts = {source.stem: len(nogil_functions(source.read_text().split("\n"))) for source in SOURCES}
    assert sum(counts.values()) >= 20, counts
    for stage in ("price_lines", "choose_coupons", "coupon_search", "points", "redemptions", "evaluator"):
        assert counts[stage] >= 1, stage


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: source.stem)
def test_hot_path_has_no_python_interaction(source, tmp_path):
    options = ",".join(f"{k}={v}" for k, v in directives().items() if k != "language_level")
    subprocess.run(  # this python's cython (a dev dependency), whether or not its venv is on PATH
        [
            sys.executable,
            "-m",
            "cython",
            "-3",
            "-a",
            "-X",
            options,
            "-I",
            str(ROOT),
            str(source),
            "-o",
            str(tmp_path / "ev.c"),
        ],
        check=True,
        capture_output=True,
    )
    report = (tmp_path / "ev.html").read_text()
    scored = re.findall(r'<pre class="cython line score-(\d+)"[^>]*>.<span class="">(\d+)</span>: (.*?)</pre>', report)
    assert scored, "the annotate report's format changed"
    spans = nogil_functions(source.read_text().split("\n"))
    noisy = [
        f"{number}: {html.unescape(re.sub('<[^>]+>', '', code)).strip()}"
        for score, number, code in scored
        if int(score) > 0 and any(a <= int(number) <= b for a, b in spans)
    ]
    assert noisy == []
