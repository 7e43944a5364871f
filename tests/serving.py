"""`rights serve` as a real process for the tests, and waiting for a condition.

`Server` starts this checkout's code (`python -m rights serve`, with the checkout first on
PYTHONPATH), sends its stdout and stderr to files (a pipe nobody reads would block the server
once full), and on `close()` stops it and every process it started: its HTTP server and
uvicorn workers, and its embedded redis-server, which runs in a session of its own.
The `serve` fixture in conftest.py hands out servers and closes them after the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from api.redis.embedded import free_port
from api.serve.processes import stat_fields

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 60.0  # generous: the machine is shared, and a wait ends as soon as its condition holds

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = DEADLINE_S, interval: float = 0.05, message: str | None = None
) -> T:
    """Call `predicate` until it returns something true, and return that. After `timeout`
    seconds, fail with `message` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            what = message or getattr(predicate, "__name__", "a condition")
            raise AssertionError(f"still waiting for {what} after {timeout:g} s (last: {value!r:.300})")
        time.sleep(interval)


# -- processes ---------------------------------------------------------------------------


def gone(pid: int) -> bool:
    """No such process, or only its zombie (a reparented child waits for init to reap it)."""
    fields = stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def _processes():
    """(pid, stat fields, command line) of every live process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields is not None and fields[0] not in ("Z", "X"):
            yield int(entry.name), fields, cmdline


def children(pid: int) -> list:
    """The live processes whose parent is `pid`, as (pid, command line)."""
    return [(child, cmdline) for child, fields, cmdline in _processes() if int(fields[1]) == pid]


class Command:
    """`python -m rights *args` of this checkout, started at once in a session of its own
    (as a shell's job), without REDIS_URL; its stderr goes to `log` (`said()` reads it)."""

    def __init__(self, log: Path, *args: str):
        self.log = log
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        env.pop("REDIS_URL", None)
        with open(log, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rights", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def said(self) -> str:
        return self.log.read_text(errors="replace")

    def redis_servers(self) -> list:
        """The pids of the redis-servers it runs, once there is one (an empty list before)."""
        return [pid for pid, cmdline in descendants(self.pid) if "redis-server" in cmdline]

    def kill_all(self, also: list = ()) -> None:
        """After a test: SIGKILL to it, its session, and `also`, whatever is left of them."""
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(DEADLINE_S)
        for pid in also:
            if not gone(pid):
                _kill(pid)


def descendants(pid: int) -> list:
    found = []
    for child, cmdline in children(pid):
        found.append((child, cmdline))
        found += descendants(child)
    return found


def _started(pid: int) -> str | None:
    """When the process started (clock ticks since boot): with the pid, names one process."""
    fields = stat_fields(pid)
    return fields[19] if fields is not None else None


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- HTTP --------------------------------------------------------------------------------


def http(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10):
    """(status, the body parsed as JSON, else as text), or (None, None) when nothing answers."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _parsed(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _parsed(exc.read())
    except OSError:
        return None, None


def _parsed(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


# -- the server --------------------------------------------------------------------------


class Server:
    """`rights serve --port <port> --workers <n> *args`, started at once (not yet ready: see
    `ready()`), on a free port unless given one (a replacement in a balancer's pool). Its
    own data directory (`<directory>/var` unless given) and its own embedded redis-server,
    unless `env` names a REDIS_URL. RIGHTS_ACCESS_LOG is off unless `env` says."""

    def __init__(
        self,
        directory: Path,
        *args: str,
        workers: int = 1,
        data_dir: Path | None = None,
        env: dict | None = None,
        port: int | None = None,
    ):
        self.port = free_port() if port is None else port  # 0: the server chooses (its start line names it)
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(data_dir or Path(directory) / "var")
        name, again = f"serve-{self.port}", 1
        while (Path(directory) / f"{name}.log").exists():  # a successor on the same port keeps its own
            again += 1
            name = f"serve-{self.port}-{again}"
        self.log = Path(directory) / f"{name}.log"  # stderr: where the server speaks
        self.out = Path(directory) / f"{name}.out"
        environment = {**os.environ, "RIGHTS_DATA_DIR": str(self.data_dir), "RIGHTS_ACCESS_LOG": "0"}
        environment.pop("REDIS_URL", None)
        environment.update(env or {})
        # this checkout's code, in the server and in every process it starts, whatever their directory
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.seen: dict = {}  # pid -> start time of every process of the server seen, killed at the end
        with open(self.log, "wb") as log, open(self.out, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rights", "serve", "--port", str(self.port), "--workers", str(workers), *args],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def ready(self, timeout: float = DEADLINE_S) -> Server:
        """Wait until /readyz answers 200; fail at once, with its stderr, if the server exits."""

        def up():
            if self.process.poll() is not None:
                raise AssertionError(f"rights serve exited ({self.process.returncode}): {self.stderr()[-3000:]}")
            return self.readyz() == 200

        wait_until(up, timeout, message=f"/readyz 200 from {self.url}")
        self._note()
        return self

    def readyz(self) -> int | None:
        return http(self.url + "/readyz", timeout=2)[0]

    def _note(self, pids=None) -> None:
        for pid in pids if pids is not None else [pid for pid, _ in descendants(self.pid)]:
            self.seen.setdefault(pid, _started(pid))

    def child(self, word: str) -> int | None:
        """The pid of the supervisor's child whose command line has `word`, if any."""
        found = next((pid for pid, cmdline in children(self.pid) if word in cmdline), None)
        if found:
            self._note([found])
        return found

    def redis_pid(self) -> int | None:
        return self.child("redis-server")

    def http_pid(self) -> int | None:
        return self.child("api.serve.child")

    def workers(self) -> list:
        """uvicorn's worker processes (multiprocessing's spawned children)."""
        found = [pid for pid, cmdline in descendants(self.pid) if "spawn_main" in cmdline]
        self._note(found)
        return found

    def wait_exit(self, timeout: float = DEADLINE_S) -> int:
        """The exit code; past `timeout`, the process group is killed and the test fails."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.process.wait(10)
            raise AssertionError(f"rights serve did not exit within {timeout:g} s: {self.stderr()[-3000:]}") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEADLINE_S) -> int:
        """Ask the server to stop (SIGTERM by default) and wait for it; its exit code."""
        if self.process.poll() is None:
            self._note()
            self.process.send_signal(sig)
        return self.wait_exit(timeout)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _stragglers(self) -> set:
        """Everything of this server still alive: what was seen, its session, and a
        redis-server on its data directory (that one runs in a session of its own)."""
        where = str(self.data_dir.resolve())
        found = {pid for pid, started in self.seen.items() if not gone(pid) and _started(pid) == started}
        for pid, fields, cmdline in _processes():
            if int(fields[3]) == self.pid or ("redis-server" in cmdline and where in cmdline):
                found.add(pid)
        found.discard(os.getpid())
        return found

    def close(self) -> None:
        """Stop the server, then make sure nothing of it outlives the test, whatever happened."""
        if self.process.poll() is None:
            self._note()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(DEADLINE_S)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.process.wait(10)
        for pid in self._stragglers():
            _kill(pid)
        wait_until(lambda: not self._stragglers(), 20, message=f"the processes of the server on {self.url} to end")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
