"""`rights serve` as a process: stop signals, kill -9, the data directory's lock, the
supervised embedded Redis and HTTP server, and the rules line at start. Real processes,
a real redis-server; every wait is for a condition, with a generous deadline."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from serving import DEADLINE_S, ROOT, Command, Server, children, descendants, gone, http, wait_until

from api.redis.embedded import free_port

pytestmark = pytest.mark.slow  # real rights serve processes
TOKEN = "lifecycle-admin-token-0123456789"


def assert_left_nothing(server: Server, pids: list) -> None:
    wait_until(lambda: all(gone(pid) for pid in pids), message=f"processes {pids} to exit")
    assert not (server.data_dir / "redis.url").exists()
    assert (server.data_dir / "rights.lock").read_bytes() == b""


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_a_stop_signal_stops_everything_and_cleans_up(serve, sig, workers):
    server = serve(workers=workers)
    if workers == 2:
        wait_until(lambda: len(server.workers()) == 2, message="two uvicorn workers")
    pids = [pid for pid, _ in descendants(server.pid)]
    assert server.redis_pid() in pids
    os.kill(server.pid, sig)
    assert server.wait_exit() == 0, server.stderr()
    assert_left_nothing(server, pids)
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_of_the_parent_takes_redis_and_the_workers_down(serve, workers):
    server = serve(workers=workers)
    if workers == 2:
        wait_until(lambda: len(server.workers()) == 2, message="two uvicorn workers")
    pids = [pid for pid, _ in descendants(server.pid)]
    assert server.redis_pid() in pids
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(DEADLINE_S)
    # started at once, the next server waits while the dead one's children still hold the
    # lock (its Redis flushing), then takes the lock file over from the dead holder
    successor = serve(data_dir=server.data_dir, ready=False)
    wait_until(lambda: all(gone(pid) for pid in pids), message=f"the children {pids} to exit by themselves")
    successor.ready()
    assert json.loads((server.data_dir / "rights.lock").read_text())["pid"] == successor.pid


def test_port_0_serves_on_a_free_port_that_the_start_line_and_the_lock_name(serve):
    server = serve(port=0, ready=False)
    started = wait_until(
        lambda: re.search(r"evaluator \S+, http://127\.0\.0\.1:(\d+) ", server.stderr()), message="the start line"
    )
    port = int(started.group(1))
    assert port != 0
    server.url = f"http://127.0.0.1:{port}"
    server.ready()
    assert json.loads((server.data_dir / "rights.lock").read_text())["http"] == server.url


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_an_import_stopped_by_a_signal_says_how_far_it_got_and_lets_go(tmp_path, sig):
    """Its own redis-server stops and the data directory is free again; one line, no traceback."""
    rows = tmp_path / "members.jsonl"
    rows.write_text("".join(f'{{"id": "S{n:07d}", "tier": "gold", "points": {n % 5000}}}\n' for n in range(1_000_000)))
    data_dir = tmp_path / "var"
    importing = Command(tmp_path / "import.log", "members", "import", str(rows), "--data-dir", str(data_dir))
    started: list = []
    try:
        started = wait_until(importing.redis_servers, message="the import's redis-server")
        wait_until(lambda: (data_dir / "appendonlydir").exists(), message="its Redis writing")
        os.kill(importing.pid, sig)
        assert importing.process.wait(60) == (-sig if sig == signal.SIGINT else 128 + sig)  # Ctrl-C: by SIGINT itself
        said = importing.said().strip().splitlines()
        assert "Traceback" not in "\n".join(said), said
        assert said[-1].startswith(f"rights members import: stopped by {signal.Signals(sig).name} after "), said
        assert "importing the file again" in said[-1]
        wait_until(lambda: all(gone(pid) for pid in started), message="its redis-server gone")
        assert (data_dir / "rights.lock").read_bytes() == b""
    finally:
        importing.kill_all(started)


def test_the_lock_holds_against_a_deleted_lock_file_and_a_holder_of_the_file_alone(tmp_path):
    """The directory is locked, so deleting rights.lock opens nothing; the file is locked as
    well, as a server of an earlier release locks it."""
    import fcntl

    from api.serve.data_lock import DataDirLock

    first = DataDirLock(tmp_path / "var")
    assert first.try_acquire("first")
    (tmp_path / "var" / "rights.lock").unlink()
    assert not DataDirLock(tmp_path / "var").try_acquire("second")
    first.release()
    with open(tmp_path / "var" / "rights.lock", "a+b") as older:  # a holder that locks the file only
        fcntl.flock(older, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not DataDirLock(tmp_path / "var").try_acquire("third")
    fourth = DataDirLock(tmp_path / "var")
    assert fourth.try_acquire("fourth") and len(fourth.fds) == 2
    fourth.release()


def test_a_port_in_use_is_refused_in_one_line_before_anything_starts(serve):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = serve(port=taken.getsockname()[1], ready=False)
        assert server.wait_exit() == 1
    lines = server.stderr().strip().splitlines()
    assert lines == [
        f"rights serve: port {server.port} on 127.0.0.1 is in use by another program; stop it, or use --port"
    ]
    assert not (server.data_dir / "appendonlydir").exists()  # no Redis was started


def test_a_second_server_on_the_same_data_dir_is_refused_in_one_line(serve):
    first = serve()
    holder = json.loads((first.data_dir / "rights.lock").read_text())
    second = serve(data_dir=first.data_dir, ready=False)
    assert second.wait_exit() == 1
    lines = second.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"pid {first.pid}" in lines[0] and holder["url"] in lines[0], lines[0]
    assert first.readyz() == 200 and len([p for p, c in children(first.pid) if "redis-server" in c]) == 1
    (first.data_dir / "rights.lock").unlink()  # tidied away by hand: the directory stays locked
    third = serve(data_dir=first.data_dir, ready=False)
    assert third.wait_exit() == 1 and "is in use" in third.stderr()
    assert len([p for p, c in children(first.pid) if "redis-server" in c]) == 1


def test_a_server_is_refused_while_a_members_command_holds_the_data_dir(tmp_path, serve):
    """The server refuses at once, naming the command (it does not wait for an import to end)."""
    from api.serve.data_lock import DataDirLock

    lock = DataDirLock(tmp_path / "var")
    assert lock.try_acquire("rights members import")
    try:
        server = serve(ready=False)
        assert server.wait_exit() == 1
        assert f"rights members import (pid {os.getpid()}" in server.stderr()
    finally:
        lock.release()


def test_reset_is_refused_while_a_server_holds_the_data_and_deletes_it_after(serve, capsys):
    """`rights reset` (what `make reset` runs) stops nothing: it names the running server and
    leaves its files; once the server has stopped, the next start is the demo state again."""
    from rights.cli import main

    server = serve()
    assert main(["reset", "--data-dir", str(server.data_dir)]) == 1
    refusal = capsys.readouterr().err.strip().splitlines()
    assert len(refusal) == 1 and f"pid {server.pid}" in refusal[0], refusal
    assert server.readyz() == 200 and (server.data_dir / "rights.lock").exists()

    os.kill(server.pid, signal.SIGTERM)
    assert server.wait_exit() == 0
    assert main(["reset", "--data-dir", str(server.data_dir)]) == 0
    assert not server.data_dir.exists()
    assert main(["reset", "--data-dir", str(server.data_dir)]) == 0
    assert "nothing to delete" in capsys.readouterr().err


def test_the_access_log_is_written_line_by_line_to_a_file(serve):
    """stdout redirected to a file (systemd, nohup) is block-buffered by Python; the access
    log must still show each request as it ends, or a killed worker takes its last lines."""
    server = serve(env={"PYTHONUNBUFFERED": "", "RIGHTS_ACCESS_LOG": "1"})
    for _ in range(3):
        assert http(server.url + "/healthz")[0] == 200
    wait_until(lambda: server.stdout().count('"path":"/healthz"') >= 3, timeout=10, message="three access log lines")


def test_members_commands_use_the_running_servers_redis_else_take_the_lock(tmp_path, serve, monkeypatch):
    from rights.cli import main

    monkeypatch.setenv("RIGHTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    rows = tmp_path / "members.jsonl"
    rows.write_text('{"id": "L1", "tier": "gold", "points": 10}\n')
    assert main(["members", "import", str(rows)]) == 0  # no server: the command's own Redis, under the lock
    assert (tmp_path / "var" / "rights.lock").read_bytes() == b""  # released: its Redis is stopped

    server = serve()
    rows.write_text('{"id": "L2", "tier": "gold", "points": 20}\n')
    assert main(["members", "import", str(rows)]) == 0  # the server's Redis: it sees L2 at once
    for member, points in (("L1", 10), ("L2", 20)):  # L1 from the AOF the command left
        status, body = http(
            server.url + "/v1/eligibility",
            json.dumps({"member_id": member, "lines": []}).encode(),
            {"content-type": "application/json"},
        )
        assert status == 200 and body["member"]["points"] == points, body
    assert json.loads((server.data_dir / "rights.lock").read_text())["pid"] == server.pid


def test_a_killed_redis_is_restarted_with_its_data_and_service_resumes(tmp_path, serve, monkeypatch):
    from rights.cli import main

    server = serve("--appendfsync", "always")  # every acknowledged write is on disk
    rows = tmp_path / "members.jsonl"
    rows.write_text('{"id": "K1", "tier": "gold", "points": 30}\n')
    monkeypatch.setenv("RIGHTS_DATA_DIR", str(server.data_dir))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["members", "import", str(rows)]) == 0
    redis_pid = server.redis_pid()
    os.kill(server.pid, signal.SIGSTOP)  # hold the supervisor, to see the API while Redis is down
    try:
        os.kill(redis_pid, signal.SIGKILL)
        wait_until(lambda: server.readyz() == 503, message="/readyz 503 while Redis is down")
    finally:
        os.kill(server.pid, signal.SIGCONT)
    wait_until(lambda: server.readyz() == 200, message="/readyz 200 once Redis is back")
    assert server.redis_pid() not in (None, redis_pid)
    restarts = [line for line in server.stderr().splitlines() if "redis-server" in line and "restarted" in line]
    assert len(restarts) == 1 and "SIGKILL" in restarts[0], server.stderr()

    def member():
        status, body = http(
            server.url + "/v1/eligibility",
            json.dumps({"member_id": "K1", "lines": []}).encode(),
            {"content-type": "application/json"},
        )
        return status == 200 and body["member"]["points"] == 30

    wait_until(member, message="the member read again through the reconnected pool")


def test_a_redis_that_keeps_dying_stops_the_server(serve):
    server = serve()
    for _ in range(6):
        pid = wait_until(server.redis_pid, message="a redis-server")
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda killed=pid: server.redis_pid() != killed or server.process.poll() is not None,
            message="the restart or the stop",
        )
    assert server.wait_exit() == 3, server.stderr()
    assert "more than 5 times" in server.stderr()
    assert_left_nothing(server, [])
    assert not [c for _, c in descendants(server.pid)]


def test_a_killed_http_server_is_started_again(serve):
    server = serve()
    first = server.http_pid()
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: server.http_pid() not in (None, first), message="another HTTP server")
    server.ready()
    assert any("HTTP server" in line and "SIGKILL" in line for line in server.stderr().splitlines()), server.stderr()


def test_each_kill_of_an_http_server_with_workers_is_one_death_and_leaves_no_worker(serve):
    """The killed server's workers outlive it for a moment and hold the port: the next
    server waits for them to let go, rather than fail to bind and count a second death."""
    server = serve(workers=2)
    for _ in range(3):
        first = wait_until(server.http_pid, message="an HTTP server")
        workers = wait_until(lambda: server.workers() if len(server.workers()) == 2 else None, message="two workers")
        os.kill(first, signal.SIGKILL)
        wait_until(lambda killed=first: server.http_pid() not in (None, killed), message="another HTTP server")
        wait_until(lambda old=workers: all(gone(pid) for pid in old), message="the killed server's workers gone")
        server.ready()
    assert server.process.poll() is None, server.stderr()
    deaths = [line for line in server.stderr().splitlines() if "the HTTP server (pid" in line]
    assert len(deaths) == 3 and all("killed by SIGKILL; started another" in line for line in deaths), deaths


def test_a_killed_worker_is_replaced_and_said_so(serve):
    server = serve(workers=2)
    workers = wait_until(lambda: server.workers() if len(server.workers()) == 2 else None, message="two workers")
    os.kill(workers[0], signal.SIGKILL)
    wait_until(lambda: len(server.workers()) == 2 and workers[0] not in server.workers(), message="a new worker")
    server.ready()
    wait_until(lambda: f"Child process [{workers[0]}] died" in server.stderr(), message="the word of the death")


RULES_B = """
name: lifecycle-b
tiers: [{id: gold, name: Gold}]
products: [{sku: MILK-1L, category: milk, price: 1490}]
"""


def test_the_start_line_names_the_version_served_and_where_it_came_from(tmp_path, serve):
    from engine.demo import DEMO_RULES
    from engine.rules.load import load_file

    demo_version = load_file(DEMO_RULES).version
    data_dir = tmp_path / "var"
    first = serve("--rules", str(DEMO_RULES), data_dir=data_dir, env={"RIGHTS_ADMIN_TOKEN": TOKEN})
    assert f"rules {demo_version} from {DEMO_RULES} (first version in this Redis)" in first.stderr()
    status, pushed = http(
        first.url + "/v1/rules?author=ops",
        RULES_B.encode(),
        {"authorization": f"Bearer {TOKEN}", "content-type": "application/yaml"},
    )
    assert status == 201, pushed
    first.stop()

    again = serve("--rules", str(DEMO_RULES), data_dir=data_dir)
    lines = again.stderr().splitlines()
    assert any(f"rules {pushed['version']} from Redis (active since " in line for line in lines), lines
    assert any(f"rights rules push {DEMO_RULES}" in line and "--push-rules" in line for line in lines), lines
    assert http(again.url + "/v1/eligibility", b'{"lines": []}')[1]["rules_version"] == pushed["version"]
    again.stop()

    pushing = serve("--rules", str(DEMO_RULES), "--push-rules", data_dir=data_dir)
    assert f"rules {demo_version} from {DEMO_RULES} (pushed by --push-rules" in pushing.stderr()
    assert http(pushing.url + "/v1/eligibility", b'{"lines": []}')[1]["rules_version"] == demo_version


@pytest.mark.parametrize(
    "name, value, said",
    [
        ("RIGHTS_HEADER_TIMEOUT_S", "soon", "RIGHTS_HEADER_TIMEOUT_S='soon': not a number"),
        ("RIGHTS_WORKERS", "two", "RIGHTS_WORKERS='two': not a whole number"),
        ("RIGHTS_REDIS_TIMEOUT_MS", "0", "RIGHTS_REDIS_TIMEOUT_MS='0': must be a finite number, at least 1"),
        (
            "RIGHTS_API_KEYS",
            "shop=shop-0123456789abcdef everything",
            "RIGHTS_API_KEYS entry 1: unknown scope 'everything' for channel shop; scopes are checkout, backend and "
            "leader:<id>[,<id>...] (leader:* for any leader), and brand:<id>[,<id>...] to keep a key to those brands",
        ),
    ],
)
def test_a_wrong_setting_is_refused_naming_the_variable(tmp_path, name, value, said):
    env = {**os.environ, "RIGHTS_DATA_DIR": str(tmp_path / "var"), name: value}
    out = subprocess.run(
        [sys.executable, "-m", "rights", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"rights serve: {said}"]
