"""A Hypothesis state machine plays random sequences of settle, refund, event, redeem,
the clock moving on (points expiring), freeze / unfreeze and replays against the API and
a real Redis, and after every step checks what must always hold: each balance equals the
sum of its live lots and of its ledger, and is never negative; no stock below zero; each
order id, event id and idempotency key applied at most once."""

from __future__ import annotations

import collections

import pytest
import yaml
from conftest import at, client_for
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from api.redis.connect import sync_client
from api.store import MemberRecord, write_members
from engine.demo import DEMO_RULES

MEMBERS = ["A", "B", "C"]
ITEMS = ["OATMEAL-LOWGI", "OLIVE-OIL", "TRIAL-PACK"]
CARTS = [
    [{"sku": "MILK-1L", "qty": 1}],
    [{"sku": "YOGURT-6", "qty": 2}, {"sku": "MILK-1L", "qty": 1}],
    [{"sku": "CHEESE-LTD", "qty": 1}],
    [{"sku": "POWDER-900", "qty": 1}],
]
ADMIN = {"Authorization": "Bearer invariants-token"}


@pytest.fixture
def machine(redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", "invariants-token")
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "invariants-secret")
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["points"].pop("expire_after_months")
    data["points"]["expire_after_days"] = 1
    data["redemptions"] = [dict(item, stock=3) if item["id"] == "OLIVE-OIL" else item for item in data["redemptions"]]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with client_for(redis_server, redis_timeout_ms=1000, rules=str(rules), data_dir=str(tmp_path)) as client:
        LedgerMachine.client = client
        LedgerMachine.redis = sync_client(redis_server.url)
        yield LedgerMachine


class LedgerMachine(RuleBasedStateMachine):
    client: TestClient = None
    redis = None

    def __init__(self):
        super().__init__()
        self.redis.flushall()
        write_members(
            self.redis,
            [
                MemberRecord(id="A", tier="black_gold", points=2500),
                MemberRecord(id="B", tier="gold", points=900),
                MemberRecord(id="C", tier="silver", points=0, sessions_watched=3),
            ],
        )
        self.now = at("2026-11-11 21:00")
        self.version = self.client.app.state.service.table.version
        self.counter = 0
        self.orders: list = []  # (member, order id, points earned)
        self.sent: list = []  # what was sent, for replays: (path, body, headers)

    def _new(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _post(self, path: str, body: dict, headers: dict = None):
        headers = {"X-Rights-Now": str(self.now), **(headers or {})}
        response = self.client.post(path, json=body, headers=headers)
        assert response.status_code < 500, (path, body, response.text)
        self.sent.append((path, body, headers))
        return response

    @rule(member=st.sampled_from(MEMBERS), cart=st.sampled_from(CARTS))
    def settle(self, member, cart):
        order_id = self._new("O")
        answer = self._post(
            "/v1/orders",
            {"order_id": order_id, "member_id": member, "room": "gala", "lines": cart, "rules_version": self.version},
        )
        if answer.status_code == 200:
            self.orders.append((member, order_id, answer.json()["points"]))

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def refund(self, data):
        member, order_id, points = data.draw(st.sampled_from(self.orders))
        answer = self._post(f"/v1/orders/{order_id}/refund", {"member_id": member})
        if answer.status_code == 200:  # every point of the order is taken back, was spent, or had lapsed
            refunded = answer.json()
            assert refunded["points_reversed"] + refunded["points_not_recovered"] + refunded["points_lapsed"] == points

    @rule(member=st.sampled_from(MEMBERS), kind=st.sampled_from(["share", "photo_review", "invite_order", "watch"]))
    def event(self, member, kind):
        body = {"event_id": self._new("E"), "member_id": member, "type": kind}
        if kind == "watch":
            body.update(room="gala", seconds=600)
        self._post("/v1/events", body)

    @rule(member=st.sampled_from(MEMBERS), item=st.sampled_from(ITEMS))
    def redeem(self, member, item):
        self._post("/v1/redemptions", {"member_id": member, "redemption_id": item}, {"Idempotency-Key": self._new("K")})

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data):
        path, body, headers = data.draw(st.sampled_from(self.sent))
        self.client.post(path, json=body, headers={**headers, "X-Rights-Now": str(self.now)})

    @rule(hours=st.sampled_from([1, 6, 25]))
    def time_passes(self, hours):
        self.now += hours * 3600  # a day later, the points of a day ago lapse

    @rule(member=st.sampled_from(MEMBERS), frozen=st.booleans())
    def freeze(self, member, frozen):
        answer = self.client.post(f"/v1/members/{member}/{'freeze' if frozen else 'unfreeze'}", headers=ADMIN)
        assert answer.status_code == 200

    @invariant()
    def balances_add_up(self):
        for member in MEMBERS:
            ledger = self.client.get(
                f"/v1/members/{member}/ledger", params={"limit": 500}, headers={"X-Rights-Now": str(self.now)}
            ).json()
            entries = ledger["entries"]
            lots = {k: v for k, v in self.redis.hgetall(f"lots:{{{member}}}").items() if k != b"#"}
            assert ledger["balance"] >= 0
            assert ledger["balance"] == sum(e["delta"] for e in entries), member
            assert ledger["balance"] == sum(int(v.split()[0]) for v in lots.values()), member
            assert int(self.redis.hget(f"m:{{{member}}}", "points")) == ledger["balance"]
            # the next lapse and its points, as a quote reads them from the member hash
            live = [tuple(int(p) for p in v.split()[:2]) for v in lots.values() if int(v.split()[0]) > 0]
            soonest = min((expires for _, expires in live if expires > 0), default=0)
            lapse_at, lapse_points = self.redis.hmget(f"m:{{{member}}}", "lapse_at", "lapse_points")
            assert int(lapse_at or 0) == soonest, member  # absent: nothing lapses
            assert int(lapse_points or 0) == sum(left for left, expires in live if soonest and expires == soonest), (
                member
            )
            # a refund's unrecovered points are owed; the newest entry that changed the debt says how many,
            # and while any is owed every credit goes to it first, so nothing is left to spend
            owed = next((e["debt"] for e in entries if "debt" in e), 0)
            assert ledger["points_debt"] == owed >= 0, member
            assert ledger["points_debt"] == 0 or ledger["balance"] == 0, member
            once = collections.Counter(
                (e["reason"], e["ref"])
                for e in entries
                if e["reason"] not in ("expired", "frozen", "unfrozen", "opening", "import")
            )
            assert not [k for k, n in once.items() if n > 1], once  # every id applied at most once

    @invariant()
    def stock_never_below_zero(self):
        for key in self.redis.scan_iter(match="stock:*"):
            assert int(self.redis.get(key)) >= 0, key


@pytest.mark.slow
def test_the_ledger_holds_under_random_sequences(machine):
    test = machine.TestCase
    test.settings = settings(
        max_examples=12,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    test("runTest").runTest()
