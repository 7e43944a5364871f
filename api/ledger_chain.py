"""The ledger's hash chains: every member's, and one brand-wide chain of redemptions and
pickup handovers; their verification and their anchors (`rights ledger verify|anchor`).

A member's chain. Every entry of `led:{<id>}` carries `n` (1, 2, ... in the member's
ledger) and `h`, written by the script that writes the entry (lua/chain.lua):

    h = SHA-1 hex of  prev || "\\n" || enc(n) enc(delta) enc(reason) enc(ref) enc(at)
                      enc(expires) enc(balance) enc(debt)

then, on an entry that carries `brand` (a brand in an alliance, api/alliance.py),
enc(brand) enc(from); where `prev` is the previous entry's `h` (GENESIS, forty "0", before the first), enc(v)
is "<length of v in bytes>:<v>" and a field an entry lacks (`debt` on most) is "". The
values hashed are the ones stored, byte for byte; the stream id Redis gives is not hashed.
The head (chain_n, chain_h) is kept in the member hash, which every ledger script already
writes, so appending reads one hash and writes no extra key. Entries written before the
chain existed carry no `n`; the chain starts at the first entry that does.

The brand chain. A redemption's ledger entry (and a pickup handover) is also linked into
`chain:{ledger}` (api.redis.keys), by lua/chain_link.lua after the member's script has
succeeded (one script cannot write two Cluster slots). Its entries carry seq, kind,
member, ref (the member entry's n; a handover's "<leader> <code>"), mh (the member entry's
h) and at, chained as above over (seq, kind, member, ref, mh, at). Linking is idempotent by
(kind, member, ref): `chain:{ledger}:seen` maps each to "<seq> <h> <mh>". A link lost to a
crash between the two scripts is found by `rights ledger verify --all`, and linked by
`--repair`.

An anchor is the SHA-256 of every member's head (sorted by member id) and the brand head,
with the instant: held outside Redis, it makes the history up to it fixed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .ledger import HELD_NAMES, held_entry, with_held
from .redis.keys import (
    ANCHOR_KEEP,
    ANCHORS_KEY,
    CHAIN_HEAD_KEY,
    CHAIN_KEY,
    CHAIN_SEEN_KEY,
    SCOPE,
    Scope,
    ledger_key,
    member_key,
)
from .redis.scripts import CHAIN_GENESIS, Scripts

GENESIS = CHAIN_GENESIS
MEMBER_FIELDS = ("n", "delta", "reason", "ref", "at", "expires", "balance", "debt")  # hashed, in this order
ALLIANCE_FIELDS = ("brand", "from")  # hashed after MEMBER_FIELDS on the entries that carry them (an alliance's)
BRAND_FIELDS = ("seq", "kind", "member", "ref", "mh", "at")
READ_BATCH = 1_000  # stream entries read per XRANGE; members per SCAN step and pipeline
LINK_GRACE_SECONDS = 60  # a redemption younger than this may still be on its way to the brand chain
BRAND = "(brand chain)"  # the `member` of a finding in the brand chain


def member_ref(member_id: str) -> str:
    """A member as the chains and their reports name it: the id, with `~<scope>` for
    another brand's member (docs/BRANDS.md), so brands never share a name."""
    scope = SCOPE.get().members
    return f"{member_id}~{scope}" if scope else member_id


def _keys_of(ref: str) -> tuple[str, str]:
    """(member hash, ledger stream) of a member named by member_ref."""
    member_id, _, scope = ref.partition("~")
    token = SCOPE.set(Scope("", scope))
    try:
        return member_key(member_id), ledger_key(member_id)
    finally:
        SCOPE.reset(token)


def chain_hash(prev: str, values: Sequence[bytes | str]) -> str:
    """An entry's h: SHA-1 (hex) of prev, a newline, then each value as "<bytes>:<value>"."""
    parts = [prev.encode(), b"\n"]
    for value in values:
        raw = value.encode() if isinstance(value, str) else value
        parts.append(b"%d:%s" % (len(raw), raw))
    return hashlib.sha1(b"".join(parts)).hexdigest()  # noqa: S324 - a chain needs second-preimage resistance


@dataclass
class Finding:
    member: str
    entry_id: str
    n: int | None
    what: str

    def __str__(self) -> str:
        n = "-" if self.n is None else self.n
        return f"member {self.member}: entry {self.entry_id or '-'} (n={n}): {self.what}"


@dataclass
class ChainReport:
    """One chain walked: how many entries, its last (n, h), the first finding if any, the h
    at the numbers asked for, and (a member's) its redemption entries (n, h, stream id)."""

    member: str
    entries: int = 0
    last_n: int = 0
    last_h: str = GENESIS
    finding: Finding | None = None
    last_id: str = ""
    at_n: dict = field(default_factory=dict)
    redeemed: list = field(default_factory=list)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else ("" if value is None else str(value))


def _get(fields: dict, name: str) -> bytes:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode()


def _entries(client, key: str, held_in: str | None = None) -> Iterator[tuple[str, dict]]:
    """The stream's entries, oldest first; for a member's ledger (`held_in` its hash) the
    one the hash holds ahead of them (api/ledger.py with_held), its h that of its fields
    after GENESIS, as it was written (the chain's head then)."""
    held = held_entry(client.hmget(held_in, HELD_NAMES)) if held_in is not None else None
    if held is not None:
        held[1][b"h"] = chain_hash(GENESIS, _values(held[1], MEMBER_FIELDS)).encode()
    start = "-"
    while True:
        batch = client.xrange(key, min=start, max="+", count=READ_BATCH)
        for entry_id, fields in with_held(held, batch) if start == "-" else batch:
            yield _text(entry_id), fields
        if len(batch) < READ_BATCH:
            return
        start = "(" + _text(batch[-1][0])


def _values(fields: dict, names: Sequence[str]) -> list[bytes]:
    """An entry's hashed values in order: `names`, then for a member's entry in an alliance
    its brand and from."""
    values = [_get(fields, name) for name in names]
    if names is MEMBER_FIELDS and (b"brand" in fields or "brand" in fields):  # an alliance's entry
        values += [_get(fields, name) for name in ALLIANCE_FIELDS]
    return values


def _walk(
    client, key: str, who: str, seq_name: str, names: Sequence[str], want: set, held_in: str | None = None
) -> ChainReport:
    """Walk a member's chain from its first entry: the first entry out of sequence (deleted
    or reordered) or whose h does not follow (edited) is the report's finding."""
    report = ChainReport(who)
    expected, prev = 1, GENESIS
    entries = _entries(client, key, held_in)
    for entry_id, fields in entries:
        report.entries += 1
        raw_n = _get(fields, seq_name)
        if not raw_n:
            if expected == 1:  # written before the chain began
                continue
            report.finding = Finding(who, entry_id, None, f"no {seq_name} field: an entry written outside the chain")
            return report
        try:
            n = int(raw_n)
        except ValueError:
            report.finding = Finding(who, entry_id, None, f"its {seq_name} is not a number")
            return report
        if n != expected:
            later = any(_get(f, seq_name) == str(expected).encode() for _, f in entries)
            if later or n < expected:
                what = f"reordered: n={n} stands where n={expected} is due"
            else:
                what = f"deleted: n={expected}" + ("" if n == expected + 1 else f" to {n - 1}") + " missing before it"
            report.finding = Finding(who, entry_id, n, what)
            return report
        h = _text(_get(fields, "h"))
        if chain_hash(prev, _values(fields, names)) != h:
            report.finding = Finding(
                who, entry_id, n, "edited: its h does not match its fields and the h of the entry before"
            )
            return report
        if n in want:
            report.at_n[n] = h
        if _get(fields, "reason").startswith(b"redeem:"):
            report.redeemed.append((n, h, entry_id, _text(_get(fields, "at"))))
        prev, expected = h, expected + 1
        report.last_n, report.last_h = n, h
        report.last_id = entry_id
    return report


def _read_head(client, key: str, n_field: str, h_field: str) -> tuple[int, str | None]:
    n, h = client.hmget(key, n_field, h_field)
    return int(_text(n) or 0), (_text(h) if h is not None else None)


def _check_head(report: ChainReport, head: tuple[int, str | None], where: str) -> None:
    """The head, read before the walk, against the chain walked: entries past it were
    appended since (the ledger goes on while it is checked), entries short of it deleted."""
    if report.finding is not None:
        return
    n, h = head
    last_id = report.last_id
    if n > report.last_n:
        report.finding = Finding(
            report.member,
            last_id,
            report.last_n + 1,
            f"deleted: {where} counts {n} entries, the chain ends at n={report.last_n}",
        )
    elif h is None and report.last_n:
        report.finding = Finding(report.member, last_id, report.last_n, f"{where} is missing")
    elif n and report.at_n.get(n) != h:
        report.finding = Finding(report.member, "", n, f"edited: {where}'s h differs from entry n={n}'s")


def verify_member(client, member_id: str, want: set | None = None) -> ChainReport:
    """Walk a member's chain and compare it with the head in the member hash."""
    hash_key, stream_key = _keys_of(member_id)
    head = _read_head(client, hash_key, "chain_n", "chain_h")
    report = _walk(client, stream_key, member_id, "n", MEMBER_FIELDS, (want or set()) | {head[0]}, hash_key)
    _check_head(report, head, "the member's chain head")
    return report


def verify_brand(client, want: set | None = None) -> ChainReport:
    """Walk the brand chain, compare its end with its head, and check the index of what is
    linked agrees with it (one HMGET per READ_BATCH entries)."""
    report = ChainReport(BRAND)
    expected, prev = 1, GENESIS
    pending: list[tuple[str, dict]] = []
    head = _read_head(client, CHAIN_HEAD_KEY, "n", "h")
    want = (want or set()) | {head[0]}

    def check_index() -> Finding | None:
        if not pending:
            return None
        ids = [f"{_text(_get(f, 'kind'))} {_text(_get(f, 'member'))} {_text(_get(f, 'ref'))}" for _, f in pending]
        for (entry_id, f), got in zip(pending, client.hmget(CHAIN_SEEN_KEY, ids)):
            if _text(got) != f"{_text(_get(f, 'seq'))} {_text(_get(f, 'h'))} {_text(_get(f, 'mh'))}":
                return Finding(BRAND, entry_id, int(_get(f, "seq")), "the index of linked records disagrees with it")
        pending.clear()
        return None

    entries = _entries(client, CHAIN_KEY)
    for entry_id, fields in entries:
        report.entries += 1
        try:
            n = int(_get(fields, "seq"))
        except ValueError:
            report.finding = Finding(BRAND, entry_id, None, "its seq is not a number")
            return report
        if n != expected:
            later = any(_get(f, "seq") == str(expected).encode() for _, f in entries)
            what = "reordered" if later or n < expected else "deleted"
            report.finding = Finding(BRAND, entry_id, n, f"{what}: seq={n} stands where seq={expected} is due")
            return report
        h = _text(_get(fields, "h"))
        if chain_hash(prev, [_get(fields, name) for name in BRAND_FIELDS]) != h:
            report.finding = Finding(BRAND, entry_id, n, "edited: its h does not match its fields and the h before")
            return report
        if n in want:
            report.at_n[n] = h
        pending.append((entry_id, fields))
        if len(pending) >= READ_BATCH and (found := check_index()):
            report.finding = found
            return report
        prev, expected = h, expected + 1
        report.last_n, report.last_h = n, h
        report.last_id = entry_id
    if found := check_index():
        report.finding = found
        return report
    _check_head(report, head, "the brand chain's head")
    return report


def unlinked(client, report: ChainReport, grace_seconds: float = LINK_GRACE_SECONDS) -> tuple[list, Finding | None]:
    """A member's redemption entries missing from the brand chain (older than the grace: a
    younger one may be on its way), and a finding if one is linked with another h."""
    if not report.redeemed:
        return [], None
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    ids = [f"redeem {report.member} {n}" for n, _, _, _ in report.redeemed]
    missing = []
    for (n, h, entry_id, at), got in zip(report.redeemed, client.hmget(CHAIN_SEEN_KEY, ids)):
        if got is None:
            if int(entry_id.split("-")[0]) <= now_ms - grace_seconds * 1000:
                missing.append((n, h, entry_id, at))
            continue
        if _text(got).split(" ")[2:3] != [h]:
            return missing, Finding(report.member, entry_id, n, "the brand chain links this redemption with another h")
    return missing, None


def handovers(client) -> Iterator[list[tuple[str, str, str, int]]]:
    """Every handover the pick lists still hold (they keep a code PICKUP_RETENTION_DAYS),
    in batches: (member, leader, code, handed at), by SCAN and HSCAN over every primary."""
    for node in primaries(client):
        cursor = 0
        while True:
            cursor, keys = node.scan(cursor, match="pick:{leader:*}", count=READ_BATCH, _type="hash")
            for key in keys:
                leader = _text(key)[len("pick:{leader:") : -1]
                found = []
                for code, raw in node.hscan_iter(key, count=READ_BATCH):
                    record = json.loads(raw)
                    if record.get("handed_at") is not None:
                        found.append((str(record.get("member_id", "")), leader, _text(code), int(record["handed_at"])))
                if found:
                    yield found
            if int(cursor) == 0:
                break


def unlinked_handovers(client, found: list) -> list:
    """The handovers of `found` (handovers()) the brand chain does not link."""
    ids = [f"handover {member} {leader} {code}" for member, leader, code, _ in found]
    return [one for one, got in zip(found, client.hmget(CHAIN_SEEN_KEY, ids)) if got is None]


def redemption_link(member_id: str, n, h, at) -> tuple[list, list]:
    """(KEYS, ARGV) of chain_link for a redemption's ledger entry n (its h)."""
    return [CHAIN_KEY, CHAIN_HEAD_KEY, CHAIN_SEEN_KEY], ["redeem", member_ref(member_id), _text(n), _text(h), _text(at)]


def link_redemption(scripts: Scripts, member_id: str, n, h, at, client=None):
    """Link a redemption's ledger entry into the brand chain (idempotent); the script call."""
    keys, args = redemption_link(member_id, n, h, at)
    return scripts.chain_link(keys=keys, args=args, client=client)


def link_handover(scripts: Scripts, member_id: str, leader: str, code: str, at: int, client=None):
    """Link a pickup handover into the brand chain (idempotent); the script call."""
    return scripts.chain_link(
        keys=[CHAIN_KEY, CHAIN_HEAD_KEY, CHAIN_SEEN_KEY],
        args=["handover", member_id, f"{leader} {code}", "", at],
        client=client,
    )


def primaries(client) -> list:
    """A client per primary: the one given, or each primary of a Cluster (SCAN is per node)."""
    from redis.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def members(client, batch: int = READ_BATCH) -> Iterator[list[str]]:
    """Every member (member_ref: every brand's), in batches, by SCAN over every primary
    (a Cluster's too)."""
    for node in primaries(client):
        cursor = 0
        while True:
            cursor, keys = node.scan(cursor, match="m:{*", count=batch, _type="hash")
            ids = [_ref_of_key(_text(k)) for k in keys]
            if ids:
                yield ids
            if int(cursor) == 0:
                break


def _ref_of_key(key: str) -> str:
    """`m:{M1}` -> M1; another brand's `m:{M1}~grain` -> M1~grain (member_ref)."""
    member_id, _, suffix = key[3:].partition("}")
    return member_id + suffix


def heads(client) -> list[list]:
    """[member, n, h] of every member with a chain, sorted by member id."""
    found = []
    for batch in members(client):
        pipe = client.pipeline(transaction=False)
        for member_id in batch:
            pipe.hmget(_keys_of(member_id)[0], "chain_n", "chain_h")
        for member_id, (n, h) in zip(batch, pipe.execute()):
            if n is not None:
                found.append([member_id, int(n), _text(h)])
    found.sort(key=lambda head: str(head[0]))
    return found


def anchor_digest(member_heads: Sequence[Sequence], brand: dict) -> str:
    """SHA-256 (hex) of one line "<member> <n> <h>" per head in the given (sorted) order,
    then "brand <seq> <h>"."""
    digest = hashlib.sha256()
    for member_id, n, h in member_heads:
        digest.update(f"{member_id} {n} {h}\n".encode())
    digest.update(f"brand {brand['seq']} {brand['h']}\n".encode())
    return digest.hexdigest()


def make_anchor(client, now: float | None = None) -> dict:
    """Every chain's head now, with their digest; the anchor without its heads is kept in
    ANCHORS_KEY (the newest ANCHOR_KEEP). Heads are read one after another while the
    ledger goes on: each is a head the chain had, which is all a check needs."""
    member_heads = heads(client)
    seq, h = client.hmget(CHAIN_HEAD_KEY, "n", "h")
    brand = {"seq": int(_text(seq) or 0), "h": _text(h) or GENESIS}
    doc = {
        "at": int(time.time() if now is None else now),
        "members": len(member_heads),
        "brand": brand,
        "digest": anchor_digest(member_heads, brand),
    }
    pipe = client.pipeline(transaction=False)
    pipe.lpush(ANCHORS_KEY, json.dumps(doc, sort_keys=True))
    pipe.ltrim(ANCHORS_KEY, 0, ANCHOR_KEEP - 1)
    pipe.execute()
    return {**doc, "heads": member_heads}


def check_anchor(client, doc: dict) -> tuple[list[Finding], int, int]:
    """Whether the chains now still extend an anchor's heads: findings, members and entries
    checked. An anchor whose digest does not match its own heads is a finding too."""
    findings: list[Finding] = []
    member_heads, brand = doc["heads"], doc["brand"]
    if anchor_digest(member_heads, brand) != doc["digest"]:
        return [Finding("(anchor)", "", None, "the anchor's digest does not match its own heads")], 0, 0
    entries = 0
    for member_id, n, h in member_heads:
        report = verify_member(client, member_id, {int(n)})
        entries += report.entries
        if report.finding is not None:
            findings.append(report.finding)
        elif report.at_n.get(int(n)) != h:
            what = f"n={n} is not in the chain now" if int(n) > report.last_n else f"n={n} has another h than anchored"
            findings.append(Finding(member_id, "", int(n), f"does not extend the anchor: {what}"))
    if brand["seq"]:
        report = verify_brand(client, {int(brand["seq"])})
        entries += report.entries
        if report.finding is not None:
            findings.append(report.finding)
        elif report.at_n.get(int(brand["seq"])) != brand["h"]:
            findings.append(Finding(BRAND, "", brand["seq"], "does not extend the anchor"))
    return findings, len(member_heads), entries
