"""The deployment of docs/OPERATIONS.md, for real: two `rights serve` replicas behind
HAProxy, over one Redis Cluster, with the same admin token and pickup secret.

HAProxy runs deploy/haproxy.cfg as shipped, with only its addresses, its runtime socket
and its log moved to loopback and the test's directory. Quotes through the balancer
reach both replicas; a rule table pushed through it reaches both; what one replica
settles or redeems the other sees (the ledger, the member cache, the order's replay, the
pickup code). Under a stream of quotes, one replica is restarted as an upgrade restarts
it (drained, stopped, started again on the same port: it serves the pushed table, not
its file's), then the other is killed: no quote goes unanswered, but for one caught
half-answered by the killed replica, which no balancer can retry.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import at
from serving import Server, gone, http, wait_until

from api.redis.embedded import LocalCluster, free_port
from api.store import MemberRecord, write_members
from engine.demo import DEMO_RULES

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
UNIT = ROOT / "deploy" / "rights-engine.service"
UNIT_ENV = ROOT / "deploy" / "rights-engine.env"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
INSTALL_HINT = "haproxy is not installed; install Debian's package: apt-get install haproxy"

TOKEN = "deployment-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PICKUP_SECRET = "deployment-pickup-secret-0123456789"
GALA_21 = at("2026-11-11 21:00")
AFTER_GALA = at("2026-11-12 10:00")  # outside every window: a visitor pays the list price
MILK = [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]
QUOTE = {"member_id": "G1", "room": "gala", "lines": MILK, "fulfillment": "pickup"}
AT_GALA = {"X-Rights-Now": str(GALA_21)}
DEMO = DEMO_RULES.read_text()
CHEAPER_MILK = DEMO.replace("price: 1590\n", "price: 1490\n", 1).replace("name: dairy-gala", "name: cheaper-milk")


def test_the_operations_page_shows_the_shipped_files_as_they_are():
    """docs/OPERATIONS.md quotes deploy/ verbatim, so the page and the files never drift."""
    page = OPERATIONS.read_text()
    for shipped in (HAPROXY_CFG, UNIT, UNIT_ENV):
        assert shipped.read_text() in page, f"docs/OPERATIONS.md does not quote {shipped.relative_to(ROOT)} as it is"


# -- the balancer ------------------------------------------------------------------------


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/sbin/haproxy") if os.access(path, os.X_OK)), None
    )
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


class Balancer:
    """`haproxy -f <config> -db` as a child process: its frontend, its statistics, its
    runtime socket."""

    def __init__(self, directory: Path, replicas: list[Server]):
        self.binary = haproxy_binary()
        self.port, self.stats_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = directory / "admin.sock"
        self.log = directory / "haproxy.log"
        self.config = directory / "haproxy.cfg"
        self.config.write_text(self._moved(HAPROXY_CFG.read_text(), replicas))
        checked = subprocess.run([self.binary, "-c", "-f", str(self.config)], capture_output=True, text=True)
        assert checked.returncode == 0, f"haproxy -c refuses the config: {checked.stdout}{checked.stderr}"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "-f", str(self.config), "-db"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _moved(self, text: str, replicas: list[Server]) -> str:
        """The shipped config with its addresses on loopback ports, its runtime socket here
        and its log on stdout (haproxy.log): every other line as shipped (the timeouts, the
        health check, the retries, the caps)."""
        moved = {
            "    bind :8080": f"    bind 127.0.0.1:{self.port}",
            "    bind 127.0.0.1:8404": f"    bind 127.0.0.1:{self.stats_port}",
            "/run/haproxy/admin.sock": str(self.socket),
            "log /dev/log local0": "log stdout format raw local0",
            "10.0.0.11:8000": f"127.0.0.1:{replicas[0].port}",
            "10.0.0.12:8000": f"127.0.0.1:{replicas[1].port}",
        }
        if os.geteuid() != 0:  # only root may chroot and change user
            moved.update({"    chroot /var/lib/haproxy\n": "", "    user haproxy\n": "", "    group haproxy\n": ""})
        for shipped, here in moved.items():
            assert text.count(shipped) == 1, f"deploy/haproxy.cfg no longer has {shipped!r} once"
            text = text.replace(shipped, here)
        return text

    def servers(self) -> dict:
        """replica name -> its row of HAProxy's statistics (status, check_status, ...)."""
        status, text = http(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2)
        if status != 200 or not isinstance(text, str):
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "replicas" and row["svname"].startswith("rep")}

    def status(self, name: str) -> str | None:
        return self.servers().get(name, {}).get("status")

    def wait_status(self, name: str, status: str, timeout: float = 20) -> None:
        def reached():
            if self.process.poll() is not None:
                raise AssertionError(f"haproxy exited ({self.process.returncode}): {self.log.read_text()[-3000:]}")
            return self.status(name) == status

        wait_until(reached, timeout, message=f"haproxy showing {name} {status}")

    def command(self, line: str) -> str:
        """One command on the runtime API (the `stats socket`), as `socat` would send it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket))
            conn.sendall(line.encode() + b"\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        return answer.decode().strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


@contextlib.contextmanager
def balancer(directory: Path, replicas: list[Server]):
    lb = Balancer(directory, replicas)
    try:
        for name in ("replica1", "replica2"):
            lb.wait_status(name, "UP")
        yield lb
    finally:
        lb.stop()


class Shoppers:
    """Threads quoting through the balancer on keep-alive connections until stopped; each
    quote is kept as (sent, answered, status or the error's name)."""

    def __init__(self, url: str, count: int = 4):
        self.url = url
        self.quotes: list = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._shop) for _ in range(count)]

    def _shop(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    outcome: int | str = client.post("/v1/eligibility", json=QUOTE, headers=AT_GALA).status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.quotes.append((sent, time.monotonic(), outcome))

    def sent_after(self, instant: float) -> list:
        return [outcome for sent, _, outcome in list(self.quotes) if sent >= instant]

    def wait_for(self, count: int, after: float) -> None:
        wait_until(lambda: len(self.sent_after(after)) >= count, 30, message=f"{count} quotes")

    def __enter__(self) -> Shoppers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


# -- the replicas ------------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path):
    """A local three-master Redis Cluster, stopped after the replicas (asked for before `serve`)."""
    nodes = LocalCluster(tmp_path / "cluster").start()
    yield nodes
    nodes.stop()


def served_quotes(replica: Server) -> int:
    """Quotes in the replica's access log (one JSON line per request on its stdout)."""
    lines = (json.loads(line) for line in replica.stdout().splitlines() if line.startswith("{"))
    return sum(1 for line in lines if line.get("path") == "/v1/eligibility")


def kill(replica: Server) -> None:
    """SIGKILL the replica's supervisor and its HTTP server together, as a crash of its host would."""
    http_pid = replica.http_pid()
    assert http_pid is not None
    os.kill(replica.pid, signal.SIGSTOP)  # so it neither restarts its HTTP server nor signals it
    os.killpg(http_pid, signal.SIGKILL)  # the HTTP server leads its own process group
    os.kill(replica.pid, signal.SIGKILL)
    wait_until(lambda: gone(http_pid) and gone(replica.pid), 10, message="the replica's processes gone")


@pytest.mark.slow
def test_two_replicas_behind_haproxy_share_their_state_and_lose_no_quote(tmp_path, cluster, serve):
    import httpx

    haproxy_binary()  # fail at once, with the install hint, before any process starts
    from api.redis.connect import sync_client

    client = sync_client(cluster.url)
    write_members(
        client,
        [
            MemberRecord(id="G1", tier="gold", points=1850),
            MemberRecord(id="RICH", tier="gold", points=10_000, leader="L1"),
        ],
    )
    client.close()
    env = {
        "REDIS_URL": cluster.url,
        "RIGHTS_ADMIN_TOKEN": TOKEN,
        "RIGHTS_PICKUP_SECRET": PICKUP_SECRET,
        "RIGHTS_ALLOW_CLOCK_OVERRIDE": "1",
        "RIGHTS_ACCESS_LOG": "1",
        "PYTHONUNBUFFERED": "1",  # each access-log line reaches the file as it is written
    }
    replicas = [serve(env=env, data_dir=tmp_path / f"replica{n}", ready=False) for n in (1, 2)]
    for replica in replicas:  # started together, waited for in turn
        replica.ready()
    one, two = replicas

    with balancer(tmp_path, replicas) as lb, httpx.Client(base_url=lb.url, timeout=10) as through:
        # 1. quotes through the balancer: every one answered, by both replicas
        answers = [through.post("/v1/eligibility", json=QUOTE, headers=AT_GALA) for _ in range(20)]
        assert [a.status_code for a in answers] == [200] * 20
        first_version = answers[0].json()["rules_version"]
        assert {a.json()["rules_version"] for a in answers} == {first_version}
        served = wait_until(lambda: (counts := [served_quotes(r) for r in replicas]) and sum(counts) == 20 and counts)
        assert all(count > 0 for count in served), f"one replica served every quote: {served}"
        for path in ("/metrics", "/redoc", "/v1/noop", "/docs", "/metric%73", "/v1/n%6Fop", "/%72edoc"):  # ops only
            assert through.get(path).status_code == 403, path

        # 2. a rule table pushed through the balancer reaches both replicas
        pushed = through.post("/v1/rules", content=CHEAPER_MILK.encode(), params={"author": "ops"}, headers=ADMIN)
        assert pushed.status_code == 201, pushed.text
        version = pushed.json()["version"]
        assert version.startswith("cheaper-milk@") and version != first_version

        def serves(replica: Server, wanted: str) -> None:
            with httpx.Client(base_url=replica.url, timeout=10) as direct:
                wait_until(
                    lambda: direct.get("/readyz").json()["rules_version"] == wanted,
                    message=f"{replica.url} serving {wanted}",
                )
                milk = {"lines": [{"sku": "MILK-1L", "qty": 1}]}
                visitor = direct.post("/v1/eligibility", json=milk, headers={"X-Rights-Now": str(AFTER_GALA)}).json()
                assert (visitor["rules_version"], visitor["lines"][0]["unit_price"]) == (wanted, 1490)

        for replica in replicas:
            serves(replica, version)

        # 3. what one replica settles, the other sees: the ledger, the member's cached
        # record, the order's replay; a pickup code one issues, the other hands over
        with httpx.Client(base_url=one.url, timeout=10) as on_one, httpx.Client(base_url=two.url, timeout=10) as on_two:
            promised = on_one.post("/v1/eligibility", json=QUOTE, headers=AT_GALA).json()
            assert promised["rules_version"] == version
            assert on_two.post("/v1/eligibility", json=QUOTE, headers=AT_GALA).json()["member"]["points"] == 1850
            order = {**QUOTE, "order_id": "O-1", "rules_version": version}
            settled = on_one.post("/v1/orders", json=order, headers=AT_GALA)
            assert settled.status_code == 200, settled.text
            balance = settled.json()["balance"]
            assert balance == 1850 + promised["points"]["total"] > 1850
            ledger = on_two.get("/v1/members/G1/ledger", headers=AT_GALA).json()
            assert (ledger["balance"], ledger["entries"][0]["reason"]) == (balance, "order")
            wait_until(  # replica two had G1 in its member cache: Redis told it of the change
                lambda: (
                    on_two.post("/v1/eligibility", json=QUOTE, headers=AT_GALA).json()["member"]["points"] == balance
                ),
                message="replica two's member cache told of the order",
            )
            replay = on_two.post("/v1/orders", json=order, headers=AT_GALA)
            assert (replay.status_code, replay.content) == (200, settled.content)

            redemption = {"member_id": "RICH", "redemption_id": "OATMEAL-LOWGI"}
            redeemed = on_one.post("/v1/redemptions", json=redemption, headers={**AT_GALA, "Idempotency-Key": "r-1"})
            assert redeemed.status_code == 200, redeemed.text
            code = redeemed.json()["pickup_code"]
            handed = on_two.post("/v1/pickups/verify", json={"leader_id": "L1", "code": code})
            assert (handed.status_code, handed.json()["handed_over"]) == (200, True)

        with Shoppers(lb.url) as shoppers:
            # 4. an upgrade's restart of replica one under load: drained, stopped, started
            # again on its port with its file's table (the demo's), serving the pushed one
            started = time.monotonic()
            shoppers.wait_for(20, after=started)
            assert lb.command("set server replicas/replica1 state drain") == ""
            lb.wait_status("replica1", "DRAIN")
            assert one.stop() == 0
            one = serve(env=env, data_dir=tmp_path / "replica1", port=one.port)
            serves(one, version)
            lb.wait_status("replica1", "DRAIN")  # checked good again, still drained
            assert lb.command("set server replicas/replica1 state ready") == ""
            lb.wait_status("replica1", "UP")
            back = time.monotonic()
            shoppers.wait_for(20, after=back)
            wait_until(lambda: served_quotes(one) > 0, message="the restarted replica serving quotes again")
            restart = shoppers.sent_after(started)
            assert set(restart) == {200}, f"quotes lost in the restart: {restart}"

            # 5. replica two killed: the quotes it had in hand are retried on replica one by
            # HAProxy (retry-on, redispatch), and the health check takes it out of the pool
            kill_started = time.monotonic()
            kill(two)
            killed = time.monotonic()
            lb.wait_status("replica2", "DOWN", timeout=10)
            shoppers.wait_for(40, after=time.monotonic())
        after = shoppers.sent_after(killed)
        assert set(after) == {200}, f"quotes lost after the kill: {after}"
        caught = [q for q in shoppers.quotes if kill_started <= q[1] and q[0] < killed and q[2] != 200]
        lost = [q for q in shoppers.quotes if q[0] >= started and q[2] != 200]
        # a quote whose answer replica two had begun to send when it died cannot be retried:
        # the only kind of loss allowed, at most one per shopper
        assert lost == caught and len(lost) <= 4, (lost, lb.log.read_text()[-3000:])
        rows = lb.servers()
        assert (rows["replica1"]["status"], rows["replica2"]["status"]) == ("UP", "DOWN"), rows
        assert rows["replica2"]["check_status"].startswith("L4"), rows["replica2"]  # its port refuses connections
        assert through.post("/v1/eligibility", json=QUOTE, headers=AT_GALA).status_code == 200
