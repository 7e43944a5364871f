"""A `rights serve --demo` process for the benchmarks: on a free loopback port, with its
own embedded redis-server and data directory, stopped (and cleaned) when the block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from api.redis.embedded import free_port
from api.serve.data_lock import LOCK_NAME
from api.serve.parent_watch import die_with_parent

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def demo_server(workers: int = 2, **extra_env: str) -> Iterator[str]:
    """Yields the server's base URL once /readyz says ready."""
    with demo_process(workers, **extra_env) as (base, _):
        yield base


@contextlib.contextmanager
def demo_process(workers: int = 2, **extra_env: str) -> Iterator[tuple[str, int]]:
    """Yields (base URL, pid of `rights serve`) once /readyz says ready: the pid roots the
    process tree whose CPU time the API benchmark reads."""
    with demo_server_and_redis(workers, **extra_env) as (base, _, pid):
        yield base, pid


@contextlib.contextmanager
def demo_server_and_redis(workers: int = 2, **extra_env: str) -> Iterator[tuple[str, str, int]]:
    """Yields (the server's base URL, its embedded Redis's URL, its pid) once /readyz says ready."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="rights-bench-")
    env = {**os.environ, "RIGHTS_DATA_DIR": data_dir, **extra_env}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rights",
            "serve",
            "--demo",
            "--workers",
            str(workers),
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=with_the_benchmark(),
    )
    try:
        wait_until_ready(server, lambda: _ready(base), "the server did not become ready")
        yield base, orjson.loads((Path(data_dir) / LOCK_NAME).read_bytes())["url"], server.pid
    finally:
        stop_group(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def with_the_benchmark():
    """A `preexec_fn`: what a benchmark starts gets SIGTERM if the benchmark is killed
    outright (SIGKILL), and stops as it would on any stop signal, its own children with it."""
    return die_with_parent(os.getpid())


def _ready(base: str) -> bool:
    with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
        return bool(orjson.loads(response.read())["ready"])


def wait_until_ready(server: subprocess.Popen, ready: Callable[[], bool], failure: str, seconds: float = 60) -> None:
    """Poll `ready` (an OSError counts as not yet) until true; past `seconds`, or when the
    server (started with stderr=PIPE) has exited, RuntimeError with `failure` and its stderr."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            assert server.stderr is not None  # stderr=PIPE
            raise RuntimeError(f"{failure}: " + server.stderr.read().decode()[-2000:])
        time.sleep(0.2)


def stop_group(server: subprocess.Popen, seconds: float = 20.0) -> None:
    """Stop a `rights serve` started in its own session: SIGTERM, then SIGKILL to its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of `pid` and every process below it, from /proc: what a
    server and its workers (and its embedded Redis) have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, parents = 0.0, {pid}
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    while parents:
        total += sum(stats[p][1] for p in parents if p in stats) / ticks
        parents = {child for child, (parent, _) in stats.items() if parent in parents}
    return total
