"""A benchmark stopped as production stops a process (SIGTERM) stops what it started."""

from __future__ import annotations

import os
import signal
import time

import pytest
from serving import Command, descendants, gone, wait_until


@pytest.mark.parametrize("after", [0.0, 3.0], ids=["while-its-redis-starts", "while-it-runs"])
def test_sigterm_stops_a_benchmark_and_everything_it_started(after, tmp_path):
    bench = Command(tmp_path / "bench.log", "bench", "rush", "--runs", "1000")
    started: list = []
    try:
        started = wait_until(bench.redis_servers, message="the benchmark's redis-server")
        time.sleep(after)
        os.kill(bench.pid, signal.SIGTERM)
        assert bench.process.wait(60) == 128 + signal.SIGTERM
        assert "stopped by SIGTERM" in bench.said()
        wait_until(lambda: all(gone(pid) for pid in started), message="its redis-server gone")
    finally:
        bench.kill_all(started)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGQUIT], ids=["KILL", "QUIT"])
def test_a_benchmark_killed_outright_leaves_nothing_running(sig, tmp_path):
    """No handler runs on SIGKILL (nor, by default, SIGQUIT): what the benchmark started
    stops by itself (each child asked the kernel for SIGTERM when the benchmark dies)."""
    bench = Command(tmp_path / "bench.log", "bench", "rush", "--runs", "1000")
    started: list = []
    try:
        started = wait_until(
            lambda: (
                (tree := descendants(bench.pid))
                and any("rights" in cmdline and "serve" in cmdline for _, cmdline in tree)
                and [pid for pid, _ in tree]
            ),
            message="the benchmark's server",
        )
        os.kill(bench.pid, sig)
        bench.process.wait(60)
        wait_until(lambda: all(gone(pid) for pid in started), message=f"what it started ({started}) gone")
    finally:
        bench.kill_all(started)
