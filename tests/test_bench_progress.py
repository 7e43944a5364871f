"""The benchmarks say each round on stderr, always, and keep stdout for their result."""

import contextlib
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from bench import api_bench, engine_bench
from bench.progress import report


def test_a_round_is_one_line_on_stderr(capsys):
    report("api", 2, 3, "eligibility", "14,210 req/s")
    report("rush", 1, 20, "sold", "100", step="run")
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == "bench api: round 2/3 eligibility 14,210 req/s\nbench rush: run 1/20 sold 100\n"


@pytest.mark.slow  # the engine benchmark, quick form: a few seconds (and the large table, if not there yet)
def test_bench_engine_says_each_round_on_stderr_and_prints_only_its_json_on_stdout():
    out = subprocess.run(
        [sys.executable, "-m", "rights", "bench", "engine", "--quick", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rounds = [line for line in out.stderr.splitlines() if line.startswith("bench engine: ")]
    assert [line.split()[3] for line in rounds] == ["1/3", "2/3", "3/3"], out.stderr
    assert all(line.split()[2] == "round" for line in rounds)
    assert "large table compiled in" in rounds[0] and "us compiled" in rounds[1]
    assert out.stdout.count("\n") == 1  # one JSON object, one line, as before
    figures = json.loads(out.stdout)
    assert set(figures) == {
        "evaluator",
        "compiled_quote_us_p50",
        "compiled_quote_us_p99",
        "reference_quote_us_p50",
        "speedup",
        "quote_to_dict_us_p50",
        "large_table_quote_us_p50",
        "large_table_quote_us_p99",
        "large_over_demo",
        "large_same_shape_quote_us_p50",
        "large_same_shape_over_demo",
        "large_table_compile_s",
        "demo_candidates_p50",
        "large_table_candidates_p50",
        "large_table_skus",
        "large_table_coupons",
        "cart_200_lines_us_p50",
        "cart_200_lines_us_p99",
        "cart_200_lines_demo_us_p50",
        "targets",
    }
    assert set(figures["targets"]) == set(engine_bench.TARGETS)


def test_bench_api_says_each_route_of_each_round(monkeypatch, capsys):
    """The API benchmark's loop, wrk and the server stood in for: a line per route per round,
    in the order they ran, and nothing on stdout."""

    def wrk(url, seconds, connections, script=None):
        rps, p99 = (16000.0, 9.8) if url.endswith("/v1/noop") else (14210.4, 11.418)
        if url.startswith("http://127.0.0.1:8/"):
            rps, p99 = (30000.0, 4.0)
        return {"rps": rps, "requests": 1000, "p50_ms": 3.1, "p99_ms": p99, "non_2xx": 0, "socket_errors": ""}

    @contextlib.contextmanager
    def server(workers):
        yield "http://127.0.0.1:9", 9

    @contextlib.contextmanager
    def raw(answer, workers):
        assert answer == b"{}"
        yield "http://127.0.0.1:8", 8

    spent = {8: 0.0, 9: 0.0}

    def cpu(pid):  # each reading of a tree: 20 ms more for the raw app's, 50 ms for the API's
        spent[pid] += 0.02 if pid == 8 else 0.05
        return spent[pid]

    metrics = (
        "# TYPE rights_engine_seconds histogram\n"
        "rights_engine_seconds_sum 0.5\nrights_engine_seconds_count 100\n"
        "# TYPE rights_request_seconds histogram\n"
        'rights_request_seconds_sum{route="/v1/eligibility"} 2.0\n'
        'rights_request_seconds_count{route="/v1/eligibility"} 100\n'
    )
    monkeypatch.setattr(api_bench.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(api_bench, "demo_process", server)
    monkeypatch.setattr(api_bench, "raw_server", raw)
    monkeypatch.setattr(api_bench, "cpu_seconds", cpu)
    monkeypatch.setattr(api_bench, "_post", lambda url, body, now: b"{}")
    monkeypatch.setattr(api_bench, "_wrk", wrk)
    monkeypatch.setattr(api_bench, "_get", lambda url: metrics.encode())
    monkeypatch.setattr(api_bench.time, "sleep", lambda seconds: None)
    figures = api_bench.run(seconds=1, rounds=2)
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.splitlines() == [
        "bench api: round 1/2 no-op 16,000 req/s, p99 9.80 ms",
        "bench api: round 1/2 eligibility 14,210 req/s, p99 11.42 ms",
        "bench api: round 1/2 raw ASGI 30,000 req/s, p99 4.00 ms",
        "bench api: round 2/2 no-op 16,000 req/s, p99 9.80 ms",
        "bench api: round 2/2 eligibility 14,210 req/s, p99 11.42 ms",
        "bench api: round 2/2 raw ASGI 30,000 req/s, p99 4.00 ms",
    ]
    assert figures["rounds"] == 2 and figures["errors"] == 0
    # CPU per request: the tree's seconds across each round over the requests wrk completed
    assert figures["raw_asgi_cpu_us"] == 20.0 and figures["eligibility_cpu_us"] == 50.0
    assert figures["eligibility_over_raw_cpu"] == 2.5


@pytest.mark.parametrize(
    "result, said",
    [
        ({"rps": 14210.4, "p99_ms": 11.418, "non_2xx": 0}, "14,210 req/s, p99 11.42 ms"),
        ({"rps": 980.0, "p99_ms": None, "non_2xx": 3}, "980 req/s, 3 errors"),
    ],
)
def test_a_wrk_round_in_a_few_words(result, said):
    assert api_bench.headline(result) == said
