"""A draw's winners from its seed and its entries: deterministic, weighted, verifiable.

Anyone holding a draw's results document (GET /v1/draws/{id}) can recompute its winners
with this module alone (`rights draw verify`); docs/API.md#draws says the same in words
precise enough to reimplement it.

- The seed is 32 random bytes, committed to before any entry by publishing
  SHA-256(seed) (`commitment`), revealed once the winners are drawn.
- Random numbers: block i (i = 0, 1, 2, ...) is HMAC-SHA256(key=seed, message=i as 8
  bytes big-endian); its first 8 bytes, big-endian, are a uniform 64-bit integer x. A
  uniform integer below n takes the next block until x < 2^64 - (2^64 mod n) (rejection
  sampling: no modulo bias), then is x mod n. Every block is used once, rejected or not.
- The entries in canonical order: by member id (its UTF-8 bytes), then entry number.
  Each entry weighs its member's tier's weight as recorded when it was made.
- The prizes are drawn in slot order: each prize of the draw, in the order written,
  repeated `stock` times. For each slot: W is the total weight of the entries left; r is
  a uniform integer below W; the winner is the first entry left, in canonical order,
  whose running sum of weights exceeds r. Every entry of the winner's member then leaves:
  a member wins at most one prize. When no entry is left the remaining prizes are not
  awarded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .rules.checks.draws import MAX_DRAW_ENTRIES, MAX_DRAW_PRIZES, MAX_DRAW_WEIGHT, MAX_ENTRIES_PER_MEMBER

ALGORITHM = "rights-engine-draw-v1"
SEED_BYTES = 32
_SPAN = 1 << 64


@dataclass(frozen=True, order=True)
class Entry:
    member_id: str
    entry: int  # the member's entry number, 1, 2, ...
    tier: str
    weight: int

    def as_dict(self) -> dict:
        return {"member_id": self.member_id, "entry": self.entry, "tier": self.tier, "weight": self.weight}


@dataclass(frozen=True)
class Winner:
    slot: int  # 1 for the first prize drawn
    prize: str
    member_id: str
    entry: int
    tier: str

    def as_dict(self) -> dict:
        return {
            "slot": self.slot,
            "prize": self.prize,
            "member_id": self.member_id,
            "entry": self.entry,
            "tier": self.tier,
        }


def commitment(seed: bytes) -> str:
    """What is published before the draw: SHA-256 of the seed, in hex."""
    return hashlib.sha256(seed).hexdigest()


def canonical(entries: Iterable[Entry]) -> list[Entry]:
    """The entries in the order the draw reads them: member id's UTF-8 bytes, then entry number."""
    return sorted(entries, key=lambda e: (e.member_id.encode(), e.entry))


class Stream:
    """Uniform integers from HMAC-SHA256(seed, counter), without modulo bias."""

    def __init__(self, seed: bytes):
        self.seed = seed
        self.counter = 0

    def next64(self) -> int:
        block = hmac.new(self.seed, self.counter.to_bytes(8, "big"), hashlib.sha256).digest()
        self.counter += 1
        return int.from_bytes(block[:8], "big")

    def below(self, n: int) -> int:
        if not 0 < n <= _SPAN:
            raise ValueError(f"cannot draw below {n}")
        limit = _SPAN - _SPAN % n
        while True:
            x = self.next64()
            if x < limit:
                return x % n


class _Fenwick:
    """Running sums of weights, with updates and the search for a running sum above r."""

    def __init__(self, weights: Sequence[int]):
        self.size = len(weights)
        self.tree = [0] * (self.size + 1)
        for i, w in enumerate(weights, start=1):
            self.tree[i] += w
            parent = i + (i & -i)
            if parent <= self.size:
                self.tree[parent] += self.tree[i]

    def add(self, index: int, delta: int) -> None:
        i = index + 1
        while i <= self.size:
            self.tree[i] += delta
            i += i & -i

    def first_above(self, r: int) -> int:
        """The first index whose running sum (itself included) exceeds r."""
        pos, step = 0, 1 << self.size.bit_length()
        while step:
            nxt = pos + step
            if nxt <= self.size and self.tree[nxt] <= r:
                pos = nxt
                r -= self.tree[nxt]
            step >>= 1
        return pos  # 0-based index of the entry at position pos + 1


def draw_winners(seed: bytes, entries: Iterable[Entry], slots: Sequence[str]) -> list[Winner]:
    """The winners of `slots` (prize ids, one per unit, in draw order) among `entries`."""
    ordered = canonical(entries)
    weights = [e.weight for e in ordered]
    if any(w < 1 for w in weights):
        raise ValueError("every entry weighs at least 1")
    by_member: dict[str, list[int]] = {}
    for index, e in enumerate(ordered):
        by_member.setdefault(e.member_id, []).append(index)
    sums = _Fenwick(weights)
    total = sum(weights)
    stream = Stream(seed)
    winners = []
    for slot, prize in enumerate(slots, start=1):
        if total == 0:
            break
        chosen = ordered[sums.first_above(stream.below(total))]
        winners.append(Winner(slot, prize, chosen.member_id, chosen.entry, chosen.tier))
        for index in by_member[chosen.member_id]:
            if weights[index]:
                sums.add(index, -weights[index])
                total -= weights[index]
                weights[index] = 0
    return winners


def slots_of(prizes: Iterable[dict]) -> list[str]:
    """A results document's prizes ({id, stock}) as the draw's slots."""
    return [p["id"] for p in prizes for _ in range(int(p["stock"]))]


def _whole(value: object, low: int, high: int) -> int:
    """A whole number from `low` to `high` as the document gives it: 1.9 is not an entry number."""
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{value!r} is not a whole number from {low} to {high}")
    return value


def _text(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"{value!r} is not text")
    return value


def _weights(value: object) -> dict[str, int]:
    """The draw's tier weights, checked to be what a rule can set: tier -> a whole number
    from 1 to MAX_DRAW_WEIGHT."""
    if not isinstance(value, dict):
        raise ValueError("weights is not an object of tier weights")
    return {_text(tier): _whole(weight, 1, MAX_DRAW_WEIGHT) for tier, weight in value.items()}


def verify(document: dict) -> list[str]:
    """What is wrong with a drawn results document (an empty list: it matches): the seed
    against the commitment, the entry list's order, and the winners recomputed."""
    problems = []
    if document.get("algorithm") != ALGORITHM:
        problems.append(f"algorithm {document.get('algorithm')!r}, not {ALGORITHM!r}")
    seed_hex = document.get("seed")
    if not isinstance(seed_hex, str):
        return [*problems, "no seed: the draw has not been drawn (or the document is not a results document)"]
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        return [*problems, "the seed is not hex"]
    if len(seed) != SEED_BYTES:
        problems.append(f"the seed is {len(seed)} bytes, not {SEED_BYTES}")
    if commitment(seed) != document.get("commitment"):
        problems.append("SHA-256 of the seed is not the commitment")
    try:
        _weights(document["weights"])  # shown to an auditor: it must be a rule's
        if len(document["entries"]) > MAX_DRAW_ENTRIES:
            raise ValueError(f"more than {MAX_DRAW_ENTRIES} entries, more than a draw takes")
        entries = [
            Entry(
                _text(e["member_id"]),
                _whole(e["entry"], 1, MAX_ENTRIES_PER_MEMBER),
                _text(e["tier"]),
                _whole(e["weight"], 1, MAX_DRAW_WEIGHT),  # as recorded at entry: a tier's weight under the rules
            )
            for e in document["entries"]
        ]
        stocks = [_whole(p["stock"], 1, MAX_DRAW_PRIZES) for p in document["prizes"]]
        if sum(stocks) > MAX_DRAW_PRIZES:
            raise ValueError(f"{sum(stocks)} prizes, more than the {MAX_DRAW_PRIZES} a draw holds")
        slots = slots_of(document["prizes"])
        stated = [
            Winner(
                _whole(w["slot"], 1, MAX_DRAW_PRIZES), _text(w["prize"]), _text(w["member_id"]), w["entry"], w["tier"]
            )
            for w in document["winners"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        return [*problems, f"the document is malformed: {exc!r}"]
    if entries != canonical(entries):
        problems.append("the entry list is not in canonical order (member id, then entry number)")
    if len({(e.member_id, e.entry) for e in entries}) != len(entries):
        problems.append("an entry is listed twice")
    if document.get("entries_count") != len(entries):
        problems.append(f"entries_count is {document.get('entries_count')!r}, the list holds {len(entries)}")
    try:
        computed = draw_winners(seed, entries, slots)
    except ValueError as exc:
        return [*problems, str(exc)]
    if computed != stated:
        first = next((i for i, (a, b) in enumerate(zip(computed, stated, strict=False)) if a != b), None)
        if first is None:
            problems.append(f"{len(stated)} winners stated, {len(computed)} recomputed")
        else:
            problems.append(
                f"winner of slot {first + 1}: stated {stated[first].as_dict()}, recomputed {computed[first].as_dict()}"
            )
    return problems
