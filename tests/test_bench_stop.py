"""A benchmark stopped as production stops a process (SIGTERM) stops what it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from serving import ROOT, descendants, gone, wait_until


@pytest.mark.parametrize("after", [0.0, 3.0], ids=["while-its-redis-starts", "while-it-runs"])
def test_sigterm_stops_a_benchmark_and_everything_it_started(after):
    bench = subprocess.Popen(
        [sys.executable, "-m", "rights", "bench", "rush", "--runs", "1000"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        started = wait_until(
            lambda: [pid for pid, cmdline in descendants(bench.pid) if "redis-server" in cmdline],
            message="the benchmark's redis-server",
        )
        time.sleep(after)
        os.kill(bench.pid, signal.SIGTERM)
        assert bench.wait(60) == 128 + signal.SIGTERM
        assert "stopped by SIGTERM" in bench.stderr.read()
        wait_until(lambda: all(gone(pid) for pid in started), message="its redis-server gone")
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGQUIT], ids=["KILL", "QUIT"])
def test_a_benchmark_killed_outright_leaves_nothing_running(sig):
    """No handler runs on SIGKILL (nor, by default, SIGQUIT): what the benchmark started
    stops by itself (each child asked the kernel for SIGTERM when the benchmark dies)."""
    bench = subprocess.Popen(
        [sys.executable, "-m", "rights", "bench", "rush", "--runs", "1000"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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
        bench.wait(60)
        wait_until(lambda: all(gone(pid) for pid in started), message=f"what it started ({started}) gone")
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
        for pid in started:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
