"""Alliances: brands that share members and one points pool, each point's issuer kept in
the ledger, and the clearing between them balancing to zero against the ledgers."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import at, client_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.alliance import AllianceInvalid, Value, parse
from api.ledger_chain import verify_member
from api.store import MemberRecord, write_members
from engine.demo import DEMO_GRAIN_RULES

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
GRAIN = DEMO_GRAIN_RULES.read_text()
LIVE = at("2026-11-11 20:30")  # both live rooms are live
ALLIANCE = {"brands": ["main", "grain"], "point_value": {"fen": 1, "points": 1}}
SKU = {"main": ("gala", "YOGURT-6"), "grain": ("grain-live", "RICE-5KG")}
ITEM = {"main": ("OATMEAL-LOWGI", 1800), "grain": ("MILLET-GIFT", 1500)}
serial = itertools.count()


@pytest.fixture
def admin(monkeypatch):
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)


def declare(client, body=ALLIANCE, name="pool"):
    return client.put(f"/v1/alliances/{name}", json=body, headers=ADMIN)


def order(client, member: str, brand: str, qty: int):
    room, sku = SKU[brand]
    version = client.post("/v1/eligibility", json={"room": room, "lines": []}, headers={"X-Rights-Now": str(LIVE)})
    body = {
        "order_id": f"O-{next(serial)}",
        "member_id": member,
        "room": room,
        "lines": [{"sku": sku, "qty": qty}],
        "rules_version": version.json()["rules_version"],
    }
    return client.post("/v1/orders", json=body, headers={"X-Rights-Now": str(LIVE)})


def redeem(client, member: str, brand: str):
    item = ITEM[brand][0]
    return client.post(
        "/v1/redemptions",
        json={"member_id": member, "redemption_id": item, "brand": brand},
        headers={"X-Rights-Now": str(LIVE), "Idempotency-Key": f"k-{next(serial)}"},
    )


def clearing(client, name="pool") -> dict:
    response = client.get(f"/v1/alliances/{name}/clearing", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_alliance_is_checked_field_by_field():
    with pytest.raises(AllianceInvalid, match="2 to 64"):
        parse({"brands": ["main"], "point_value": {"fen": 1, "points": 1}}, "a")
    with pytest.raises(AllianceInvalid) as refused:
        parse({"brands": ["main", "grain"], "point_value": {"fen": 1.5, "points": 1}}, "a")
    assert refused.value.field == "point_value.fen"
    with pytest.raises(AllianceInvalid) as refused:
        parse({**ALLIANCE, "redeem": ["other"]}, "a")
    assert refused.value.field == "redeem"
    with pytest.raises(AllianceInvalid) as refused:
        parse({**ALLIANCE, "values": {"other": {"fen": 1, "points": 2}}}, "a")
    assert refused.value.field == "values.other"
    assert Value(1, 2).of(3) == 2 and Value(1, 2).of(1) == 1 and Value(5, 3).of(1) == 2  # half up


def test_points_earned_in_one_brand_are_redeemed_in_another_and_cleared(redis_client, redis_server, admin):
    write_members(redis_client, [MemberRecord(id="A1", tier="gold", points=0)])
    with client_for(redis_server) as client:
        assert (
            client.post(
                "/v1/rules", content=GRAIN.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
            ).status_code
            == 201
        )
        declared = declare(client)
        assert declared.status_code == 200, declared.text
        earned = order(client, "A1", "main", 10)  # 10 yogurts in the gala room: points issued by main
        assert earned.status_code == 200, earned.text
        points = earned.json()["points"]
        assert points >= 1500
        grain_view = client.post(
            "/v1/eligibility",
            json={"member_id": "A1", "brand": "grain", "lines": []},
            headers={"X-Rights-Now": str(LIVE)},
        ).json()["member"]
        assert (grain_view["tier"], grain_view["points"]) == ("gold", points)  # one member, one balance
        spent = redeem(client, "A1", "grain")
        assert spent.status_code == 200, spent.text
        assert spent.json()["balance"] == points - 1500
        report = clearing(client)
        by_brand = {b["brand"]: b for b in report["brands"]}
        assert by_brand["main"]["issued"] == points and by_brand["grain"]["redeemed"] == 1500
        assert report["flows"] == [{"issued_by": "main", "redeemed_at": "grain", "points": 1500, "fen": 1500}]
        assert (by_brand["main"]["net_fen"], by_brand["grain"]["net_fen"], report["balance_fen"]) == (-1500, 1500, 0)
        assert verify_member(redis_client, "A1").finding is None  # the entries with brand and from are chained
        closed = declare(client, {**ALLIANCE, "redeem": ["main"]})
        assert closed.status_code == 200
        refused = redeem(client, "A1", "grain")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "alliance_redeem_closed")


def test_an_order_is_refunded_only_in_the_brand_that_settled_it(redis_client, redis_server, admin):
    """The alliance shares the order's keys, not its coupons and stock: a refund naming the
    other brand is refused and changes nothing; the settling brand's refund goes through."""
    write_members(redis_client, [MemberRecord(id="A2", tier="gold", points=0)])
    with client_for(redis_server) as client:
        pushed = client.post(
            "/v1/rules", content=GRAIN.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
        )
        assert pushed.status_code == 201 and declare(client).status_code == 200
        settled = order(client, "A2", "main", 2)
        assert settled.status_code == 200, settled.text
        order_id, balance = settled.json()["order_id"], settled.json()["balance"]
        now = {"X-Rights-Now": str(LIVE)}
        path = f"/v1/orders/{order_id}/refund"
        refused = client.post(path, json={"member_id": "A2", "brand": "grain"}, headers=now)
        assert (refused.status_code, refused.json()["error"]["field"]) == (422, "brand"), refused.text
        assert "settled in brand main" in refused.json()["error"]["reason"]
        assert int(redis_client.hget("m:{A2}", "points") or 0) == balance
        refunded = client.post(path, json={"member_id": "A2"}, headers=now)
        assert refunded.status_code == 200 and refunded.json()["points_reversed"] == settled.json()["points"]
        again = client.post(path, json={"member_id": "A2", "brand": "grain"}, headers=now)
        assert again.status_code == 422  # a replay too is the settling brand's


def test_an_alliance_naming_a_brand_not_served_is_refused(redis_client, redis_server, admin):
    """A misspelt brand would make the alliance's owner someone else and hide the members."""
    with client_for(redis_server) as client:
        pushed = client.post(
            "/v1/rules", content=GRAIN.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
        )
        assert pushed.status_code == 201
        refused = declare(client, {**ALLIANCE, "brands": ["grian", "grain"]})
        assert (refused.status_code, refused.json()["error"]["field"]) == (422, "brands"), refused.text
        assert "'grian'" in refused.json()["error"]["reason"] and "grain, main" in refused.json()["error"]["reason"]
        assert client.get("/v1/alliances", headers=ADMIN).json() == {"alliances": []}


def test_a_brand_is_in_one_alliance(redis_client, redis_server, admin):
    with client_for(redis_server) as client:
        pushed = client.post(
            "/v1/rules", content=GRAIN.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
        )
        assert pushed.status_code == 201 and declare(client).status_code == 200
        again = declare(client, {"brands": ["grain", "main"], "point_value": {"fen": 1, "points": 1}}, "other")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "brand_in_another_alliance")
        assert client.get("/v1/alliances/nope/clearing", headers=ADMIN).status_code == 404


operation = st.tuples(st.sampled_from(["earn", "redeem"]), st.sampled_from(["main", "grain"]), st.integers(1, 8))


@pytest.mark.parametrize("values", [{}, {"grain": {"fen": 1, "points": 3}}], ids=["one-value", "grain-cheaper"])
def test_clearing_balances_to_zero_and_matches_the_points_spent(redis_client, redis_server, admin, values):
    """A random run of earning and spending across the two brands: the report's issued and
    redeemed are what the answers said, its flows are a FIFO model's, and it balances."""
    with client_for(redis_server, member_cache=False) as client:
        assert (
            client.post(
                "/v1/rules", content=GRAIN.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
            ).status_code
            == 201
        )
        assert declare(client, {**ALLIANCE, "values": values}).status_code == 200
        issued: dict = defaultdict(int)
        redeemed: dict = defaultdict(int)
        flows: dict = defaultdict(int)

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(operation, min_size=1, max_size=12))
        def run(ops):
            member = f"H{next(serial)}"
            write_members(redis_client, [MemberRecord(id=member, tier="gold", points=0)])
            lots: list = []  # the model: [issuer, points left], oldest first
            for kind, brand, qty in ops:
                if kind == "earn":
                    done = order(client, member, brand, qty)
                    assert done.status_code == 200, done.text
                    issued[brand] += done.json()["points"]
                    lots.append([brand, done.json()["points"]])
                    continue
                done = redeem(client, member, brand)
                if done.status_code != 200:
                    assert done.json()["error"]["code"] in ("insufficient_points", "member_limit_reached")
                    continue
                cost = ITEM[brand][1]
                redeemed[brand] += cost
                for lot in lots:
                    used = min(lot[1], cost)
                    lot[1] -= used
                    cost -= used
                    flows[(lot[0], brand)] += used
                assert cost == 0

        run()
        report = clearing(client)
        by_brand = {b["brand"]: b for b in report["brands"]}
        assert {b: by_brand[b]["issued"] for b in ("main", "grain")} == {b: issued[b] for b in ("main", "grain")}
        assert {b: by_brand[b]["redeemed"] for b in ("main", "grain")} == {b: redeemed[b] for b in ("main", "grain")}
        expected = {(i, r): p for (i, r), p in flows.items() if i != r and p}
        assert {(f["issued_by"], f["redeemed_at"]): f["points"] for f in report["flows"]} == expected
        assert report["balance_fen"] == 0
        assert sum(b["net_fen"] for b in report["brands"]) == 0
        grain_fen = {"fen": 1, "points": 3} if values else {"fen": 1, "points": 1}
        for flow in report["flows"]:
            value = grain_fen if flow["issued_by"] == "grain" else {"fen": 1, "points": 1}
            assert flow["fen"] == (2 * flow["points"] * value["fen"] + value["points"]) // (2 * value["points"])


@pytest.mark.slow
def test_the_demo_members_earn_in_dairy_and_redeem_in_grain_and_the_commands_clear_it(serve):
    import subprocess
    import sys

    import httpx

    started = serve("--demo", env={"RIGHTS_ADMIN_TOKEN": TOKEN})
    assert "demo alliance grain-dairy declared" in started.log.read_text()
    now = {"X-Rights-Now": str(LIVE)}
    spent = httpx.post(
        f"{started.url}/v1/redemptions",
        json={"member_id": "M00001", "redemption_id": "MILLET-GIFT", "brand": "grain"},
        headers={**now, "Idempotency-Key": "grain-1"},
    )
    assert spent.status_code == 200, spent.text
    assert spent.json()["balance"] == 1850 - 1500  # M00001's dairy points, spent in grain's catalogue
    env = {"RIGHTS_ADMIN_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "rights", "alliance", "clearing", "grain-dairy", "--server", started.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    documented = (Path(__file__).parent.parent / "docs" / "BRANDS.md").read_text()
    shown = documented.split("$ rights alliance clearing grain-dairy\n", 1)[1].split("```", 1)[0]
    assert run.stdout == shown  # docs/BRANDS.md shows exactly this
    bad = subprocess.run(
        [sys.executable, "-m", "rights", "alliance", "clearing", "nope", "--server", started.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 1 and "no alliance 'nope'" in bad.stderr


def test_a_brand_closed_to_the_pool_takes_no_points_for_its_draws(redis_client, redis_server, admin):
    paid_draw = GRAIN + (
        "\ndraws:\n  - {id: GRAIN-HUNT, name: hunt, room: grain-live, cost: 100,"
        " prizes: [{id: P, name: p, points: 10, stock: 1}]}\n"
    )
    write_members(redis_client, [MemberRecord(id="D1", tier="gold", points=5000)])
    with client_for(redis_server) as client:
        pushed = client.post(
            "/v1/rules", content=paid_draw.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
        )
        assert pushed.status_code == 201, pushed.text
        assert declare(client, {**ALLIANCE, "redeem": ["main"]}).status_code == 200
        entry = client.post(
            "/v1/draws/GRAIN-HUNT/entries",
            json={"member_id": "D1"},
            headers={"X-Rights-Now": str(LIVE), "Idempotency-Key": "hunt-1"},
        )
        assert (entry.status_code, entry.json()["error"]["code"]) == (409, "alliance_redeem_closed")


def test_clearing_reads_every_entry_of_a_ledger_longer_than_a_page(redis_client, redis_server, admin):
    """Clearing reads a batch of members in one round trip and a long ledger page by page:
    an entry past the first thousand counts like the first."""
    from api.redis.keys import ledger_key

    with client_for(redis_server, member_cache=False) as client:
        pushed = client.post(
            "/v1/rules", content=GRAIN.encode(), params={"author": "t", "brand": "grain"}, headers=ADMIN
        )
        assert pushed.status_code == 201 and declare(client).status_code == 200
        write_members(redis_client, [MemberRecord(id="LONG", tier="gold")])
        pipe = redis_client.pipeline(transaction=False)
        for k in range(2_345):
            entry = {"delta": 1, "reason": "order", "ref": f"o{k}", "at": LIVE, "expires": 0, "balance": k + 1}
            pipe.xadd(ledger_key("LONG"), {**entry, "brand": "main", "from": ""})
        pipe.execute()
        report = clearing(client)
    assert {b["brand"]: b for b in report["brands"]}["main"]["issued"] == 2_345


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "100000000000000000000"}, "from"),
        ({"to": "100000000000000000000"}, "to"),
        ({"from": "1794402000", "to": "1"}, "from"),
        ({"to": "not-a-time"}, "to"),
    ],
)
def test_a_clearing_period_that_cannot_be_read_is_refused_naming_its_field(redis_server, admin, query, field):
    with client_for(redis_server) as client:
        assert declare(client).status_code == 200
        response = client.get("/v1/alliances/pool/clearing", params=query, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
