"""The HTTP bounds of `rights serve` (api/serve/http_limits.py and uvicorn's own), against a
real server: an oversized request head is refused without being held in memory, slow
heads and bodies are cut, idle connections closed, connections per worker capped, and
ordinary requests go through untouched. No timing is asserted: each test waits for the
server to act, with a generous deadline."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from serving import DEADLINE_S, Server, http, wait_until

pytestmark = pytest.mark.slow  # real rights serve processes
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(
        tmp_path_factory.mktemp("limits"),
        env={
            "RIGHTS_HEADER_TIMEOUT_S": "1",
            "RIGHTS_BODY_TIMEOUT_S": "1",
            "RIGHTS_KEEPALIVE_TIMEOUT_S": "1",
            "RIGHTS_MAX_HEADER_BYTES": "16384",
        },
    ) as served:
        yield served.ready()


def connect(server: Server) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def answer(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (b"" on a reset)."""
    data = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_an_oversized_head_gets_431_in_the_error_shape(server):
    """A head past RIGHTS_MAX_HEADER_BYTES (16 KiB here), sent whole: the answer is 431."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    for _ in range(5):  # a reset may overtake the answer on the wire; one clean read is enough
        with connect(server) as conn:
            conn.sendall(head)
            data = answer(conn)
        assert data == b"" or data.startswith(b"HTTP/1.1 431 "), data[:200]
        if data:
            break
    status_and_headers, _, body = data.partition(b"\r\n\r\n")
    assert b"connection: close" in status_and_headers.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "headers_too_large" and error["field"] is None and "16384" in error["reason"]


def test_endless_headers_are_cut_off_without_being_buffered(server):
    """Sixteen connections each start a 1 MiB header and never end it: each is answered
    431 or closed, and the worker's memory does not grow by anything like 16 MiB."""
    worker = server.http_pid() or server.pid  # with one worker, the HTTP server is the worker
    before = rss_kib(worker)
    results: list = []

    def endless():
        with connect(server) as conn:
            try:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MIB)
            except OSError:  # the server closed the connection while we were still sending
                pass
            results.append(answer(conn))

    threads = [threading.Thread(target=endless) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
    assert len(results) == 16 and all(r == b"" or r.startswith(b"HTTP/1.1 431 ") for r in results), [
        r[:40] for r in results
    ]
    assert rss_kib(worker) - before < 4 * 1024, (before, rss_kib(worker))
    assert http(server.url + "/healthz")[0] == 200


def test_a_half_sent_head_is_closed_after_the_header_timeout(server):
    with connect(server) as slow, connect(server) as silent:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert answer(slow) == b""  # closed, with nothing said
        assert answer(silent) == b""  # a connection that never sends a byte, too


def test_a_half_sent_body_is_cut(server):
    with connect(server) as conn:
        conn.sendall(
            b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"lines"'
        )
        assert b" 200 " not in answer(conn)


def test_a_table_sized_body_is_not_read_before_the_admin_token_is_checked(server):
    """The rule-table routes take bodies up to RIGHTS_MAX_RULES_BYTES (64 MiB), for an admin
    only: a chunked body from anyone else is refused before a byte of it is buffered."""
    with connect(server) as conn:
        conn.sendall(
            b"POST /v1/rules/simulate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n1000\r\n" + b" " * 4096 + b"\r\n"
        )  # and no more: the body never ends
        head = conn.recv(65536)
    assert head.split(b" ", 2)[1] in (b"401", b"403") and b"admin" in head, head[:300]


def _answers(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP/1.1 answer in a stream of them, by Content-Length."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        out.append((int(head.split(b" ", 2)[1]), rest[:length]))
        raw = rest[length:]
    return out


def test_a_request_asking_to_switch_protocols_never_lets_its_body_run_as_a_request(server):
    """The parser hands what follows an Upgrade request's head to the new protocol: with a
    body it is refused, and the bytes after it are never read as another request."""
    inner = b"GET /v1/noop HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(server) as conn:
        conn.sendall(
            b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: %d\r\n\r\n" % len(inner) + inner
        )
        answers = _answers(answer(conn))
    assert [status for status, _ in answers] == [400], answers
    assert json.loads(answers[0][1])["error"]["code"] == "upgrade_not_supported"
    with connect(server) as conn:  # without a body: answered, then the connection closes
        conn.sendall(b"GET /v1/noop HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + inner)
        assert [status for status, _ in _answers(answer(conn))] == [200]


def test_an_unreadable_request_behind_others_is_refused_after_their_answers(server):
    with connect(server) as conn:
        conn.sendall(
            b"GET /v1/noop HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET /v1/noop HTTP/1.1\r\nBad Header: y\r\n\r\n"
        )
        answers = _answers(answer(conn))
    assert [status for status, _ in answers] == [200, 200, 400], answers
    assert json.loads(answers[2][1])["error"]["code"] == "malformed_request"


def test_a_broken_chunked_body_gets_its_400_at_once(server):
    """The bytes that break the parser are the body of the request being read: it can never
    be whole, so it is given up and answered, not left waiting with the connection held."""
    with connect(server) as conn:
        conn.settimeout(30)  # only how long a failure takes to show
        conn.sendall(b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n")
        answers = _answers(answer(conn))
    assert [status for status, _ in answers] == [400]
    assert json.loads(answers[0][1])["error"]["code"] == "malformed_request"


def test_a_content_length_with_thousands_of_zeros_in_front_is_read_never_500(server):
    """Zeros in front are valid HTTP (the parser takes them); Python's int() refuses a
    number of over 4,300 digits, so the length is read without them."""
    with connect(server) as conn:  # 5: the body is read, and refused as JSON
        conn.sendall(b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"0" * 4400 + b"5\r\n\r\nhello")
        assert [status for status, _ in _answers(conn.recv(65536))] == [400]
    with connect(server) as conn:  # past the body limit: 413, and the connection closes
        conn.sendall(b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"0" * 4400 + b"70000\r\n\r\n")
        assert [status for status, _ in _answers(answer(conn))] == [413]


def test_chunked_trailers_are_dropped_and_bounded(server):
    """A trailer never reaches the request's headers; trailers past a head's worth (complete
    fields, or one that never ends) close the connection before the request is answered."""
    body = b'{"lines": []}'
    start = (
        b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n" % (len(body), body)
    )
    with connect(server) as conn:  # X-Rights-Now as a trailer would set the instant on a server that honours it
        conn.sendall(
            start + b"X-Api-Key: t\r\nX-Rights-Now: 1794402000\r\n\r\n" + b"GET /v1/noop HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        answers = _answers(conn.recv(65536) + conn.recv(65536))
    assert [status for status, _ in answers] == [200, 200] and b'"at":1794402000' not in answers[0][1]
    with connect(server) as conn:  # 40 KB of complete trailers, and the end: closed, never answered
        conn.sendall(start + b"".join(b"X-T%d: %s\r\n" % (n, b"a" * 1000) for n in range(40)) + b"\r\n")
        assert answer(conn) == b""


def test_one_endless_trailer_field_is_cut_at_a_head_s_worth(tmp_path_factory):
    """A field the parser never sees end is counted as it arrives, not when it ends: the
    connection closes well before a body deadline long enough to hold a worker for minutes."""
    body = b'{"lines": []}'
    with Server(tmp_path_factory.mktemp("trailer"), env={"RIGHTS_BODY_TIMEOUT_S": "120"}) as served:
        served.ready()
        with connect(served) as conn:
            conn.settimeout(60)  # only how long a failure takes to show: the close comes at once
            try:  # past twice the head limit (32 KiB): counted from the first read without body data
                conn.sendall(
                    b"POST /v1/eligibility HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"%x\r\n%s\r\n0\r\nX-T: " % (len(body), body) + b"a" * 100_000
                )
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert answer(conn) == b""


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = answer(conn)  # the answer, then the close once the connection idles
    assert data.startswith(b"HTTP/1.1 200 ") and data.count(b"HTTP/1.1") == 1


def test_ordinary_requests_are_untouched(server):
    assert http(server.url + "/healthz")[0] == 200
    assert http(server.url + "/healthz", headers={"X-Pad": "p" * 8000})[0] == 200  # a large head, under the limit
    status, body = http(
        server.url + "/v1/eligibility", json.dumps({"lines": []}).encode(), {"content-type": "application/json"}
    )
    assert status == 200 and body["rules_version"]
    big = json.dumps({"lines": [], "pad": "x" * 40_000}).encode()  # a body bigger than the head limit
    assert http(server.url + "/v1/eligibility", big, {"content-type": "application/json"})[0] == 422
    with connect(server) as conn:  # two pipelined requests in one write: two answers
        conn.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert answer(conn).count(b"HTTP/1.1 200 ") == 2


def test_connections_per_worker_are_capped(serve):
    served = serve(env={"RIGHTS_MAX_CONNECTIONS": "4", "RIGHTS_HEADER_TIMEOUT_S": "600"})
    held = [connect(served) for _ in range(3)]
    try:
        wait_until(lambda: http(served.url + "/healthz")[0] == 503, message="a 503 past four connections")
        for conn in held:
            conn.close()
        wait_until(lambda: http(served.url + "/healthz")[0] == 200, message="a 200 once they are closed")
    finally:
        for conn in held:
            conn.close()


def test_an_oversized_head_behind_a_pipelined_request_waits_for_its_answer(server):
    """A small request, then in the same write a head past the limit: the first is still
    answered, then the 431, then the connection closes."""
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    with connect(server) as conn:
        conn.sendall(first + big)
        data = answer(conn)
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert b"HTTP/1.1 431 " in data and data.index(b"HTTP/1.1 431 ") > data.index(b'{"alive":true}')
