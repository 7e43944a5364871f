"""`rights serve` as one process an operator can stop, kill or restart safely: a small
single-threaded supervisor that owns everything the server runs.

    rights serve                      lock, Redis, the rules decision, signals
    |-- redis-server                  embedded (no REDIS_URL); holds the lock's descriptor
    `-- python -m api.serve.child     uvicorn, in its own process group
        `-- uvicorn workers           with --workers > 1; each watches its parent

Start: take the data directory's lock, start redis-server, refuse a Redis that may
evict, load the demo members, decide which rule table is served (api/serve/rules_at_start.py)
and say so, then start the HTTP child. Run: every POLL_S, a child that died is started
again (redis-server on the same port and data: its AOF is replayed) and one line says
so; more than MAX_RESTARTS deaths of one child within RESTART_WINDOW_S and the server
stops with EXIT_GAVE_UP. Stop, on SIGTERM, SIGINT or SIGHUP alike: SIGTERM to the HTTP
child and a wait for its graceful stop (a second signal forces it), then Redis is
stopped, the lock emptied, `<data dir>/redis.url` removed, and the exit code is 0.

Signal handlers only note the signal: the work is done by the main loop, in the main
thread, which also spawned every child, so the children's PDEATHSIG (tied to the
spawning thread) fires only when this process dies.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisClusterException, RedisError, ResponseError

from ..redis.embedded import EmbeddedRedis, RedisServerMissing, free_port
from ..settings import Settings
from .data_lock import DataDirBusy, DataDirLock
from .parent_watch import die_with_parent
from .processes import stat_fields

if TYPE_CHECKING:
    from engine.compiler import CompiledTable

EXIT_STOPPED = 0  # stopped by a signal, cleanly
EXIT_REFUSED = 1  # could not start: the data directory in use, no redis-server, an evicting Redis, a port taken
EXIT_GAVE_UP = 3  # a child kept dying
POLL_S = 0.1
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
HTTP_STOP_S = 20.0  # uvicorn's graceful stop (5 s for open connections) and the lifespan's shutdown
REDIS_START_S = 120.0  # the AOF of a large data set is replayed before Redis answers
REDIS_STOP_S = 30.0  # a final AOF fsync of a large data set
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
UVICORN_STARTUP_FAILURE = 3  # uvicorn's exit code when it cannot bind or its lifespan fails


def say(line: str) -> None:
    with contextlib.suppress(OSError):  # stderr may be a closed pipe; the server must still stop cleanly
        print(f"rights serve: {line}", file=sys.stderr, flush=True)


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        table: CompiledTable,
        source: bytes,
        *,
        appendfsync: str = "everysec",
        push_rules: bool = False,
        brands: list | None = None,
    ):
        self.settings = settings
        self.brands = brands or []  # (brand, path, table, source) of each further brand
        self.table = table
        self.source = source
        self.appendfsync = appendfsync
        self.push_rules = push_rules
        self.signals: list[int] = []  # stop signals received, in order
        self.lock: DataDirLock | None = None
        self.redis: EmbeddedRedis | None = None
        self.http: subprocess.Popen | None = None
        self.deaths: dict[str, deque[float]] = {"redis": deque(), "http": deque()}  # monotonic instants
        self.url_file: Path | None = None

    def run(self) -> int:
        """Serve until a stop signal or a child that keeps dying; the exit code."""
        previous = {sig: signal.signal(sig, self._note) for sig in STOP_SIGNALS}
        try:
            return self._serve()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _serve(self) -> int:
        from ..alliance import load_demo_alliance
        from ..members_io import load_demo_leaders, load_demo_members
        from ..redis.connect import refuse_evicting_redis, shown, stream_node_warning, sync_client
        from .rules_at_start import decide

        if not self.settings.redis_url:
            code = self._start_embedded()  # the port is checked under the data directory's lock
        else:
            code = self._claim_port()
        if code is not None:
            return code
        settings = self.settings
        redis_url = settings.redis_url
        assert redis_url is not None, "given, or the embedded server's once _start_embedded succeeded"
        if self.signals:
            return EXIT_STOPPED
        try:
            client = sync_client(redis_url, socket_timeout=5)
            refuse_evicting_redis(client)
            warning = stream_node_warning(client)
            if warning:
                say(f"warning: {warning}")
            if settings.demo:
                loaded = load_demo_members(client)
                say(f"demo members {'loaded' if loaded else 'already loaded'} (M00001..M10000)")
                if load_demo_leaders(client):
                    say("demo pickup leaders loaded (L001..L080)")
                if load_demo_alliance(client):
                    say("demo alliance grain-dairy declared: dairy and grain share members and points")
            client.close()
            lines = decide(redis_url, self.table, self.source, settings.rules, self.push_rules, home=settings.brand)
            for brand, path, table, source in self.brands:
                lines += decide(redis_url, table, source, path, self.push_rules, brand)
        except (RedisError, RedisClusterException, OSError) as exc:
            how = "did not answer"
            if isinstance(exc, (OutOfMemoryError, ReadOnlyError)):  # e.g. full
                how = "refused the start's writes"
            elif isinstance(exc, ResponseError):
                how = "answered with an error"
            say(f"Redis at {shown(redis_url)} {how}: {type(exc).__name__}: {exc}")
            return EXIT_REFUSED
        except RuntimeError as exc:  # a Redis that may evict keys
            say(str(exc))
            return EXIT_REFUSED
        for line in lines:
            say(line)
        say(
            f"evaluator {_evaluator()}, http://{settings.host}:{settings.port} ({settings.workers} "
            f"worker{'s' if settings.workers > 1 else ''}), docs at /docs"
        )
        if self.signals:
            return EXIT_STOPPED
        self.http = self._spawn_http()
        return self._watch()

    def _claim_port(self) -> int | None:
        """Port 0 made one free port, kept across restarts of the HTTP child; a port in use
        refused before anything starts (after the lock, whose refusal names a running server)."""
        host, port = self.settings.host, self.settings.port
        try:
            if port == 0:
                self.settings = self.settings.model_copy(update={"port": _free_port_on(host)})
                return None
            free = _port_free(host, port)
        except OSError as exc:  # no such address here, or a name that does not resolve
            say(f"cannot listen on {host}: {exc}")
            return EXIT_REFUSED
        if not free:
            say(f"port {port} on {host} is in use by another program; stop it, or use --port")
            return EXIT_REFUSED
        return None

    def _start_embedded(self) -> int | None:
        data_dir = Path(self.settings.data_dir)
        try:
            self.lock = DataDirLock(data_dir).acquire("rights serve")
        except DataDirBusy as exc:
            say(str(exc))
            return EXIT_REFUSED
        code = self._claim_port()
        if code is not None:
            return code
        # the HTTP port is bound only after Redis is up: Redis must not take it first
        self.redis = EmbeddedRedis(
            data_dir,
            port=free_port(avoid=frozenset({self.settings.port})),
            appendfsync=self.appendfsync,
            pass_fds=self.lock.fds,
            preexec_fn=die_with_parent(os.getpid()),
        )
        try:
            self.redis.start(timeout=REDIS_START_S)
        except (RedisServerMissing, RuntimeError) as exc:
            say(str(exc))
            return EXIT_REFUSED
        self.lock.write(url=self.redis.url, http=f"http://{self.settings.host}:{self.settings.port}")
        self.url_file = data_dir / "redis.url"
        self.url_file.write_text(self.redis.url + "\n")
        self.settings = self.settings.model_copy(update={"redis_url": self.redis.url})
        say(f"embedded redis-server on {self.redis.url}, data in {data_dir}/ (AOF {self.appendfsync})")
        return None

    def _spawn_http(self) -> subprocess.Popen:
        env = {**os.environ, **self.settings.to_env()}
        # its own process group: a terminal's Ctrl-C reaches the supervisor only, which orders the stop;
        # no stdin, which a background group may not read
        return subprocess.Popen(
            [sys.executable, "-m", "api.serve.child"],
            env=env,
            process_group=0,
            stdin=subprocess.DEVNULL,
            pass_fds=self.lock.fds if self.lock is not None else (),
            preexec_fn=die_with_parent(os.getpid()),
        )

    def _watch(self) -> int:
        """The main loop: restart what died, until a stop signal."""
        while not self.signals:
            time.sleep(POLL_S)
            if self.redis is not None and (self.redis.process is None or self.redis.process.poll() is not None):
                code = self._restart_redis(self.redis)
                if code is not None:
                    return code
            http = self.http
            assert http is not None, "_serve spawns the HTTP child before it watches it"
            if http.poll() is not None and not self.signals:
                code = self._restart_http(http)
                if code is not None:
                    return code
        return EXIT_STOPPED

    def _died(self, child: str) -> bool:
        """Note a death; True when `child` has died too often to try again."""
        now = time.monotonic()
        deaths = self.deaths[child]
        deaths.append(now)
        while deaths and deaths[0] < now - RESTART_WINDOW_S:
            deaths.popleft()
        return len(deaths) > MAX_RESTARTS

    def _restart_redis(self, redis: EmbeddedRedis) -> int | None:
        process = redis.process
        what = (
            f"the embedded redis-server (pid {process.pid}) {_ended(process.returncode)}"
            if process
            else "the embedded redis-server is not running"
        )
        if self._died("redis"):
            say(f"{what}: more than {MAX_RESTARTS} times in {RESTART_WINDOW_S:.0f} s; stopping")
            return EXIT_GAVE_UP
        try:
            redis.start(timeout=REDIS_START_S)
        except RuntimeError as exc:
            say(f"{what}; restarting it failed: {exc}")
            return None
        assert redis.process is not None, "start() leaves a process that answers, or raises"
        say(f"{what}; restarted it on {redis.url} with the same data, AOF replayed (pid {redis.process.pid})")
        return None

    def _restart_http(self, dead: subprocess.Popen) -> int | None:
        code = dead.returncode
        what = f"the HTTP server (pid {dead.pid}) {_ended(code)}"
        if code == UVICORN_STARTUP_FAILURE and not self.deaths["http"]:
            say(f"{what}: it could not start (see above); stopping")
            return EXIT_REFUSED
        if self._died("http"):
            say(f"{what}: more than {MAX_RESTARTS} times in {RESTART_WINDOW_S:.0f} s; stopping")
            self._end_group(dead)
            return EXIT_GAVE_UP
        self._end_group(dead)
        if self.signals:
            return EXIT_STOPPED
        self.http = self._spawn_http()
        say(f"{what}; started another (pid {self.http.pid})")
        return None

    def _end_group(self, dead: subprocess.Popen) -> None:
        """Stop what is left of a dead HTTP child's process group, its uvicorn workers, and
        wait until they let go of the port: a new child started while they still listen
        could not bind it, and would count as a second death. SIGTERM first (their graceful
        stop finishes the requests they hold), SIGKILL past HTTP_STOP_S or a stop signal.
        No wait once the group is empty: a port another program holds is the new child's to
        report (and its deaths count as before)."""
        self._signal_http(dead, signal.SIGTERM, group=True)
        seen, killed = len(self.signals), False
        deadline = time.monotonic() + HTTP_STOP_S
        while _group_alive(dead.pid) and not _port_free(self.settings.host, self.settings.port):
            now = time.monotonic()
            if not killed and (now > deadline or len(self.signals) > seen):
                self._signal_http(dead, signal.SIGKILL, group=True)
                killed, deadline = True, now + 2.0
            elif killed and now > deadline:
                return  # something else holds the port: the new child will say so
            time.sleep(POLL_S)

    def _stop_all(self) -> None:
        """The HTTP child first (it drains its requests against a live Redis), then Redis,
        then the lock and the URL file."""
        if self.http is not None and self.http.poll() is None:
            self._stop_http(self.http)
        if self.redis is not None:
            self.redis.stop(timeout=REDIS_STOP_S)
        if self.url_file is not None:
            with contextlib.suppress(OSError):
                self.url_file.unlink()
        if self.lock is not None:
            self.lock.release()

    def _stop_http(self, http: subprocess.Popen) -> None:
        """SIGTERM to the HTTP child: uvicorn's graceful stop, its workers' too. Asked
        again, SIGINT to its whole process group (uvicorn's forced stop); past
        HTTP_STOP_S, SIGKILL to the group."""
        seen, forced = len(self.signals), False
        self._signal_http(http, signal.SIGTERM, group=False)
        deadline = time.monotonic() + HTTP_STOP_S
        while http.poll() is None:
            if time.monotonic() > deadline:
                self._signal_http(http, signal.SIGKILL, group=True)
                http.wait()
                return
            if len(self.signals) > seen and not forced:
                forced = True
                self._signal_http(http, signal.SIGINT, group=True)
            time.sleep(POLL_S)

    def _signal_http(self, http: subprocess.Popen, sig: int, group: bool) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(http.pid, sig)  # the child leads its own group, with its workers
            else:
                http.send_signal(sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process group still has a running member; a zombie (an orphan its new
    parent has not reaped) holds no port and does not count."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: ask the kernel, zombies and all
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    for entry in entries:
        fields = stat_fields(int(entry)) if entry.isdigit() else None
        if fields is not None and len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _free_port_on(host: str) -> int:
    """A port nothing listens on at `host` now, as the OS picks one for port 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    """Whether nothing listens on (host, port): a socket bound as uvicorn binds its own
    (IPv6 for a host with a colon, else IPv4; SO_REUSEADDR) binds there now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE  # another error (no such address): the child says what is wrong
    return True


def _evaluator() -> str:
    import engine

    return engine.EVALUATOR
