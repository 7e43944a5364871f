"""Behaviour events from a Redis stream (`rights consume events`, api/event_stream.py),
against a real redis-server: good entries credited exactly once by event id, poison ones
dead-lettered with their reason, a re-delivered entry a replay, entries a killed consumer
held taken over by the others, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import in_a_worker

from api.errors import RedisUnavailable
from api.event_stream import EventConsumer, Options
from api.ledger import ledger_entries
from api.redis.connect import async_client
from api.redis.keys import dead_letter_key, event_stream_key
from api.store import MemberRecord, write_members

ROOT = Path(__file__).resolve().parent.parent
PATIENCE_S = 60  # a wait for the consumers gives up after this: a hang fails, it does not block the run


def invite(event_id: str, member_id: str) -> dict:
    """An entry of an `invite_order` event: 100 points in the demo table, no caps, no room."""
    return {"event": orjson.dumps({"event_id": event_id, "member_id": member_id, "type": "invite_order"})}


def balance(client, member_id: str) -> int:
    return int(client.hget(f"m:{{{member_id}}}", "points") or 0)


def credited_refs(client, member_id: str) -> list[str]:
    """The event ids the member's ledger credited, one per ledger entry."""
    return [
        fields[b"ref"].decode()
        for _, fields in ledger_entries(client, member_id, count=None)
        if fields[b"reason"].decode().startswith("event:")
    ]


def consume_until(redis_server, options: Options, done, prepare=None, **settings):
    """Run one in-process consumer until `done(tally)` holds, then stop it; its tally.
    `prepare(service)` runs first."""

    async def scenario(service):
        if prepare is not None:
            prepare(service)
        stop = asyncio.Event()
        client = async_client(redis_server.url, socket_timeout=10)
        consumer = EventConsumer(service, client, options, stop)
        await consumer.ensure_group()
        task = asyncio.ensure_future(consumer.run())
        deadline = time.monotonic() + PATIENCE_S
        while not done(consumer.tally) and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await client.aclose()
        return consumer.tally

    return in_a_worker(redis_server, scenario, **settings)


def test_poison_entries_are_dead_lettered_and_good_ones_credited_once(redis_server, redis_client):
    write_members(
        redis_client,
        [
            MemberRecord(id="G1", tier="gold", points=1000),
            MemberRecord(id="G2", tier="silver", points=0),
            MemberRecord(id="ICE", tier="gold", points=300, frozen=True),
        ],
    )
    key = event_stream_key("poison")
    redis_client.xadd(key, invite("i1", "G1"))
    redis_client.xadd(key, {"event": b"{not json"})
    redis_client.xadd(key, {"note": b"no event field"})
    redis_client.xadd(key, {"event": orjson.dumps({"event_id": "m1", "type": "invite_order"})})
    redis_client.xadd(key, invite("u1", "NOBODY"))
    redis_client.xadd(key, {"event": orjson.dumps({"event_id": "k1", "member_id": "G1", "type": "dance"})})
    redis_client.xadd(key, invite("f1", "ICE"))
    redis_client.xadd(key, invite("i2", "G2"))
    redis_client.xadd(key, invite("i1", "G1"))  # the same event again: a replay
    options = Options(stream="poison", group="g", consumer="c1", block_ms=100)
    tally = consume_until(redis_server, options, lambda t: t.credited + t.replays + t.dead >= 9)
    assert (tally.credited, tally.replays, tally.dead) == (2, 1, 6)
    assert balance(redis_client, "G1") == 1100 and balance(redis_client, "G2") == 100
    assert credited_refs(redis_client, "G1") == ["i1"] and credited_refs(redis_client, "G2") == ["i2"]
    letters = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in redis_client.xrange(dead_letter_key("poison"))
    ]
    assert [(d["code"], d["field"]) for d in letters] == [
        ("malformed_json", "event"),
        ("invalid_request", "event"),
        ("invalid_request", "member_id"),
        ("unknown_member", "member_id"),
        ("invalid_request", "type"),
        ("member_frozen", "member_id"),
    ]
    assert letters[1]["note"] == "no event field" and letters[0]["event"] == "{not json"
    assert "no field `event`" in letters[1]["reason"] and "unknown event kind 'dance'" in letters[4]["reason"]
    assert all(d["consumer"] == "c1" and d["source_id"] for d in letters)
    assert redis_client.xpending(key, "g")["pending"] == 0


def test_an_event_past_the_body_limit_is_dead_lettered_cut_to_a_bounded_letter(redis_server, redis_client):
    """As POST /v1/events refuses a body past RIGHTS_MAX_BODY_BYTES, so does the consumer; the
    letter keeps at most 4 KiB of each field, so a few huge entries cannot fill Redis."""
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    key = event_stream_key("huge")
    padded = {"event_id": "h1", "member_id": "G1", "type": "share", "note": "x" * 2_000_000}
    redis_client.xadd(key, {"event": orjson.dumps(padded), "extra": b"y" * 100_000})
    tally = consume_until(
        redis_server, Options(stream="huge", group="g", consumer="c1", block_ms=100), lambda t: t.dead
    )
    assert tally.dead == 1 and balance(redis_client, "G1") == 0
    [(_, letter)] = redis_client.xrange(dead_letter_key("huge"))
    assert (letter[b"code"], letter[b"field"]) == (b"body_too_large", b"event")
    assert letter[b"event"].endswith(b"bytes in all)") and len(letter[b"event"]) < 4200
    assert letter[b"extra"] == b"y" * 4096 + b"... (100,000 bytes in all)"


def test_a_redelivered_entry_already_credited_is_not_credited_again(redis_server, redis_client):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    key = event_stream_key("again")
    redis_client.xgroup_create(key, "g", id="0", mkstream=True)
    redis_client.xadd(key, invite("once", "G1"))
    # a consumer credits it and dies before its XACK: read, credited, left pending
    redis_client.xreadgroup("g", "gone", {key: ">"}, count=10)
    first = consume_until(
        redis_server,
        Options(stream="again", group="g", consumer="first", block_ms=100, claim_idle_ms=1, claim_every_s=0.1),
        lambda t: t.credited >= 1,
    )
    assert first.credited == 1 and balance(redis_client, "G1") == 100
    # delivered once more (a producer's retry, a claim by another consumer): a replay
    redis_client.xadd(key, invite("once", "G1"))
    redis_client.xreadgroup("g", "gone", {key: ">"}, count=10)
    second = consume_until(
        redis_server,
        Options(stream="again", group="g", consumer="second", block_ms=100, claim_idle_ms=1, claim_every_s=0.1),
        lambda t: t.replays >= 1,
    )
    assert (second.credited, second.replays, second.dead) == (0, 1, 0)
    assert balance(redis_client, "G1") == 100 and credited_refs(redis_client, "G1") == ["once"]
    assert redis_client.xpending(key, "g")["pending"] == 0


def test_a_redis_fault_leaves_the_entry_pending_and_it_is_credited_later(redis_server, redis_client):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    redis_client.xadd(event_stream_key("fault"), invite("late", "G1"))

    def failing_once(service):
        calls = {"n": 0}
        real = service.redis_call

        async def redis_call(awaitable):
            calls["n"] += 1
            if calls["n"] == 1:
                awaitable.close()
                raise RedisUnavailable("Redis unavailable: it does not answer")
            return await real(awaitable)

        service.redis_call = redis_call

    options = Options(stream="fault", group="g", consumer="c1", block_ms=100, claim_idle_ms=1, claim_every_s=0.1)
    tally = consume_until(redis_server, options, lambda t: t.credited >= 1, prepare=failing_once)
    assert (tally.retried, tally.credited, tally.dead) == (1, 1, 0)
    assert balance(redis_client, "G1") == 100 and redis_client.xlen(dead_letter_key("fault")) == 0
    assert redis_client.xpending(event_stream_key("fault"), "g")["pending"] == 0


def test_at_is_read_only_where_the_clock_may_be_set(redis_server, redis_client):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    then = 1_800_000_000
    redis_client.xadd(event_stream_key("clock"), {**invite("a1", "G1"), "at": str(then)})
    redis_client.xadd(event_stream_key("clock"), {**invite("a2", "G1"), "at": "soon"})
    options = Options(stream="clock", group="g", consumer="c1", block_ms=100)
    tally = consume_until(redis_server, options, lambda t: t.credited + t.dead >= 2, allow_clock_override=True)
    assert (tally.credited, tally.dead) == (1, 1)
    credited_at = [int(f[b"at"]) for _, f in ledger_entries(redis_client, "G1", count=None) if f[b"ref"] == b"a1"]
    assert credited_at == [then]
    (_, letter), *_ = redis_client.xrange(dead_letter_key("clock"))
    assert letter[b"field"] == b"at"
    redis_client.xadd(event_stream_key("clock"), {**invite("a3", "G1"), "at": "soon"})
    tally = consume_until(redis_server, options, lambda t: t.credited >= 1)  # not read: the consumer's clock
    assert tally.credited == 1


def test_a_deleted_stream_is_made_again_with_its_group(redis_server, redis_client):
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    key = event_stream_key("gone")

    async def scenario(service):
        stop = asyncio.Event()
        client = async_client(redis_server.url, socket_timeout=10)
        consumer = EventConsumer(service, client, Options(stream="gone", group="g", consumer="c1", block_ms=100), stop)
        await consumer.ensure_group()
        redis_client.delete(key)  # the stream and its group gone while the consumer runs
        task = asyncio.ensure_future(consumer.run())
        deadline = time.monotonic() + PATIENCE_S
        while not redis_client.exists(key) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        redis_client.xadd(key, invite("back", "G1"))
        while consumer.tally.credited < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await client.aclose()
        return consumer.tally

    tally = in_a_worker(redis_server, scenario)
    assert tally.credited == 1 and balance(redis_client, "G1") == 100


def test_a_consumer_follows_a_pushed_rule_table(redis_server, redis_client):
    import yaml

    from engine.demo import DEMO_RULES
    from engine.rules.load import compile_source

    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    key = event_stream_key("pushed")
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["points"]["events"]["invite_order"]["points"] = 150
    source = yaml.safe_dump(data, allow_unicode=True).encode()

    async def scenario(service):
        stop = asyncio.Event()
        client = async_client(redis_server.url, socket_timeout=10)
        consumer = EventConsumer(
            service, client, Options(stream="pushed", group="g", consumer="c1", block_ms=100), stop
        )
        await consumer.ensure_group()
        task = asyncio.ensure_future(consumer.run())
        table = compile_source(source, "more-for-invites")
        await service.rules.store.push(table.version, source, "ops", "more-for-invites", None, int(time.time()))
        deadline = time.monotonic() + PATIENCE_S
        while service.table.version != table.version and time.monotonic() < deadline:  # the watcher follows
            await asyncio.sleep(0.05)
        followed = service.table.version == table.version
        redis_client.xadd(key, invite("after-push", "G1"))
        while consumer.tally.credited < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await client.aclose()
        return followed, consumer.tally

    followed, tally = in_a_worker(redis_server, scenario)
    assert followed and tally.credited == 1 and balance(redis_client, "G1") == 150


def _consumer(redis_server, tmp_path: Path, name: str, stream: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "RIGHTS_EVENTS_PER_MINUTE": "0", "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    log = (tmp_path / f"{name}.err").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "rights", "consume", "events", "--redis-url", redis_server.url, "--stream", stream]
        + ["--group", "g", "--consumer", name, "--block-ms", "200", *extra],
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=ROOT,
        env=env,
    )


def _started(process: subprocess.Popen) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("consuming events:{"), line
    return line


def _stopped(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=PATIENCE_S)
    assert process.returncode == 0
    return out.decode()


def _wait(condition) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, "the consumers did not finish in time"
        time.sleep(0.1)


def test_sigterm_stops_a_consumer_with_exit_0(redis_server, redis_client, tmp_path):
    in_a_worker(redis_server, lambda service: asyncio.sleep(0))  # the demo table, active in Redis
    write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=0)])
    process = _consumer(redis_server, tmp_path, "solo", "term")
    try:
        line = _started(process)
        assert "events:{term}" in line and "group g" in line and "consumer solo" in line
        redis_client.xadd(event_stream_key("term"), invite("t1", "G1"))
        _wait(lambda: balance(redis_client, "G1") == 100)
        summary = _stopped(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert summary.strip().endswith("credited 1, replays 0, dead-lettered 0")
    assert redis_client.xpending(event_stream_key("term"), "g")["pending"] == 0


def test_a_consumer_without_an_active_rule_table_refuses_to_start(redis_server, redis_client, tmp_path):
    process = _consumer(redis_server, tmp_path, "early", "none")
    process.communicate(timeout=PATIENCE_S)
    assert process.returncode == 1
    assert "no active rule table" in (tmp_path / "early.err").read_text()


@pytest.mark.slow
def test_ten_thousand_events_three_consumers_one_killed_each_credited_once(redis_server, redis_client, tmp_path):
    in_a_worker(redis_server, lambda service: asyncio.sleep(0))
    members = [f"M{n:04d}" for n in range(1000)]  # ten events each: the demo table freezes past ten an hour
    write_members(redis_client, [MemberRecord(id=m, tier="silver", points=0) for m in members])
    key = event_stream_key("load")
    redis_client.xgroup_create(key, "g", id="0", mkstream=True)
    total, poison = 10_000, 0
    pipe = redis_client.pipeline(transaction=False)
    for n in range(total):
        if n % 500 == 250:  # every 500th event a poison one: an unknown member
            pipe.xadd(key, invite(f"e{n}", "NOBODY"))
            poison += 1
        else:
            pipe.xadd(key, invite(f"e{n}", members[n % len(members)]))
    pipe.execute()
    claim = ("--count", "50", "--claim-idle-ms", "1000", "--claim-every-s", "0.5")
    processes = [_consumer(redis_server, tmp_path, f"c{n}", "load", *claim) for n in range(3)]
    try:
        for process in processes:
            _started(process)
        victim = processes[0]
        # killed mid-run, with entries in hand: read, perhaps credited, not acknowledged
        _wait(lambda: _consumer_pending(redis_client, key, "c0") > 0 or victim.poll() is not None)
        victim.kill()
        victim.wait(timeout=PATIENCE_S)
        good = total - poison
        _wait(
            lambda: (
                sum(balance(redis_client, m) for m in members) == good * 100
                and redis_client.xlen(dead_letter_key("load")) >= poison
                and redis_client.xpending(key, "g")["pending"] == 0
                and _undelivered(redis_client, key) == 0
            )
        )
        summaries = [_stopped(process) for process in processes[1:]]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert all("credited" in summary for summary in summaries)
    assert _consumer_pending(redis_client, key, "c0") == 0  # what it held, the survivors took over
    refs = [ref for m in members for ref in credited_refs(redis_client, m)]
    assert len(refs) == len(set(refs)) == total - poison
    assert sum(balance(redis_client, m) for m in members) == (total - poison) * 100
    letters = redis_client.xrange(dead_letter_key("load"))
    dead_ids = [orjson.loads(fields[b"event"])["event_id"] for _, fields in letters]
    assert len(set(dead_ids)) == poison and all(fields[b"code"] == b"unknown_member" for _, fields in letters)


def _consumer_pending(client, key: str, consumer: str) -> int:
    for entry in client.xinfo_consumers(key, "g"):
        if entry["name"] in (consumer, consumer.encode()):
            return int(entry["pending"])
    return 0


def _undelivered(client, key: str) -> int:
    """Entries the group has not yet been given (its lag)."""
    group = next(g for g in client.xinfo_groups(key) if g["name"] in ("g", b"g"))
    last = group["last-delivered-id"]
    last = last.decode() if isinstance(last, bytes) else last
    return len(client.xrange(key, min=f"({last}", count=1))
