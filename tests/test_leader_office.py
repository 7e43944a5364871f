"""A pickup leader's back office through HTTP against a real Redis: its group ranked by
points with names masked, its pick list with each item's state, its new neighbours; each
scoped to the leader's own key."""

from __future__ import annotations

import time

import pytest
from conftest import at, client_for, place_order
from serving import wait_until

from api.leader_office import mask_name
from api.redis.keys import group_key
from api.store import MemberRecord, write_members
from rights.cli import main

GALA_21 = at("2026-11-11 21:00")
NEAR_L1 = {"lat": 31.2304, "lon": 121.4737}  # People's Square
NEAR_L2 = {"lat": 31.2397, "lon": 121.4998}  # Lujiazui
MILK = [{"sku": "MILK-1L", "qty": 2}]
SCOPED = (
    "shop=shop-0123456789abcdef checkout; erp=erp-0123456789abcdef backend; "
    "tuan=tuan-0123456789abcdef leader:L1; hq=hq-0123456789abcdef0 leader:*"
)
SHOP, ERP, TUAN, HQ = "shop-0123456789abcdef", "erp-0123456789abcdef", "tuan-0123456789abcdef", "hq-0123456789abcdef0"
ROUTES = ("ranking", "redemptions", "neighbours")


@pytest.fixture(autouse=True)
def pickup_secret(monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", "leader-office-secret")


def import_leaders(tmp_path, redis_server) -> None:
    path = tmp_path / "leaders.csv"
    path.write_text(
        "id,name,lat,lon,active\n"
        "L1,人民广场 People's Square,31.2310,121.4740,1\n"
        "L2,陆家嘴 Lujiazui,31.2397,121.4998,1\n",
        encoding="utf-8",
    )
    assert main(["leaders", "import", str(path), "--redis-url", redis_server.url]) == 0


def app(redis_server, tmp_path, **settings):
    client = client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path), **settings)
    return client


def wait_for_leaders(api) -> None:
    service = api.app.state.service
    wait_until(lambda: service.leaders.by_id, message="the leader index, loaded in the background")


@pytest.mark.parametrize(
    "name, masked",
    [
        ("张三", "张*"),
        ("张", "张*"),
        ("王小明", "王*明"),
        ("欧阳娜娜", "欧*娜"),
        ("阿卜杜·热合曼", "阿*曼"),
        ("Alice Smith", "A*"),
        ("  bob ", "b*"),
        ("Li 小明", "L*"),
        ("", "*"),
        ("   ", "*"),
    ],
)
def test_a_name_is_masked_as_a_leader_app_shows_it(name, masked):
    assert mask_name(name) == masked


def test_a_leaders_ranking(redis_client, redis_server, tmp_path):
    """Members bound to L1 by their pickup orders (and one by import) ranked by balance,
    names masked; L2's member never appears; a credit moves a member up at once."""
    import_leaders(tmp_path, redis_server)
    write_members(
        redis_client,
        [
            MemberRecord(id="ZHANG", tier="black_gold", points=3000, name="张三"),
            MemberRecord(id="WANG", tier="gold", points=900, name="王小明"),
            MemberRecord(id="ALICE", tier="gold", points=850, name="Alice Smith"),
            MemberRecord(id="NONAME", points=10),
            MemberRecord(id="FAR", tier="gold", points=99_000, name="李四"),
            MemberRecord(id="OLD", tier="silver", points=500, name="赵六", leader="L1"),  # bound by import
            MemberRecord(id="ICE", tier="gold", points=50_000, name="钱七", leader="L1", frozen=True),
        ],
    )
    with app(redis_server, tmp_path) as api:
        wait_for_leaders(api)
        balances = {"OLD": 500}
        for k, member in enumerate(("ZHANG", "WANG", "ALICE", "NONAME")):
            settled = place_order(api, f"O{k}", member, MILK, now=GALA_21 + k, fulfillment="pickup", location=NEAR_L1)
            assert (settled.status_code, settled.json()["leader_id"]) == (200, "L1"), settled.text
            balances[member] = settled.json()["balance"]
        far = place_order(api, "OF", "FAR", MILK, now=GALA_21, fulfillment="pickup", location=NEAR_L2).json()
        assert far["leader_id"] == "L2"

        ranking = api.get("/v1/leaders/L1/ranking").json()
        expected = sorted(balances, key=lambda m: (-balances[m], m))
        assert [e["member_id"] for e in ranking["entries"]] == expected
        assert [e["rank"] for e in ranking["entries"]] == [1, 2, 3, 4, 5]
        assert (ranking["leader_id"], ranking["members"], ranking["complete"]) == ("L1", 5, True)
        by_id = {e["member_id"]: e for e in ranking["entries"]}
        assert {m: e["name_masked"] for m, e in by_id.items()} == {
            "ZHANG": "张*",
            "WANG": "王*明",
            "ALICE": "A*",
            "NONAME": "*",
            "OLD": "赵*",
        }
        assert by_id["ZHANG"]["tier"] == "black_gold" and by_id["NONAME"]["tier"] == "visitor"
        assert all(e["points"] == balances[m] for m, e in by_id.items())
        assert "FAR" not in by_id and "ICE" not in by_id  # another leader's member; a frozen one
        assert [e["member_id"] for e in api.get("/v1/leaders/L2/ranking").json()["entries"]] == ["FAR"]
        assert len(api.get("/v1/leaders/L1/ranking?top=2").json()["entries"]) == 2

        # ALICE is behind WANG; an invite credit (100 points) takes her past him
        assert balances["ALICE"] < balances["WANG"] < balances["ALICE"] + 100
        credited = api.post(
            "/v1/events",
            json={"event_id": "inv-1", "member_id": "ALICE", "type": "invite_order"},
            headers={"X-Rights-Now": str(GALA_21 + 60)},
        )
        assert credited.status_code == 200, credited.text
        after = api.get("/v1/leaders/L1/ranking").json()["entries"]
        alice = next(e for e in after if e["member_id"] == "ALICE")
        assert alice["points"] == credited.json()["balance"] == balances["ALICE"] + 100
        order = [e["member_id"] for e in after]
        assert order.index("ALICE") < order.index("WANG")


def test_a_member_bound_elsewhere_leaves_the_ranking_and_the_group(redis_client, redis_server, tmp_path):
    import_leaders(tmp_path, redis_server)
    write_members(redis_client, [MemberRecord(id="M1", points=10, leader="L1", name="Ann")])
    with app(redis_server, tmp_path) as api:
        assert [e["member_id"] for e in api.get("/v1/leaders/L1/ranking").json()["entries"]] == ["M1"]
        write_members(redis_client, [MemberRecord(id="M1", points=10, leader="L2", name="Ann")])
        assert api.get("/v1/leaders/L1/ranking").json()["entries"] == []
        assert redis_client.smembers(group_key("L1")) == set()  # dropped as it was read
        assert [e["member_id"] for e in api.get("/v1/leaders/L2/ranking").json()["entries"]] == ["M1"]


def test_a_group_past_the_cap_is_ranked_from_the_members_read(redis_client, redis_server, tmp_path, monkeypatch):
    import api.leader_office

    monkeypatch.setattr(api.leader_office, "GROUP_CAP", 3)
    import_leaders(tmp_path, redis_server)
    write_members(redis_client, [MemberRecord(id=f"M{k}", points=k, leader="L1") for k in range(5)])
    with app(redis_server, tmp_path) as client:
        ranking = client.get("/v1/leaders/L1/ranking").json()
    assert (ranking["members"], ranking["complete"], len(ranking["entries"])) == (3, False, 3)


def test_a_leaders_redemptions_newest_first_with_their_state(redis_client, redis_server, tmp_path):
    import_leaders(tmp_path, redis_server)
    write_members(
        redis_client,
        [
            MemberRecord(id="RICH", tier="gold", points=10_000, leader="L1", name="张三"),
            MemberRecord(id="OTHER", tier="gold", points=10_000, leader="L2"),
        ],
    )
    with app(redis_server, tmp_path) as api:

        def redeem(member, key, now):
            body = {"member_id": member, "redemption_id": "OATMEAL-LOWGI"}
            done = api.post("/v1/redemptions", json=body, headers={"X-Rights-Now": str(now), "Idempotency-Key": key})
            assert done.status_code == 200, done.text
            return done.json()["pickup_code"]

        first = redeem("RICH", "k1", GALA_21)
        time.sleep(1.1)  # the pick list orders codes by the second they were listed
        redeem("RICH", "k2", GALA_21 + 60)
        redeem("OTHER", "k3", GALA_21 + 60)
        handed = api.post(
            "/v1/pickups/verify", json={"leader_id": "L1", "code": first}, headers={"X-Rights-Now": str(GALA_21 + 900)}
        )
        assert handed.status_code == 200
        listed = api.get("/v1/leaders/L1/redemptions").json()
        assert listed["leader_id"] == "L1"
        assert listed["entries"] == [
            {
                "member_id": "RICH",
                "redemption_id": "OATMEAL-LOWGI",
                "state": "awaiting_pickup",
                "redeemed_at": GALA_21 + 60,
                "handed_at": None,
            },
            {
                "member_id": "RICH",
                "redemption_id": "OATMEAL-LOWGI",
                "state": "handed_over",
                "redeemed_at": GALA_21,
                "handed_at": GALA_21 + 900,
            },
        ]
        assert first not in api.get("/v1/leaders/L1/redemptions").text  # the code is never shown
        assert len(api.get("/v1/leaders/L1/redemptions?limit=1").json()["entries"]) == 1
        assert [e["member_id"] for e in api.get("/v1/leaders/L2/redemptions").json()["entries"]] == ["OTHER"]


def test_a_leaders_new_neighbours_are_the_feeds_with_masked_names(redis_client, redis_server, tmp_path):
    import_leaders(tmp_path, redis_server)
    write_members(
        redis_client,
        [
            MemberRecord(id="A", tier="gold", points=0, name="王小明"),
            MemberRecord(id="B", tier="gold", points=0, name="Bella"),
            MemberRecord(id="C", tier="gold", points=0, name="陈", leader="L1"),  # bound by import: no order
        ],
    )
    with app(redis_server, tmp_path) as api:
        wait_for_leaders(api)
        for k, member in enumerate(("A", "B")):
            place_order(api, f"O{member}", member, MILK, now=GALA_21 + k, fulfillment="pickup", location=NEAR_L1)
        place_order(api, "OA2", "A", MILK, now=GALA_21 + 5, fulfillment="pickup", location=NEAR_L2)  # still L1's
        found = api.get("/v1/leaders/L1/neighbours").json()
        assert found == {
            "leader_id": "L1",
            "entries": [
                {"member_id": "B", "name_masked": "B*", "order_id": "OB", "at": GALA_21 + 1},
                {"member_id": "A", "name_masked": "王*明", "order_id": "OA", "at": GALA_21},
            ],
        }
        assert len(api.get("/v1/leaders/L1/neighbours?limit=1").json()["entries"]) == 1
        assert api.get("/v1/leaders/L2/neighbours").json()["entries"] == []


def test_unknown_leaders_and_bad_parameters(redis_client, redis_server, tmp_path):
    import_leaders(tmp_path, redis_server)
    with app(redis_server, tmp_path) as api:
        for route in ROUTES:
            unknown = api.get(f"/v1/leaders/L9/{route}")
            assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_leader")
            assert unknown.json()["error"]["field"] == "leader_id"
            bad = api.get(f"/v1/leaders/-L1/{route}")
            assert (bad.status_code, bad.json()["error"]["field"]) == (422, "leader_id")
        for query, field in (("top=0", "top"), ("top=101", "top"), ("top=x", "top")):
            refused = api.get(f"/v1/leaders/L1/ranking?{query}")
            assert (refused.status_code, refused.json()["error"]["field"]) == (422, field), query
        for route in ("redemptions", "neighbours"):
            for query in ("limit=0", "limit=501", "limit=many"):
                refused = api.get(f"/v1/leaders/L1/{route}?{query}")
                assert (refused.status_code, refused.json()["error"]["field"]) == (422, "limit"), query
        assert api.get("/v1/leaders/L1/ranking?top=100").status_code == 200


def test_a_leaders_back_office_is_its_own_keys_only(redis_client, redis_server, tmp_path):
    import_leaders(tmp_path, redis_server)
    write_members(redis_client, [MemberRecord(id="M1", points=10, leader="L1", name="Ann")])
    with app(redis_server, tmp_path, api_keys=SCOPED) as api:
        for route in ROUTES:
            path = f"/v1/leaders/L1/{route}"
            assert api.get(path).status_code == 401
            for key in (SHOP, ERP):
                refused = api.get(path, headers={"X-Api-Key": key})
                assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden_scope"), route
                assert "needs leader:<id>" in refused.json()["error"]["reason"]
            assert api.get(path, headers={"X-Api-Key": TUAN}).status_code == 200
            assert api.get(path, headers={"X-Api-Key": HQ}).status_code == 200
            other = api.get(f"/v1/leaders/L2/{route}", headers={"X-Api-Key": TUAN})
            assert (other.status_code, other.json()["error"]["code"]) == (403, "forbidden_scope")
            assert "needs scope leader:L2" in other.json()["error"]["reason"]
            assert api.get(f"/v1/leaders/L2/{route}", headers={"X-Api-Key": HQ}).status_code == 200
        assert "Ann" not in api.get("/v1/leaders/L1/ranking", headers={"X-Api-Key": TUAN}).text


@pytest.mark.slow
def test_ranking_2000_members_reads_in_one_pipeline(redis_client, redis_server, tmp_path):
    import_leaders(tmp_path, redis_server)
    write_members(
        redis_client,
        [MemberRecord(id=f"M{k:05d}", points=(k * 7919) % 100_000, leader="L1", name="张三") for k in range(2_000)],
    )
    with app(redis_server, tmp_path) as api:
        api.get("/v1/leaders/L1/ranking")
        started = time.perf_counter()
        for _ in range(10):
            ranking = api.get("/v1/leaders/L1/ranking?top=100").json()
        took = (time.perf_counter() - started) / 10
    assert (ranking["members"], ranking["complete"]) == (2_000, True)
    points = [e["points"] for e in ranking["entries"]]
    assert points == sorted(points, reverse=True) and len(points) == 100
    print(f"ranking of 2,000 members: {took * 1000:.1f} ms")
    assert took < 1.0


@pytest.mark.slow  # a real `rights serve` loading the 10,000 demo members
def test_the_demo_server_has_the_demo_members_leaders(serve):
    """Every demo member is bound to one of L001..L080: a demo server knows those leaders,
    so their back office answers, and an imported leader is never replaced by them."""
    import httpx

    server = serve("--demo")
    assert "demo pickup leaders loaded (L001..L080)" in server.stderr()
    ranking = httpx.get(f"{server.url}/v1/leaders/L001/ranking?top=3", timeout=10)
    assert ranking.status_code == 200, ranking.text
    assert ranking.json()["members"] > 50 and len(ranking.json()["entries"]) == 3
    assert httpx.get(f"{server.url}/v1/leaders/L081/ranking", timeout=10).status_code == 404
