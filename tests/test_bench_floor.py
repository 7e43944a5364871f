"""The benchmarks' floors, peers and meter: the raw ASGI app answers the bytes it is given
with the eligibility route's headers, zen-engine decides what the compiled quote decides,
and a server's CPU time counts its whole tree."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from bench import raw_asgi, server_cpu


def test_the_raw_app_answers_its_bytes_whatever_the_request(tmp_path, monkeypatch):
    answer = tmp_path / "answer.json"
    answer.write_bytes(b'{"rules_version":"v","at":1}')
    monkeypatch.setenv(raw_asgi.BODY_FILE_ENV, str(answer))
    app = raw_asgi.create_app()
    pieces = [
        {"type": "http.request", "body": b'{"lines":', "more_body": True},
        {"type": "http.request", "body": b"[]}"},
    ]
    sent: list = []

    async def receive():
        return pieces.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "POST", "path": "/v1/eligibility"}, receive, send))
    assert pieces == []  # the whole body was read
    assert sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"28"), (b"content-type", b"application/json")],
        },
        {"type": "http.response.body", "body": b'{"rules_version":"v","at":1}'},
    ]


def test_a_trees_cpu_time_counts_its_children():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"],
    )
    try:
        assert child.pid in server_cpu.tree(os.getpid())
        first = server_cpu.cpu_seconds(child.pid)
        time.sleep(0.5)
        assert server_cpu.cpu_seconds(child.pid) > first  # the spinning child's time, read from /proc
        assert server_cpu.tree(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait()


def test_the_zen_engine_peer_decides_what_the_compiled_quote_decides():
    """The comparison with GoRules zen-engine is of one decision: for the benchmark's carts
    both find the same unit prices and the same usable coupons (segments and coupons bought
    with points included), else the row's ratio compares two different answers."""
    from bench import zen_bench

    figures = zen_bench.run(carts=60, repeat=1)
    assert figures["carts_with_the_same_prices_and_coupons"] == figures["carts"] == 60
