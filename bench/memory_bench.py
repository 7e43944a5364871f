"""`rights bench memory`: what a member costs in Redis, and how fast members import.

Starts its own redis-server (loopback, a free port, configured as the embedded one:
api/redis/embedded.py), imports 100,000 members shaped as the demo's (a name, a tier,
points, a birthday month, sessions watched, a leader, a tag and three identities: phone,
OpenID, UnionID) through the import of `rights members import` (api/members_import.py,
from JSON lines), and reads `used_memory` before and after. Then it brings a sample of
those members to 1, 2, 10 and 100 ledger entries through the ledger's own scripts: the
first by a sweep (the member's first ledger script, which opens its ledger: the
`opening` entry and lot), each further one by a freeze or an unfreeze (an entry with a
32-character reference, as an order's; nothing else written), and reads `used_memory`
after each stage. Each script is called once first, for a member outside the sample: Redis
spends about 200 KB on the first call of a script, whatever the members.

`bytes_per_member_1_entry` is everything a member with one ledger entry costs: its hash,
its identities, its share of its leader's group, its lots and its ledger stream.
"""

from __future__ import annotations

import tempfile
import time

import orjson

from api.ledger import freeze, sweep
from api.members_import import import_rows
from api.members_io import count_rows, demo_members, read_rows
from api.redis.connect import sync_client
from api.redis.embedded import EmbeddedRedis
from api.redis.scripts import Scripts
from bench.demo_server import with_the_benchmark
from bench.progress import per_second, report

PIPELINE = 1000  # ledger script calls a pipeline
REF = "review:order-20261111-000000123"  # as long as an order's reference


def member_rows(count: int) -> str:
    """`count` members shaped as the demo's, as JSON lines (the import's input)."""
    lines = []
    for record in demo_members(count):
        row = {
            "id": record.id,
            "name": record.name,
            "tier": record.tier,
            "points": record.points,
            "birthday_month": record.birthday_month,
            "sessions_watched": record.sessions_watched,
            "leader": record.leader,
            "tags": record.tags,
            **record.identities,
        }
        if record.paid_until:
            row["paid_until"] = record.paid_until
        lines.append(orjson.dumps(row))
    return b"\n".join(lines).decode()


def _used(client) -> int:
    """What the data costs: `used_memory` less the clients' buffers (the benchmark's own
    pipelines leave up to hundreds of kilobytes there until Redis trims them), the AOF's
    buffer and the scripts' caches (loaded once, whatever the members)."""
    time.sleep(0.2)  # the last writes reach the AOF
    memory = client.info("memory")
    transient = ("mem_clients_normal", "mem_aof_buffer", "used_memory_scripts")
    return int(memory["used_memory"]) - sum(int(memory[name]) for name in transient)


def _in_pipelines(client, calls) -> None:
    """Run `calls` (each a function of a pipeline that queues one script call) in pipelines."""
    for start in range(0, len(calls), PIPELINE):
        pipe = client.pipeline(transaction=False)
        for call in calls[start : start + PIPELINE]:
            call(pipe)
        pipe.execute()


def run(members: int = 100_000, sample: int = 1_000, stream_node_max_bytes: int | None = None) -> dict:
    """The figures, as one flat dict of numbers; `stream_node_max_bytes`, when given, is
    set on the benchmark's Redis before the import."""
    text = member_rows(members)
    with tempfile.TemporaryDirectory(prefix="rights-bench-memory-") as data_dir:
        with EmbeddedRedis(data_dir, preexec_fn=with_the_benchmark()) as server:
            client = sync_client(server.url, socket_timeout=30)
            if stream_node_max_bytes is not None:
                client.config_set("stream-node-max-bytes", stream_node_max_bytes)
            config = client.config_get("stream-node-max-bytes")
            empty = _used(client)
            started = time.perf_counter()
            count_rows(text, "members.jsonl")  # as `rights members import` counts them for its bar
            rows = read_rows(text, "members.jsonl")
            result = import_rows(client, rows, None, lambda *refused: None, lambda done: None)
            import_s = time.perf_counter() - started
            if result.error is not None or result.written != members:
                raise RuntimeError(f"the import stopped: {result}")
            imported = _used(client)
            rate = members / import_s
            per_member = (imported - empty) / members
            scripts = Scripts(client)
            ids = [f"M{k:05d}" for k in range(1, members, max(1, members // sample))][:sample]
            now = int(time.time())
            warm = f"M{members:05d}"  # outside the sample: the first call of a script costs Redis about 200 KB once
            sweep(scripts, warm, now)
            freeze(scripts, warm, True, now, REF)
            imported = _used(client)
            report(
                "memory",
                1,
                5,
                "import",
                f"{per_second(rate, 'members/s')}, {per_member:,.0f} bytes a member",
                step="stage",
            )

            def a_member(used: int) -> float:
                """What a sampled member costs while Redis holds `used` bytes of data."""
                return per_member + (used - imported) / len(ids)

            def stage(k: int, what: str, used: int) -> int:
                report("memory", k, 5, what, f"{a_member(used):,.0f} bytes a member", step="stage")
                return used

            def entries(upto: int, done: int) -> list:
                return [
                    lambda pipe, m=m, k=k: freeze(scripts, m, k % 2 == 1, now + k, REF, client=pipe)
                    for k in range(done, upto)
                    for m in ids
                ]

            _in_pipelines(client, [lambda pipe, m=m: sweep(scripts, m, now, client=pipe) for m in ids])
            one = stage(2, "1 entry", _used(client))
            _in_pipelines(client, entries(2, 1))
            two = stage(3, "2 entries", _used(client))
            _in_pipelines(client, entries(10, 2))
            ten = stage(4, "10 entries", _used(client))
            _in_pipelines(client, entries(100, 10))
            hundred = _used(client)
            further = (hundred - ten) / (90 * len(ids))
            report("memory", 5, 5, "100 entries", f"{further:,.0f} bytes a further entry", step="stage")
    return {
        "members": members,
        "sample": len(ids),
        "stream_node_max_bytes": int(config.get("stream-node-max-bytes", 0)),
        "import_members_per_s": round(rate),
        "bytes_per_member_imported": round(per_member),
        "bytes_per_member_1_entry": round(a_member(one)),
        "bytes_per_member_2_entries": round(a_member(two)),
        "bytes_per_member_10_entries": round(a_member(ten)),
        "bytes_per_member_100_entries": round(a_member(hundred)),
        "bytes_per_further_entry": round(further),
    }


TARGETS = {
    "bytes_per_member_1_entry": ("<=", 1024),
    "import_members_per_s": (">=", 50_000),
}
