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
