"""The draw's algorithm (engine/draws.py): deterministic, weighted by tier, never more
winners than prizes nor a member twice, and `verify` catches a changed seed, entry list
or winner. The win rates over many draws match the weights."""

from __future__ import annotations

import hashlib
import hmac
import math

import pytest

from engine.draws import ALGORITHM, Entry, Stream, canonical, commitment, draw_winners, verify

SEED = bytes(range(32))


def entries_of(counts: dict, weights: dict) -> list[Entry]:
    """`counts` members per tier, one entry each, ids like gold-0007."""
    return [Entry(f"{tier}-{i:04d}", 1, tier, weights[tier]) for tier, n in counts.items() for i in range(n)]


def linear_winners(seed: bytes, entries: list[Entry], slots: list[str]) -> list[tuple]:
    """The docstring's words, read literally: a running sum over the entries left."""
    left = canonical(entries)
    stream = Stream(seed)
    out = []
    for slot, prize in enumerate(slots, start=1):
        if not left:
            break
        r = stream.below(sum(e.weight for e in left))
        running = 0
        for e in left:
            running += e.weight
            if running > r:
                break
        out.append((slot, prize, e.member_id, e.entry, e.tier))
        left = [x for x in left if x.member_id != e.member_id]
    return out


def document(seed: bytes, entries: list[Entry], prizes: list[dict]) -> dict:
    slots = [p["id"] for p in prizes for _ in range(p["stock"])]
    ordered = canonical(entries)
    return {
        "algorithm": ALGORITHM,
        "commitment": commitment(seed),
        "seed": seed.hex(),
        "weights": {e.tier: e.weight for e in entries},
        "prizes": prizes,
        "entries_count": len(ordered),
        "entries": [e.as_dict() for e in ordered],
        "winners": [w.as_dict() for w in draw_winners(seed, ordered, slots)],
    }


def test_the_stream_is_hmac_sha256_of_a_counter():
    stream = Stream(SEED)
    first = hmac.new(SEED, (0).to_bytes(8, "big"), hashlib.sha256).digest()
    assert stream.next64() == int.from_bytes(first[:8], "big")
    assert stream.counter == 1


def test_uniform_integers_reject_rather_than_bias():
    stream = Stream(SEED)
    n = (1 << 63) + 1  # almost half of all 64-bit values are rejected
    values = [stream.below(n) for _ in range(50)]
    assert all(0 <= v < n for v in values)
    assert stream.counter > 50  # some blocks were rejected, and each used once
    with pytest.raises(ValueError):
        stream.below(0)


def test_the_same_seed_and_entries_give_the_same_winners_in_any_input_order():
    entries = entries_of({"silver": 30, "gold": 20, "black_gold": 10}, {"silver": 1, "gold": 2, "black_gold": 3})
    slots = ["A", "B", "B", "C"]
    first = draw_winners(SEED, entries, slots)
    assert draw_winners(SEED, list(reversed(entries)), slots) == first
    assert [(w.slot, w.prize, w.member_id, w.entry, w.tier) for w in first] == linear_winners(SEED, entries, slots)
    assert draw_winners(bytes(32), entries, slots) != first


def test_the_tree_search_agrees_with_the_running_sum_on_many_seeds():
    entries = [Entry(f"m{i}", n, "t", 1 + (i * 7 + n) % 5) for i in range(40) for n in (1, 2)]
    for k in range(50):
        seed = hashlib.sha256(b"seed %d" % k).digest()
        got = [(w.slot, w.prize, w.member_id, w.entry, w.tier) for w in draw_winners(seed, entries, ["p"] * 12)]
        assert got == linear_winners(seed, entries, ["p"] * 12)


def test_never_more_winners_than_prizes_and_never_a_member_twice():
    entries = [Entry(f"m{i}", n, "gold", 2) for i in range(5) for n in (1, 2, 3)]
    winners = draw_winners(SEED, entries, ["p"] * 10)
    assert len(winners) == 5  # five members, ten prizes: five go unawarded
    assert len({w.member_id for w in winners}) == 5
    assert draw_winners(SEED, [], ["p"]) == []
    assert len(draw_winners(SEED, entries, ["p"] * 3)) == 3


def test_the_canonical_order_is_by_utf8_bytes_then_entry_number():
    entries = [Entry("b", 2, "t", 1), Entry("a", 10, "t", 1), Entry("b", 1, "t", 1), Entry("Z", 1, "t", 1)]
    assert [(e.member_id, e.entry) for e in canonical(entries)] == [("Z", 1), ("a", 10), ("b", 1), ("b", 2)]


def test_verify_matches_and_catches_a_changed_seed_entry_list_or_winner():
    entries = entries_of({"silver": 20, "gold": 10}, {"silver": 1, "gold": 2})
    doc = document(SEED, entries, [{"id": "A", "stock": 2}, {"id": "B", "stock": 3}])
    assert verify(doc) == []

    other_seed = dict(doc, seed=bytes(32).hex())
    assert any("commitment" in p for p in verify(other_seed))
    recommitted = dict(other_seed, commitment=commitment(bytes(32)))  # a new seed, honestly committed
    assert any("winner of slot" in p for p in verify(recommitted))

    dropped = dict(doc, entries=doc["entries"][1:], entries_count=len(doc["entries"]) - 1)
    assert verify(dropped) != []
    heavier = dict(doc, entries=[dict(e, weight=9) if e["tier"] == "silver" else e for e in doc["entries"]])
    assert verify(heavier) != []
    shuffled = dict(doc, entries=list(reversed(doc["entries"])))
    assert any("canonical order" in p for p in verify(shuffled))

    swapped = [dict(w) for w in doc["winners"]]
    loser = next(e for e in doc["entries"] if e["member_id"] not in {w["member_id"] for w in swapped})
    swapped[0].update(member_id=loser["member_id"], tier=loser["tier"], entry=loser["entry"])
    assert any("slot 1" in p for p in verify(dict(doc, winners=swapped)))
    assert verify(dict(doc, winners=doc["winners"][:-1])) != []
    assert verify({k: v for k, v in doc.items() if k != "seed"}) != []


def test_verify_refuses_forged_weights_and_shapes_a_draw_cannot_have():
    """Winners recomputed honestly from a doctored entry list still fail where no draw could
    have it: a weight past a tier's 100, a fractional entry number, more than 1,000 prizes."""
    entries = entries_of({"silver": 20, "gold": 10}, {"silver": 1, "gold": 2})
    doc = document(SEED, entries, [{"id": "A", "stock": 2}])
    forged = [
        dict(e, weight=100_000) if e["member_id"] == doc["entries"][0]["member_id"] else e for e in doc["entries"]
    ]
    slots = ["A", "A"]
    rewon = draw_winners(SEED, [Entry(e["member_id"], e["entry"], e["tier"], e["weight"]) for e in forged], slots)
    tampered = dict(doc, entries=forged, winners=[w.as_dict() for w in rewon])
    assert any("malformed" in p and "100000" in p for p in verify(tampered)), verify(tampered)
    assert verify(dict(doc, weights={"gold": 1000})) != []  # past a tier weight's 100
    fractional = [dict(doc["entries"][0], entry=1.9), *doc["entries"][1:]]
    assert any("malformed" in p for p in verify(dict(doc, entries=fractional)))
    huge = dict(doc, prizes=[{"id": "A", "stock": 10**15}])  # refused, not built into 10**15 slots
    assert any("malformed" in p for p in verify(huge))
    uncounted = {k: v for k, v in doc.items() if k != "entries_count"}
    assert any("entries_count" in p for p in verify(uncounted))


def expected_tier_rates(counts: dict, weights: dict, prizes: int) -> dict:
    """The exact chance that a given member of each tier wins one of `prizes`, when every
    member has one entry: sequential weighted sampling without replacement, by dynamic
    programming over how many of each tier have won so far."""
    tiers = list(counts)
    states = {tuple(0 for _ in tiers): 1.0}
    won = dict.fromkeys(tiers, 0.0)  # expected winners per tier
    for _ in range(prizes):
        nxt: dict = {}
        for state, p in states.items():
            left = [counts[t] - state[i] for i, t in enumerate(tiers)]
            total = sum(left[i] * weights[t] for i, t in enumerate(tiers))
            if total == 0:
                nxt[state] = nxt.get(state, 0.0) + p
                continue
            for i, t in enumerate(tiers):
                if left[i]:
                    q = p * left[i] * weights[t] / total
                    won[t] += q
                    moved = tuple(s + (1 if j == i else 0) for j, s in enumerate(state))
                    nxt[moved] = nxt.get(moved, 0.0) + q
        states = nxt
    return {t: won[t] / counts[t] for t in tiers}


def test_win_rates_over_100_draws_match_the_tier_weights():
    """100 draws of 10 prizes among 60 silver (x1), 30 gold (x2) and 10 black-gold (x3)
    members, seeds derived from one fixed seed. Each tier's wins are a sum of 100
    independent draws' counts; its mean is exact (expected_tier_rates), and its variance is
    at most the binomial one of 100 x 10 trials at the tier's share (sampling without
    replacement only lowers it), so 5 sigma of that bound cannot flake (about 1 in
    1.7 million per tier), while unweighted draws would miss the expected wins by far:
    black-gold 100 instead of 192 (7.4 sigma), silver 600 instead of 410 (12 sigma)."""
    counts = {"silver": 60, "gold": 30, "black_gold": 10}
    weights = {"silver": 1, "gold": 2, "black_gold": 3}
    entries = entries_of(counts, weights)
    runs, prizes = 100, 10
    wins = dict.fromkeys(counts, 0)
    for k in range(runs):
        seed = hmac.new(b"fixed seed of the rates test", k.to_bytes(4, "big"), hashlib.sha256).digest()
        for w in draw_winners(seed, entries, ["p"] * prizes):
            wins[w.tier] += 1
    assert sum(wins.values()) == runs * prizes
    rates = expected_tier_rates(counts, weights, prizes)
    flat = expected_tier_rates(counts, dict.fromkeys(counts, 1), prizes)
    for tier in counts:
        mean = runs * counts[tier] * rates[tier]
        share = mean / (runs * prizes)
        sigma = math.sqrt(runs * prizes * share * (1 - share))
        assert abs(wins[tier] - mean) <= 5 * sigma, (tier, wins[tier], mean, sigma)
    # the bound has teeth: unweighted draws expect black-gold far outside it
    bg_mean = runs * counts["black_gold"] * rates["black_gold"]
    bg_flat = runs * counts["black_gold"] * flat["black_gold"]
    share = bg_mean / (runs * prizes)
    assert bg_mean - bg_flat > 5 * math.sqrt(runs * prizes * share * (1 - share))
    assert rates["black_gold"] > rates["gold"] > rates["silver"]
