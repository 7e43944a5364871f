"""`rights serve` as a process: stop signals, kill -9, the data directory's lock, the
supervised embedded Redis and HTTP server, and the rules line at start. Real processes,
a real redis-server; every wait is for a condition, with a generous deadline."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import pytest
from conftest import ROOT

from api.redis.embedded import free_port

DEADLINE_S = 60.0
TOKEN = "lifecycle-admin-token-0123456789"


def wait_for(condition: Callable[[], object], what: str, deadline_s: float = DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {deadline_s:.0f} s")
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """No such process, or only its zombie (a reparented child waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def children(pid: int) -> list:
    """The live processes whose parent is `pid`, as (pid, command line)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append((int(entry.name), cmdline))
    return out


def descendants(pid: int) -> list:
    found = []
    for child, cmdline in children(pid):
        found.append((child, cmdline))
        found += descendants(child)
    return found


def http(url: str, body: Optional[bytes] = None, headers: Optional[dict] = None, timeout: float = 10):
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


class Served:
    """`rights serve` with its own data directory, port and stderr file."""

    def __init__(self, tmp_path: Path, *args: str, workers: int = 1, data_dir: Optional[Path] = None, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir or tmp_path / "var"
        self.log = tmp_path / f"serve-{self.port}.log"
        environment = {**os.environ, "RIGHTS_DATA_DIR": str(self.data_dir), "RIGHTS_ACCESS_LOG": "0", **env}
        environment.pop("REDIS_URL", None)
        self.seen: set = set()  # every process of the server seen, killed at the end whatever happened
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rights", "serve", "--port", str(self.port), "--workers", str(workers),
                 *args], cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> "Served":
        def up():
            if self.process.poll() is not None:
                raise AssertionError(f"rights serve exited ({self.process.returncode}): {self.stderr()}")
            return http(self.base + "/readyz", timeout=2)[0] == 200
        wait_for(up, "/readyz 200")
        self.seen.update(pid for pid, _ in descendants(self.pid))
        return self

    def readyz(self) -> Optional[int]:
        return http(self.base + "/readyz", timeout=2)[0]

    def child(self, word: str) -> Optional[int]:
        found = next((pid for pid, cmdline in children(self.pid) if word in cmdline), None)
        if found:
            self.seen.add(found)
        return found

    def redis_pid(self) -> Optional[int]:
        return self.child("redis-server")

    def http_pid(self) -> Optional[int]:
        return self.child("api.serve.child")

    def workers(self) -> list:
        """uvicorn's worker processes (multiprocessing's spawned children)."""
        found = [pid for pid, cmdline in descendants(self.pid) if "spawn_main" in cmdline]
        self.seen.update(found)
        return found

    def wait_exit(self) -> int:
        try:
            return self.process.wait(DEADLINE_S)
        finally:
            if self.process.poll() is None:
                os.killpg(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.wait_exit()

    def close(self) -> None:
        """Stop the server, then make sure nothing of it outlives the test, whatever happened."""
        everything = self.seen | {pid for pid, _ in descendants(self.pid)}
        self.stop()
        for pid in everything:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def servers():
    started: list = []
    yield lambda *args, **kwargs: started.append(Served(*args, **kwargs)) or started[-1]
    for server in started:
        server.close()


def assert_left_nothing(server: Served, pids: list) -> None:
    wait_for(lambda: all(gone(pid) for pid in pids), f"processes {pids} to exit")
    assert not (server.data_dir / "redis.url").exists()
    assert (server.data_dir / "rights.lock").read_bytes() == b""


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_a_stop_signal_stops_everything_and_cleans_up(tmp_path, servers, sig, workers):
    server = servers(tmp_path, workers=workers).ready()
    if workers == 2:
        wait_for(lambda: len(server.workers()) == 2, "two uvicorn workers")
    pids = [pid for pid, _ in descendants(server.pid)]
    assert server.redis_pid() in pids
    os.kill(server.pid, sig)
    assert server.wait_exit() == 0, server.stderr()
    assert_left_nothing(server, pids)
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_of_the_parent_takes_redis_and_the_workers_down(tmp_path, servers, workers):
    server = servers(tmp_path, workers=workers).ready()
    if workers == 2:
        wait_for(lambda: len(server.workers()) == 2, "two uvicorn workers")
    pids = [pid for pid, _ in descendants(server.pid)]
    assert server.redis_pid() in pids
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(DEADLINE_S)
    # started at once, the next server waits while the dead one's children still hold the
    # lock (its Redis flushing), then takes the lock file over from the dead holder
    successor = servers(tmp_path, data_dir=server.data_dir)
    wait_for(lambda: all(gone(pid) for pid in pids), f"the children {pids} to exit by themselves")
    successor.ready()
    assert json.loads((server.data_dir / "rights.lock").read_text())["pid"] == successor.pid


def test_a_second_server_on_the_same_data_dir_is_refused_in_one_line(tmp_path, servers):
    first = servers(tmp_path).ready()
    holder = json.loads((first.data_dir / "rights.lock").read_text())
    second = servers(tmp_path, data_dir=first.data_dir)
    assert second.wait_exit() == 1
    lines = second.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"pid {first.pid}" in lines[0] and holder["url"] in lines[0], lines[0]
    assert first.readyz() == 200 and len([p for p, c in children(first.pid) if "redis-server" in c]) == 1


def test_a_server_is_refused_while_a_members_command_holds_the_data_dir(tmp_path, servers):
    """The server refuses at once, naming the command (it does not wait for an import to end)."""
    from api.serve.data_lock import DataDirLock

    lock = DataDirLock(tmp_path / "var")
    assert lock.try_acquire("rights members import")
    try:
        server = servers(tmp_path)
        assert server.wait_exit() == 1
        assert f"rights members import (pid {os.getpid()}" in server.stderr()
    finally:
        lock.release()


def test_members_commands_use_the_running_servers_redis_else_take_the_lock(tmp_path, servers, monkeypatch):
    from rights.cli import main

    monkeypatch.setenv("RIGHTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    rows = tmp_path / "members.jsonl"
    rows.write_text('{"id": "L1", "tier": "gold", "points": 10}\n')
    assert main(["members", "import", str(rows)]) == 0  # no server: the command's own Redis, under the lock
    assert (tmp_path / "var" / "rights.lock").read_bytes() == b""  # released: its Redis is stopped

    server = servers(tmp_path).ready()
    rows.write_text('{"id": "L2", "tier": "gold", "points": 20}\n')
    assert main(["members", "import", str(rows)]) == 0  # the server's Redis: it sees L2 at once
    for member, points in (("L1", 10), ("L2", 20)):  # L1 from the AOF the command left
        status, body = http(server.base + "/v1/eligibility", json.dumps({"member_id": member, "lines": []}).encode(),
                            {"content-type": "application/json"})
        assert status == 200 and body["member"]["points"] == points, body
    assert json.loads((server.data_dir / "rights.lock").read_text())["pid"] == server.pid


def test_a_killed_redis_is_restarted_with_its_data_and_service_resumes(tmp_path, servers, monkeypatch):
    from rights.cli import main

    server = servers(tmp_path, "--appendfsync", "always").ready()  # every acknowledged write is on disk
    rows = tmp_path / "members.jsonl"
    rows.write_text('{"id": "K1", "tier": "gold", "points": 30}\n')
    monkeypatch.setenv("RIGHTS_DATA_DIR", str(server.data_dir))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["members", "import", str(rows)]) == 0
    redis_pid = server.redis_pid()
    os.kill(server.pid, signal.SIGSTOP)  # hold the supervisor, to see the API while Redis is down
    try:
        os.kill(redis_pid, signal.SIGKILL)
        wait_for(lambda: server.readyz() == 503, "/readyz 503 while Redis is down")
    finally:
        os.kill(server.pid, signal.SIGCONT)
    wait_for(lambda: server.readyz() == 200, "/readyz 200 once Redis is back")
    assert server.redis_pid() not in (None, redis_pid)
    restarts = [line for line in server.stderr().splitlines() if "redis-server" in line and "restarted" in line]
    assert len(restarts) == 1 and "SIGKILL" in restarts[0], server.stderr()

    def member():
        status, body = http(server.base + "/v1/eligibility", json.dumps({"member_id": "K1", "lines": []}).encode(),
                            {"content-type": "application/json"})
        return status == 200 and body["member"]["points"] == 30
    wait_for(member, "the member read again through the reconnected pool")


def test_a_redis_that_keeps_dying_stops_the_server(tmp_path, servers):
    server = servers(tmp_path).ready()
    for _ in range(6):
        pid = wait_for(server.redis_pid, "a redis-server")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: server.redis_pid() != pid or server.process.poll() is not None, "the restart or the stop")
    assert server.wait_exit() == 3, server.stderr()
    assert "more than 5 times" in server.stderr()
    assert_left_nothing(server, [])
    assert not [c for _, c in descendants(server.pid)]


def test_a_killed_http_server_is_started_again(tmp_path, servers):
    server = servers(tmp_path).ready()
    first = server.http_pid()
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: server.http_pid() not in (None, first), "another HTTP server")
    server.ready()
    assert any("HTTP server" in line and "SIGKILL" in line for line in server.stderr().splitlines()), server.stderr()


def test_a_killed_worker_is_replaced_and_said_so(tmp_path, servers):
    server = servers(tmp_path, workers=2).ready()
    workers = wait_for(lambda: server.workers() if len(server.workers()) == 2 else None, "two workers")
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(server.workers()) == 2 and workers[0] not in server.workers(), "a new worker")
    server.ready()
    wait_for(lambda: f"Child process [{workers[0]}] died" in server.stderr(), "the word of the death")


RULES_B = """
name: lifecycle-b
tiers: [{id: gold, name: Gold}]
products: [{sku: MILK-1L, category: milk, price: 1490}]
"""


def test_the_start_line_names_the_version_served_and_where_it_came_from(tmp_path, servers):
    from engine.demo import DEMO_RULES
    from engine.rules.load import load_file

    demo_version = load_file(DEMO_RULES).version
    data_dir = tmp_path / "var"
    first = servers(tmp_path, "--rules", str(DEMO_RULES), data_dir=data_dir, RIGHTS_ADMIN_TOKEN=TOKEN).ready()
    assert f"rules {demo_version} from {DEMO_RULES} (first version in this Redis)" in first.stderr()
    status, pushed = http(first.base + "/v1/rules?author=ops", RULES_B.encode(),
                          {"authorization": f"Bearer {TOKEN}", "content-type": "application/yaml"})
    assert status == 201, pushed
    first.stop()

    again = servers(tmp_path, "--rules", str(DEMO_RULES), data_dir=data_dir).ready()
    lines = again.stderr().splitlines()
    assert any(f"rules {pushed['version']} from Redis (active since " in line for line in lines), lines
    assert any(f"rights rules push {DEMO_RULES}" in line and "--push-rules" in line for line in lines), lines
    assert http(again.base + "/v1/eligibility", b'{"lines": []}')[1]["rules_version"] == pushed["version"]
    again.stop()

    pushing = servers(tmp_path, "--rules", str(DEMO_RULES), "--push-rules", data_dir=data_dir).ready()
    assert f"rules {demo_version} from {DEMO_RULES} (pushed by --push-rules" in pushing.stderr()
    assert http(pushing.base + "/v1/eligibility", b'{"lines": []}')[1]["rules_version"] == demo_version


@pytest.mark.parametrize("name, value, said", [
    ("RIGHTS_HEADER_TIMEOUT_S", "soon", "RIGHTS_HEADER_TIMEOUT_S='soon': not a number"),
    ("RIGHTS_WORKERS", "two", "RIGHTS_WORKERS='two': not a whole number"),
    ("RIGHTS_REDIS_TIMEOUT_MS", "0", "RIGHTS_REDIS_TIMEOUT_MS='0': must be a finite number, at least 1"),
    ("RIGHTS_API_KEYS", "shop=shop-0123456789abcdef everything",
     "RIGHTS_API_KEYS entry 1: unknown scope 'everything' for channel shop; scopes are checkout, backend and "
     "leader:<id>[,<id>...] (leader:* for any leader)"),
])
def test_a_wrong_setting_is_refused_naming_the_variable(tmp_path, name, value, said):
    env = {**os.environ, "RIGHTS_DATA_DIR": str(tmp_path / "var"), name: value}
    out = subprocess.run([sys.executable, "-m", "rights", "serve", "--port", str(free_port())], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=DEADLINE_S)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"rights serve: {said}"]
