"""pytest-benchmark figures of the engine (not part of the test suite; run with
`python -m pytest bench/test_bench_engine.py --benchmark-only`). `rights bench engine`
gives the same figures side by side in one run, with their targets."""

import pytest

from bench.engine_bench import GALA_NIGHT, MEMBER, random_carts
from bench.large_table import ensure_large_table
from engine import evaluators
from engine.demo import DEMO_RULES
from engine.rules.load import load_file

compiled = evaluators.get("compiled")
reference = evaluators.get("reference")


@pytest.fixture(scope="module")
def demo():
    return load_file(DEMO_RULES)


@pytest.fixture(scope="module")
def large():
    return load_file(ensure_large_table())


def cycling(evaluator, table, carts):
    state = {"k": 0}

    def one():
        cart = carts[state["k"] % len(carts)]
        state["k"] += 1
        return evaluator.quote(table, MEMBER, "gala", GALA_NIGHT, cart)

    return one


def test_compiled_demo_5_lines(benchmark, demo):
    benchmark(cycling(compiled, demo, random_carts(demo, 64, 5, seed=7)))


def test_reference_demo_5_lines(benchmark, demo):
    benchmark(cycling(reference, demo, random_carts(demo, 64, 5, seed=7)))


def test_compiled_demo_5_lines_to_dict(benchmark, demo):
    quote = cycling(compiled, demo, random_carts(demo, 64, 5, seed=7))
    benchmark(lambda: quote().to_dict())


def test_compiled_large_table_5_lines(benchmark, large):
    benchmark(cycling(compiled, large, random_carts(large, 512, 5, seed=11)))


def test_compiled_large_table_200_lines(benchmark, large):
    benchmark(cycling(compiled, large, random_carts(large, 32, 200, seed=13)))


def test_compile_large_table(benchmark):
    path = ensure_large_table()
    benchmark.pedantic(load_file, args=(path,), rounds=3, iterations=1)
