"""The ledger's hash chains against a real Redis (a Cluster too, in the slow run): after
orders, events, redemptions, refunds, sweeps and a freeze every chain verifies; an edited,
a deleted and a reordered entry are each found, naming the entry; a redemption the brand
chain lost is found and linked again; an anchor taken before a whole chain was rebuilt
still catches the rebuilt past."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import at, client_for

from api.ledger import ledger_entries
from api.ledger_chain import GENESIS, MEMBER_FIELDS, chain_hash
from api.redis.keys import CHAIN_HEAD_KEY, CHAIN_KEY, CHAIN_SEEN_KEY, ledger_key, member_key
from api.store import MemberRecord, write_members
from rights.cli import main

GALA_21 = at("2026-11-11 21:00")
ADMIN = {"Authorization": "Bearer chain-token"}


@pytest.fixture
def played(redis_server, redis_client, tmp_path, monkeypatch):
    """Members A, B, C after a run of orders, events, redemptions (one handed over), a
    refund, a freeze and unfreeze, and a sweep a day later; the Redis client."""
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", "chain-token")
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "chain-secret")
    write_members(
        redis_client,
        [
            MemberRecord(id="A", tier="black_gold", points=2500, leader="L1"),
            MemberRecord(id="B", tier="gold", points=3000),
            MemberRecord(id="C", tier="silver", points=0, sessions_watched=3),
        ],
    )
    with client_for(redis_server, redis_timeout_ms=2000, data_dir=str(tmp_path)) as api:
        version = api.app.state.service.table.version
        now = GALA_21

        def post(path, body, headers=None):
            answer = api.post(path, json=body, headers={"X-Rights-Now": str(now), **(headers or {})})
            assert answer.status_code < 500, answer.text
            return answer

        for n, (member, sku) in enumerate([("A", "MILK-1L"), ("B", "YOGURT-6"), ("A", "CHEESE-LTD"), ("C", "MILK-1L")]):
            body = {"order_id": f"O{n}", "member_id": member, "room": "gala", "rules_version": version}
            assert post("/v1/orders", {**body, "lines": [{"sku": sku, "qty": 1}]}).status_code == 200
        post("/v1/events", {"event_id": "E1", "member_id": "B", "type": "share"})
        post("/v1/events", {"event_id": "E2", "member_id": "C", "type": "watch", "room": "gala", "seconds": 600})
        code = post("/v1/redemptions", {"member_id": "A", "redemption_id": "OATMEAL-LOWGI"}, {"Idempotency-Key": "K1"})
        assert code.status_code == 200, code.text
        handed = post("/v1/pickups/verify", {"leader_id": "L1", "code": code.json()["pickup_code"]})
        assert handed.status_code == 200, handed.text
        assert (
            post(
                "/v1/redemptions", {"member_id": "B", "redemption_id": "OLIVE-OIL"}, {"Idempotency-Key": "K2"}
            ).status_code
            == 200
        )
        free = post("/v1/redemptions", {"member_id": "C", "redemption_id": "TRIAL-PACK"}, {"Idempotency-Key": "K3"})
        assert free.status_code == 200  # no points taken: no ledger entry, nothing for the brand chain
        assert post("/v1/orders/O0/refund", {"member_id": "A"}).status_code == 200
        assert api.post("/v1/members/B/freeze", headers=ADMIN).status_code == 200
        assert api.post("/v1/members/B/unfreeze", headers=ADMIN).status_code == 200
        now += 400 * 86400  # the order points lapse: sweeps write `expired` entries
        for member in ("A", "B", "C"):
            assert api.get(f"/v1/members/{member}/ledger", headers={"X-Rights-Now": str(now)}).status_code == 200
    return redis_client


def verify(redis_server, *args: str) -> int:
    return main(["ledger", "verify", *args, "--redis-url", redis_server.url])


def entries(redis, member: str) -> list:
    return ledger_entries(redis, member, count=None)


def rewrite(redis, key: str, rows: list) -> None:
    """Put a stream back as `rows` [(id, fields)], each under the id given: how an entry is
    changed in place, since a stream only appends."""
    redis.delete(key)
    for entry_id, fields in rows:
        redis.xadd(key, fields, id=entry_id)


def test_every_chain_verifies_after_a_busy_run(played, redis_server, capsys):
    redis = played
    a = entries(redis, "A")
    assert [int(fields[b"n"]) for _, fields in a] == list(range(1, len(a) + 1))
    assert {b"delta", b"reason", b"ref", b"at", b"expires", b"balance", b"n", b"h"} <= set(a[0][1])
    prev = GENESIS  # the chain as documented, recomputed here from the stored fields
    for _, fields in a:
        assert chain_hash(prev, [fields.get(name.encode(), b"") for name in MEMBER_FIELDS]) == fields[b"h"].decode()
        prev = fields[b"h"].decode()
    assert redis.hmget(member_key("A"), "chain_n", "chain_h") == [str(len(a)).encode(), prev.encode()]
    reasons = {fields[b"reason"] for m in "ABC" for _, fields in entries(redis, m)}
    assert {b"order", b"redeem:OATMEAL-LOWGI", b"refund", b"frozen", b"unfrozen", b"expired", b"opening"} <= reasons
    kinds = [fields[b"kind"] for _, fields in redis.xrange(CHAIN_KEY)]
    assert kinds.count(b"redeem") == 2 and kinds.count(b"handover") == 1

    assert verify(redis_server, "--all", "--grace-seconds", "0") == 0
    out = capsys.readouterr().out
    assert out.startswith("ledger verified: 3 members, ") and "entries checked" in out
    assert verify(redis_server, "--member", "A") == 0


def test_an_edited_entry_is_found_by_its_id(played, redis_server, capsys):
    redis = played
    rows = entries(redis, "A")
    edited = rows[2][0]
    rows[2] = (edited, {**rows[2][1], b"delta": b"999999"})
    rewrite(redis, ledger_key("A"), rows)
    assert verify(redis_server, "--member", "A") == 1
    out = capsys.readouterr().out
    assert f"member A: entry {edited.decode()} (n=3): edited" in out


def test_a_deleted_entry_is_found_in_the_middle_and_at_the_end(played, redis_server, capsys):
    redis = played
    rows = entries(redis, "A")
    redis.xdel(ledger_key("A"), rows[1][0])
    assert verify(redis_server, "--member", "A") == 1
    assert f"member A: entry {rows[2][0].decode()} (n=3): deleted: n=2 missing" in capsys.readouterr().out

    rewrite(redis, ledger_key("A"), rows)
    assert verify(redis_server, "--member", "A") == 0
    capsys.readouterr()
    redis.xdel(ledger_key("A"), rows[-1][0])  # the newest: only the head in the member hash tells
    assert verify(redis_server, "--all", "--grace-seconds", "0") == 1
    out = capsys.readouterr().out
    assert f"(n={len(rows)}): deleted: the member's chain head counts {len(rows)} entries" in out


def test_a_reordered_pair_is_found(played, redis_server, capsys):
    redis = played
    rows = entries(redis, "B")
    (first, one), (second, two) = rows[1], rows[2]
    rows[1], rows[2] = (first, two), (second, one)  # the contents swapped, the ids kept in order
    rewrite(redis, ledger_key("B"), rows)
    assert verify(redis_server, "--member", "B") == 1
    assert f"member B: entry {first.decode()} (n=3): reordered: n=3 stands where n=2 is due" in capsys.readouterr().out


def test_an_entry_written_outside_the_scripts_is_found(played, redis_server, capsys):
    redis = played
    redis.xadd(ledger_key("C"), {"delta": 500, "reason": "import", "ref": "", "at": 1, "expires": 0, "balance": 9})
    assert verify(redis_server, "--member", "C") == 1
    assert "no n field: an entry written outside the chain" in capsys.readouterr().out


def test_a_redemption_the_brand_chain_lost_is_found_and_linked_again(played, redis_server, capsys):
    redis = played
    redis.delete(CHAIN_KEY, CHAIN_HEAD_KEY, CHAIN_SEEN_KEY)  # as if every link had been lost
    assert verify(redis_server, "--all", "--grace-seconds", "0") == 1
    out = capsys.readouterr().out
    assert out.count("a redemption missing from the brand chain") == 2
    assert "member A: entry " in out and "member B: entry " in out
    younger = verify(redis_server, "--all", "--grace-seconds", "3600")  # redemptions within the grace: on their way
    assert "redemption missing" not in capsys.readouterr().out and younger == 1  # the handover is still missing

    assert "member A: entry - (n=-): the handover of P1~A~OATMEAL-LOWGI~L1~" in out  # handed over, not linked
    assert out.count("missing from the brand chain") == 3

    assert verify(redis_server, "--all", "--grace-seconds", "0", "--repair") == 0
    out = capsys.readouterr().out
    assert "linked 2 redemptions into the brand chain" in out and "linked 1 handover into the brand chain" in out
    assert verify(redis_server, "--all", "--grace-seconds", "0", "--repair") == 0
    assert "linked" not in capsys.readouterr().out  # linking is idempotent
    assert redis.xlen(CHAIN_KEY) == 3

    rows = redis.xrange(CHAIN_KEY)
    rows[0] = (rows[0][0], {**rows[0][1], b"member": b"Z"})
    rewrite(redis, CHAIN_KEY, rows)
    assert verify(redis_server, "--all", "--grace-seconds", "0") == 1
    assert f"member (brand chain): entry {rows[0][0].decode()} (n=1): edited" in capsys.readouterr().out


def _rebuilt(redis, member: str, change: dict) -> None:
    """Rebuild a member's whole chain with one entry changed, every h after it recomputed
    and the head moved: what someone with write access to Redis can do."""
    rows, prev = entries(redis, member), GENESIS
    for i, (entry_id, fields) in enumerate(rows):
        fields = {**fields, **change} if i == 1 else dict(fields)
        fields[b"h"] = chain_hash(prev, [fields.get(name.encode(), b"") for name in MEMBER_FIELDS]).encode()
        prev = fields[b"h"].decode()
        rows[i] = (entry_id, fields)
    rewrite(redis, ledger_key(member), rows)
    redis.hset(member_key(member), "chain_h", prev)


def test_an_anchor_that_cannot_be_written_is_refused_before_it_is_recorded(played, redis_server, tmp_path, capsys):
    before = played.llen("anchors:{ledger}")
    nowhere = tmp_path / "anchors" / "hourly.json"  # a directory nobody made
    assert main(["ledger", "anchor", "--out", str(nowhere), "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    assert f"--out {nowhere}: not a file in a directory" in err and "Traceback" not in err
    assert played.llen("anchors:{ledger}") == before


def test_an_anchor_fixes_the_past_a_rebuilt_chain_would_hide(played, redis_server, tmp_path, capsys):
    redis = played
    anchor = tmp_path / "anchor.json"
    assert main(["ledger", "anchor", "--out", str(anchor), "--redis-url", redis_server.url]) == 0
    doc = json.loads(anchor.read_text())
    assert [head[0] for head in doc["heads"]] == ["A", "B", "C"] and doc["brand"]["seq"] == 3
    lines = "".join(f"{m} {n} {h}\n" for m, n, h in doc["heads"]) + f"brand {doc['brand']['seq']} {doc['brand']['h']}\n"
    assert doc["digest"] == hashlib.sha256(lines.encode()).hexdigest()
    kept = json.loads(redis.lindex("anchors:{ledger}", 0))
    assert kept["digest"] == doc["digest"] and "heads" not in kept
    assert verify(redis_server, "--anchor", str(anchor)) == 0
    capsys.readouterr()

    # the ledger goes on after the anchor: still an extension of it
    write_members(redis, [MemberRecord(id="A", tier="black_gold", points=4000, leader="L1")])
    assert verify(redis_server, "--anchor", str(anchor)) == 0
    capsys.readouterr()

    _rebuilt(redis, "C", {b"delta": b"77777"})
    assert verify(redis_server, "--member", "C") == 0  # a chain rebuilt whole verifies on its own ...
    capsys.readouterr()
    assert verify(redis_server, "--anchor", str(anchor)) == 1  # ... but not against an anchor held elsewhere
    n = [head[1] for head in doc["heads"] if head[0] == "C"][0]
    assert f"member C: entry - (n={n}): does not extend the anchor: n={n} has another h than anchored" in (
        capsys.readouterr().out
    )

    doc["heads"][0][2] = "f" * 40
    anchor.write_text(json.dumps(doc))
    assert verify(redis_server, "--anchor", str(anchor)) == 1
    assert "the anchor's digest does not match its own heads" in capsys.readouterr().out


def test_a_command_line_without_a_target_is_refused(redis_server):
    with pytest.raises(SystemExit) as refused:
        main(["ledger", "verify", "--redis-url", redis_server.url])
    assert refused.value.code == 2
    assert verify(redis_server, "--member", "A", "--repair") == 2


def test_the_admin_route_checks_one_members_chain(played, redis_server, tmp_path, monkeypatch):
    redis = played
    with client_for(redis_server, data_dir=str(tmp_path)) as api:
        assert api.get("/v1/members/A/ledger/verify").status_code == 401
        good = api.get("/v1/members/A/ledger/verify", headers=ADMIN)
        assert good.status_code == 200, good.text
        rows = entries(redis, "A")
        assert good.json() == {
            "member_id": "A",
            "verified": True,
            "entries": len(rows),
            "n": len(rows),
            "h": rows[-1][1][b"h"].decode(),
            "finding": None,
        }
        assert api.get("/v1/members/NOBODY/ledger/verify", headers=ADMIN).status_code == 404
        rows[3] = (rows[3][0], {**rows[3][1], b"ref": b"someone else"})
        rewrite(redis, ledger_key("A"), rows)
        bad = api.get("/v1/members/A/ledger/verify", headers=ADMIN).json()
        assert (bad["verified"], bad["n"], bad["finding"]["entry_id"], bad["finding"]["n"]) == (
            False,
            3,
            rows[3][0].decode(),
            4,
        )
        assert bad["finding"]["what"].startswith("edited")


def test_text_of_any_bytes_hashes_the_same_in_lua_and_python(redis_client, redis_server, capsys):
    """Lengths are counted in bytes on both sides: a reference in Chinese, with a colon and
    a newline, chains and verifies like any other."""
    from api.ledger import set_balance
    from api.redis.scripts import Scripts

    write_members(redis_client, [MemberRecord(id="U", tier="gold", points=10)])
    scripts = Scripts(redis_client)
    for points, ref in [(500, "会员导入: 第一批"), (20, "a:b\nc"), (20, "")]:
        set_balance(scripts, "U", points, GALA_21, ref)
    rows = entries(redis_client, "U")
    assert [fields[b"ref"].decode() for _, fields in rows[1:]] == ["会员导入: 第一批", "a:b\nc"]
    assert verify(redis_server, "--member", "U") == 0
    assert "1 member, 3 entries checked" in capsys.readouterr().out


def test_a_head_that_does_not_match_its_entry_is_found(played, redis_server, capsys):
    redis = played
    n = int(redis.hget(member_key("B"), "chain_n"))
    redis.hset(member_key("B"), "chain_h", "0" * 40)
    assert verify(redis_server, "--member", "B") == 1
    assert f"(n={n}): edited: the member's chain head's h differs from entry n={n}'s" in capsys.readouterr().out
    redis.hdel(member_key("B"), "chain_n", "chain_h")
    assert verify(redis_server, "--member", "B") == 1
    assert "the member's chain head is missing" in capsys.readouterr().out


def test_verifying_a_member_that_does_not_exist_says_so(redis_server, redis_client, capsys):
    assert verify(redis_server, "--member", "NOBODY") == 1
    assert capsys.readouterr().err == "rights ledger verify: no member 'NOBODY'\n"
