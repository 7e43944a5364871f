"""Writing members in bulk (api/store.py MemberWrites, lua/member_import.lua): a new
member's ledger is begun by its first change of points, not by the import; an import
keeps what is not the profile; a batch Redis refuses in part says how many went in whole; one
call a batch (one Redis node) writes what a call a member (a Cluster) writes."""

import time

import pytest
from redis.exceptions import ResponseError

from api.ledger import ledger_entries, sweep
from api.ledger_chain import verify_member
from api.redis.keys import identity_key, ledger_key, lots_key, member_key
from api.redis.scripts import Scripts
from api.store import MemberRecord, WriteRefused, read_member, write_members


def test_an_import_begins_no_ledger_and_the_first_change_opens_it(redis_client):
    write_members(redis_client, [MemberRecord(id="N1", tier="gold", points=1850, identities={"phone": "13900000001"})])
    assert redis_client.hget(member_key("N1"), "points") == b"1850"
    assert redis_client.get(identity_key("phone", "13900000001")) == b"N1"
    assert not redis_client.exists(lots_key("N1")) and not redis_client.exists(ledger_key("N1"))
    assert verify_member(redis_client, "N1").finding is None  # no chain yet, nothing wrong
    write_members(redis_client, [MemberRecord(id="N1", tier="gold", points=1200)])  # still no ledger: the hash's
    assert redis_client.hget(member_key("N1"), "points") == b"1200" and not redis_client.exists(ledger_key("N1"))

    scripts = Scripts(redis_client)
    assert sweep(scripts, "N1", int(time.time())) == 1200  # the first ledger script opens it
    entries = ledger_entries(redis_client, "N1")
    assert [(e[b"reason"], e[b"delta"], e[b"n"]) for _, e in entries] == [(b"opening", b"1200", b"1")]
    write_members(
        redis_client, [MemberRecord(id="N1", tier="silver", points=1200)]
    )  # the one entry the hash holds stays
    assert ledger_entries(redis_client, "N1") == entries and verify_member(redis_client, "N1").finding is None
    write_members(redis_client, [MemberRecord(id="N1", tier="gold", points=1000)])  # now through the ledger
    entries = ledger_entries(redis_client, "N1")
    assert [(e[b"reason"], e[b"delta"]) for _, e in entries][1:] == [(b"import", b"-200")]
    assert read_member(redis_client, "N1").points == 1000
    report = verify_member(redis_client, "N1")
    assert report.finding is None and report.last_n == 2


def test_an_import_replaces_the_profile_and_keeps_what_is_not_its(redis_client):
    write_members(redis_client, [MemberRecord(id="K1", tier="gold", points=10, tags=["fitness"], frozen=True)])
    redis_client.hset(member_key("K1"), mapping={"debt": 40, "growth": 300, "g:POINTS-50": "1900000000", "c:X": 2})
    write_members(redis_client, [MemberRecord(id="K1", tier="silver", points=10, name="K")])
    stored = redis_client.hgetall(member_key("K1"))
    assert stored[b"tier"] == b"silver" and stored[b"name"] == b"K"
    assert b"tags" not in stored and b"frozen" not in stored and b"c:X" not in stored  # the old profile is gone
    assert stored[b"debt"] == b"40" and stored[b"growth"] == b"300" and stored[b"g:POINTS-50"] == b"1900000000"
    record = read_member(redis_client, "K1")
    assert record.tags == [] and record.frozen is False and record.paid_until == 0  # defaults, not stored


def snapshot(client) -> dict:
    """Every key with what it holds (a stream: its entries' fields, not their ids)."""
    held: dict = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            held[key] = client.hgetall(key)
        elif kind == b"set":
            held[key] = client.smembers(key)
        elif kind == b"string":
            held[key] = client.get(key)
        elif kind == b"stream":
            held[key] = [fields for _, fields in client.xrange(key)]
        else:
            held[key] = (kind, client.dump(key))
    return held


def new_member(k: int) -> MemberRecord:
    """Member N<k>, its profile's fields set or not as k goes."""
    return MemberRecord(
        id=f"N{k}",
        name=f"new {k} 名",
        tier=("silver", "gold", "")[k % 3],
        points=k * 1000,
        birthday_month=k % 13,
        sessions_watched=k % 4,
        leader=f"L{k % 2}" if k % 5 else "",
        tags=["fitness", "office"][: k % 3],
        paid_until=1_800_000_000 if k % 2 else 0,
        coupon_uses={"C1": k} if k % 4 == 1 else {},
        redemption_uses={"R1": 1} if k == 2 else {},
        sku_bought={"S1": 3} if k == 3 else {},
        identities={"phone": f"1390000{k:04d}", "openid": f"oN{k}"} if k % 3 else {},
    )


def batches_over_members_old_and_new(client, one_node: bool | None, monkeypatch) -> dict:
    """A batch of new members only (one of them twice), then a batch of new ones and old
    ones (one with its ledger begun, one without); what Redis then holds."""
    client.flushall()
    write_members(client, [MemberRecord(id="E1", tier="gold", points=500), MemberRecord(id="E2", points=70)])
    client.hset(member_key("E2"), mapping={"debt": 40, "growth": 300, "g:POINTS-50": "1900000000"})
    assert sweep(Scripts(client), "E1", 1_794_000_000) == 500  # E1's ledger begins
    first = [*[new_member(k) for k in range(1, 13)], MemberRecord(id="N1", tier="gold", points=5)]  # the last N1 holds
    second = [
        MemberRecord(id="E1", tier="silver", points=350, name="old one"),  # through the ledger
        MemberRecord(id="E2", tier="gold", points=90, frozen=True),  # the hash's balance, its own fields kept
        *[new_member(k) for k in range(13, 16)],
        MemberRecord(id="N2", points=7),
    ]
    monkeypatch.setattr("api.store.time.time", lambda: 1_794_000_100.0)
    assert write_members(client, first, one_node) == len(first)
    assert write_members(client, second, one_node) == len(second)
    monkeypatch.undo()
    return snapshot(client)


def test_a_batch_in_one_call_writes_what_a_call_a_member_writes(redis_client, redis_server, monkeypatch):
    """One Redis node: the batch's members as steps of one script; a Cluster: a script a
    member, each in its slot. Both leave the same keys holding the same."""
    if hasattr(redis_server, "nodes"):  # a Cluster: the batch's keys span slots
        with pytest.raises(ValueError):
            write_members(redis_client, [MemberRecord(id="X1")], one_node=True)
        return
    in_one = batches_over_members_old_and_new(redis_client, True, monkeypatch)
    a_call_each = batches_over_members_old_and_new(redis_client, False, monkeypatch)
    assert in_one == a_call_each
    assert [fields[b"reason"] for fields in in_one[ledger_key("E1").encode()]] == [b"opening", b"import"]
    assert in_one[member_key("E2").encode()][b"debt"] == b"40"
    assert in_one[member_key("N1").encode()] == {b"points": b"5", b"tier": b"gold"}
    assert in_one[member_key("N2").encode()] == {b"points": b"7"}
    assert in_one[identity_key("openid", "oN7").encode()] == b"N7"


@pytest.mark.parametrize("one_node", [None, False], ids=["one call a batch on one node", "a call a member"])
def test_a_batch_refused_in_part_says_how_many_went_in_whole(redis_client, one_node):
    """The members before the first refused one went in whole (on one node the batch stops
    there; a call a member, the later ones may have gone in too): the import stops at the batch."""
    redis_client.set(member_key("W3"), "not a hash")  # its script fails: WRONGTYPE
    records = [MemberRecord(id=f"W{k}", tier="gold", points=k, identities={"app": f"a{k}"}) for k in range(1, 6)]
    with pytest.raises(WriteRefused) as refused:
        write_members(redis_client, records, one_node)
    assert refused.value.written == 2 and isinstance(refused.value.cause, ResponseError)
    assert "WRONGTYPE" in str(refused.value.cause)
    assert [redis_client.hget(member_key(f"W{k}"), "points") for k in (1, 2)] == [b"1", b"2"]
    assert write_members(redis_client, [], one_node) == 0


@pytest.mark.parametrize("one_node", [None, False], ids=["one call a batch on one node", "a call a member"])
def test_a_member_too_large_for_a_script_is_its_own_refusal(redis_client, one_node):
    """A member of thousands of fields is more than a script can unpack: that member is
    refused, and the members before it are counted as written (on one node too)."""
    records = [
        MemberRecord(id="U1", points=1),
        MemberRecord(id="U2", points=1, coupon_uses={f"C{k}": 1 for k in range(4_500)}),
        MemberRecord(id="U3", points=1),
    ]
    with pytest.raises(WriteRefused) as refused:
        write_members(redis_client, records, one_node)
    assert refused.value.written == 1 and "unpack" in str(refused.value.cause)
    assert redis_client.hget(member_key("U1"), "points") == b"1" and not redis_client.exists(member_key("U2"))


def test_an_import_refused_mid_file_says_where_it_stopped_and_sends_nothing_after(redis_client):
    from api.members_import import BATCH, import_rows

    bad = BATCH + BATCH // 2  # in the second batch
    redis_client.set(member_key(f"I{bad}"), "not a hash")  # its script fails: WRONGTYPE
    rows = [(line, {"id": f"I{line}", "points": line, "phone": f"1{line:010d}"}) for line in range(1, 3 * BATCH)]
    done: list = []
    result = import_rows(redis_client, rows, None, lambda *refused: None, done.append)
    assert (result.written, result.stopped_at, result.refused) == (bad - 1, 2 * BATCH, 0)
    assert "WRONGTYPE" in str(result.error) and done == [BATCH]  # the bar: the first batch only
    assert redis_client.hget(member_key(f"I{bad - 1}"), "points") == str(bad - 1).encode()
    assert not redis_client.exists(member_key(f"I{2 * BATCH + 1}"))  # the batch after it never sent
    assert redis_client.get(identity_key("phone", f"1{2 * BATCH + 1:010d}")) is None


def test_a_script_redis_cannot_load_refuses_the_whole_batch(redis_client, monkeypatch):
    monkeypatch.setattr("api.store.source", lambda name: "this is not Lua")
    with pytest.raises(WriteRefused) as refused:
        write_members(redis_client, [MemberRecord(id="S1", points=1, identities={"app": "s1"})])
    assert refused.value.written == 0 and isinstance(refused.value.cause, ResponseError)


def test_a_reimport_sends_at_most_two_batches_twice(redis_client, redis_server):
    """A batch goes first as new (its member keys alone, nothing written if one exists);
    once a batch has found members that exist, the import sends the next with all their
    keys: re-importing five batches costs at most two more script calls, and leaves each
    member and identity as the file says."""
    from api.members_import import BATCH, import_rows

    if hasattr(redis_server, "nodes"):  # a Cluster: a call a member, never a batch as new
        return

    def rows(points: int) -> list:
        return [(k + 1, {"id": f"RI{k}", "points": points + k, "app": f"ri{k}"}) for k in range(5 * BATCH)]

    assert import_rows(redis_client, rows(0), None, lambda *refused: None, lambda done: None).written == 5 * BATCH
    redis_client.config_resetstat()
    again = import_rows(redis_client, rows(7), None, lambda *refused: None, lambda done: None)
    assert again.written == 5 * BATCH and again.error is None
    assert 5 < redis_client.info("commandstats")["cmdstat_evalsha"]["calls"] <= 5 + 2
    assert redis_client.hget(member_key(f"RI{5 * BATCH - 1}"), "points") == str(7 + 5 * BATCH - 1).encode()
    assert redis_client.get(identity_key("app", "ri0")) == b"RI0"


def test_a_full_redis_refuses_a_batch_of_new_members_and_says_none_went_in(redis_client, redis_server):
    """Sent as new, a batch Redis refuses for memory writes none of its members: the
    refusal says 0 written and is Redis's OutOfMemoryError; with room again it goes in."""
    from redis.exceptions import OutOfMemoryError

    if hasattr(redis_server, "nodes"):  # a Cluster writes a member a call, each on its own node
        return
    records = [MemberRecord(id=f"F{k}", points=k, identities={"app": f"f{k}"}) for k in range(3)]
    redis_client.config_set("maxmemory", "1")
    try:
        with pytest.raises(WriteRefused) as refused:
            write_members(redis_client, records)
    finally:
        redis_client.config_set("maxmemory", "0")
    assert refused.value.written == 0 and isinstance(refused.value.cause, OutOfMemoryError)
    assert not any(redis_client.exists(member_key(f"F{k}")) for k in range(3))
    assert write_members(redis_client, records) == 3
