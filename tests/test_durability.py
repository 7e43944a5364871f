"""Acknowledged means kept: redis-server is SIGKILLed in the middle of a burst of
settlements under `appendfsync always`, restarted from its AOF, and every order the API
acknowledged is there, with its points in the ledger and the balance. Then every client
retries every order with its id, as clients do after a failure: the acknowledged ones get
their first answer back and nothing is credited twice."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
from serving import wait_until

from api.ledger import ledger_entries
from api.redis.embedded import EmbeddedRedis
from api.store import MemberRecord, write_members

pytestmark = pytest.mark.slow  # real rights serve processes, a burst of 600 orders


def test_every_acknowledged_settlement_survives_a_kill(tmp_path, serve):
    store = EmbeddedRedis(tmp_path / "redis", appendfsync="always").start()
    try:
        _settle_kill_and_retry(store, serve)
    finally:
        store.stop()  # whichever redis-server the test left running


def _settle_kill_and_retry(store: EmbeddedRedis, serve) -> None:
    import httpx

    client = redis.Redis.from_url(store.url)
    members = [MemberRecord(id=f"D{k:03d}", tier="gold", points=100) for k in range(50)]
    write_members(client, members)
    server = serve(env={"REDIS_URL": store.url, "RIGHTS_REDIS_TIMEOUT_MS": "2000"})
    acknowledged: list = []

    async def burst():
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            version = (await http.post("/v1/eligibility", json={"lines": []})).json()["rules_version"]

            async def settle(n: int):
                member = members[n % len(members)].id
                body = {
                    "order_id": f"K{n}",
                    "member_id": member,
                    "lines": [{"sku": "MILK-1L", "qty": 1}],
                    "rules_version": version,
                }
                try:
                    answer = await http.post("/v1/orders", json=body)
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    acknowledged.append(answer.json())

            # a killer thread pulls the plug once a few dozen orders are through
            killer = threading.Thread(
                target=lambda: (
                    wait_until(lambda: len(acknowledged) >= 40, interval=0.001, message="40 acknowledged orders"),
                    store.kill(),
                )
            )
            killer.start()
            for start in range(0, 600, 20):
                await asyncio.gather(*(settle(n) for n in range(start, start + 20)))
                if store.process is None or store.process.poll() is not None:
                    break
            killer.join()

    try:
        asyncio.run(burst())
    finally:
        server.stop()
    assert 40 <= len(acknowledged) < 600, len(acknowledged)
    store.start()  # the same data directory: the AOF is replayed
    client = redis.Redis.from_url(store.url)
    _every_client_retries(serve(env={"REDIS_URL": store.url}), store.url, acknowledged, sent=600, members=members)
    for answer in acknowledged:
        member, order_id = answer["member_id"], answer["order_id"]
        assert client.hget(f"ord:{{{member}}}:{order_id}", "state") == b"done", order_id
        refs = [fields[b"ref"] for _, fields in ledger_entries(client, member, count=None)]
        assert order_id.encode() in refs, order_id
    for member in members:
        points = int(client.hget(f"m:{{{member.id}}}", "points"))
        deltas = [int(fields[b"delta"]) for _, fields in ledger_entries(client, member.id, count=None)]
        assert points == sum(deltas), member.id


def _every_client_retries(server, url: str, acknowledged: list, sent: int, members: list) -> None:
    import httpx

    first = {answer["order_id"]: answer for answer in acknowledged}
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            version = http.post("/v1/eligibility", json={"lines": []}).json()["rules_version"]
            for n in range(sent):
                body = {
                    "order_id": f"K{n}",
                    "member_id": members[n % len(members)].id,
                    "lines": [{"sku": "MILK-1L", "qty": 1}],
                    "rules_version": version,
                }
                answer = http.post("/v1/orders", json=body)
                assert answer.status_code == 200, answer.text
                if body["order_id"] in first:
                    assert answer.json() == first[body["order_id"]]  # the first answer, not a second credit
    finally:
        server.stop()
    client = redis.Redis.from_url(url)
    for member in members:
        refs = [
            fields[b"ref"]
            for _, fields in ledger_entries(client, member.id, count=None)
            if fields[b"reason"] == b"order"
        ]
        assert len(refs) == len(set(refs)), member.id  # each order credited once
