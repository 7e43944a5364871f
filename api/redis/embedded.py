"""A local `redis-server` child process: the embedded default of `rights serve`, and what
the tests start on a free loopback port. A real server, never a mock."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PACKAGE_HINT = "redis-server is not installed; install the Debian package: apt-get install redis-server"
# A stream's last node is allocated at this size (up to 4096 bytes) when it begins: each
# member's ledger is a stream, so Redis's default of 4096 costs about 4 KB a member from
# its first entry. 512 costs about 1 KB, and about 160 bytes a further entry against 93;
# docs/OPERATIONS.md, "Memory", has the measured trade-off.
STREAM_NODE_MAX_BYTES = 512


class RedisServerMissing(RuntimeError):
    pass


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A loopback port free now, and not one of `avoid` (ports promised to another server
    that has not bound them yet, e.g. the HTTP port beside an embedded Redis)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free loopback port")


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too: both below 65536."""
    import random

    for _ in range(200):
        port = random.randint(20000, 55000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


def answers_ping(port: int, timeout: float = 0.2) -> bool:
    """Whether a Redis on the loopback port answers PING (a raw socket: no client needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """redis-server on 127.0.0.1 with its data (AOF on) under `data_dir`.

    `appendfsync` is `everysec` by default (an acknowledged write can be lost only in the
    last second before a power cut); pass `always` to fsync every write. `pass_fds` are
    inherited by the server (the data directory's lock: held until Redis is gone);
    `preexec_fn` runs in the child before exec (e.g. to die with its parent).
    """

    def __init__(
        self,
        data_dir: str | Path,
        port: int | None = None,
        appendfsync: str = "everysec",
        pass_fds: tuple = (),
        preexec_fn: Callable[[], None] | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None
        self.extra_args: list = []  # e.g. cluster mode (LocalCluster)
        self.pass_fds = pass_fds
        self.preexec_fn = preexec_fn

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerMissing(PACKAGE_HINT)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--stream-node-max-bytes",
            str(STREAM_NODE_MAX_BYTES),
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=self.pass_fds,
            preexec_fn=self.preexec_fn,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                    raise RuntimeError(f"redis-server exited at start (code {self.process.returncode}): {err.strip()}")
                if answers_ping(self.port):
                    return self
                time.sleep(0.02)
        except BaseException:  # Ctrl-C or a stop signal while it starts: no redis-server is left behind
            self.stop()
            raise
        self.stop()
        raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{self.port} within {timeout:.0f}s")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no final fsync."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # redis-server shuts down cleanly on TERM
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalCluster:
    """A local Redis Cluster of three masters on loopback (AOF on), for the test suite and
    benchmarks: `redis-server --cluster-enabled yes` three times, joined once with
    `redis-cli --cluster create`. `kill()` and `start()` take every node down and up
    again; the cluster re-forms from its nodes.conf files."""

    def __init__(self, data_dir: str | Path, masters: int = 3):
        self.data_dir = Path(data_dir)
        self.nodes = [EmbeddedRedis(self.data_dir / f"node{k}", port=free_cluster_port()) for k in range(masters)]
        self.created = False

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for node in self.nodes:
            node.extra_args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ]
            node.start()
        if not self.created:
            binary = shutil.which("redis-cli")
            if binary is None:
                raise RedisServerMissing(PACKAGE_HINT)
            subprocess.run(
                [
                    binary,
                    "--cluster",
                    "create",
                    *[f"127.0.0.1:{n.port}" for n in self.nodes],
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            self.created = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._state(node.port) == "ok" for node in self.nodes):
                return self
            time.sleep(0.05)
        raise RuntimeError("the local Redis Cluster did not reach cluster_state:ok")

    @staticmethod
    def _state(port: int) -> str:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"CLUSTER INFO\r\n")
                data = b""
                while b"cluster_state" not in data or not data.endswith(b"\r\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return "down"
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
