"""Writing members in bulk (api/store.py MemberWrites, lua/member_import.lua): a new
member's ledger is begun by its first change of points, not by the import; an import
keeps what is not the profile; a batch Redis refuses in part says how many went in whole."""

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


def test_a_batch_refused_in_part_says_how_many_went_in_whole(redis_client):
    redis_client.set(member_key("W2"), "not a hash")  # its script fails: WRONGTYPE
    with pytest.raises(WriteRefused) as refused:
        write_members(redis_client, [MemberRecord(id=f"W{k}", tier="gold", points=k) for k in (1, 2, 3)])
    assert refused.value.written == 1 and isinstance(refused.value.cause, ResponseError)
    assert "WRONGTYPE" in str(refused.value.cause)
    assert redis_client.hget(member_key("W1"), "points") == b"1"
    assert write_members(redis_client, []) == 0
