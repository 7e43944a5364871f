"""Stock that behaves like the articles' inventory, through HTTP against a real
redis-server: low-stock alerts (GET /v1/stock/alerts, the dashboard's data, /metrics)
and stock released on a schedule (weekly trial packs), seen by redemptions and quotes."""

from __future__ import annotations

import pytest
import yaml
from conftest import at, client_for

from api.store import MemberRecord, write_members
from engine.demo import DEMO_RULES
from engine.rules.load import RulesInvalid, check_source

WEEK = 7 * 86400
MONDAY = at("2026-11-02 00:00")  # the first release
WED = MONDAY + 2 * 86400 + 10 * 3600
SECRET = "stock-secret"
TRIAL = (
    "  - {id: TRIAL-WEEKLY, name: weekly trial pack, points: 10, member_limit: 1, low_stock: 20,\n"
    "     release: {every: week, amount: 200, starts: '2026-11-02T00:00:00', roll_over: %s}}\n"
)
SCARCE = "  - {id: SCARCE, name: scarce mug, points: 10, stock: 4, low_stock: 2}\n"


@pytest.fixture(autouse=True)
def pickup_secret(monkeypatch):
    monkeypatch.setenv("RIGHTS_PICKUP_SECRET", SECRET)


def _rules(tmp_path, roll_over: bool = False):
    rules = tmp_path / "rules.yaml"
    extra = TRIAL % ("true" if roll_over else "false") + SCARCE
    rules.write_text(DEMO_RULES.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return str(rules)


def _members(redis_client, n: int) -> list:
    ids = [f"M{k:03}" for k in range(n)]
    write_members(redis_client, [MemberRecord(id=i, tier="gold", points=10_000) for i in ids])
    return ids


def redeem(api, member_id, item, now, key="k1"):
    headers = {"X-Rights-Now": str(now), "Idempotency-Key": key}
    return api.post("/v1/redemptions", json={"member_id": member_id, "redemption_id": item}, headers=headers)


def alerts(api, now, **headers):
    return api.get("/v1/stock/alerts", headers={"X-Rights-Now": str(now), **headers})


def offered(api, member_id, item, now):
    answer = api.post("/v1/eligibility", json={"member_id": member_id, "lines": []}, headers={"X-Rights-Now": str(now)})
    return next(r for r in answer.json()["redemptions"] if r["id"] == item)


def stock_left(api, item, now):
    data = api.get("/dashboard/data", headers={"X-Rights-Now": str(now)}).json()
    return next(r for r in data["redemptions"] if r["id"] == item)["stock_left"]


@pytest.mark.parametrize("roll_over", [False, True])
def test_weekly_trial_packs_come_back_each_week(redis_client, redis_server, tmp_path, roll_over):
    members = _members(redis_client, 5)
    with client_for(
        redis_server, redis_timeout_ms=500, rules=_rules(tmp_path, roll_over), data_dir=str(tmp_path)
    ) as api:
        assert stock_left(api, "TRIAL-WEEKLY", WED) == 200
        for member in members[:3]:
            assert redeem(api, member, "TRIAL-WEEKLY", WED).status_code == 200
        assert stock_left(api, "TRIAL-WEEKLY", WED) == 197
        # the next week: 200 again, or the 197 left plus 200
        expected = 397 if roll_over else 200
        assert stock_left(api, "TRIAL-WEEKLY", WED + WEEK) == expected
        assert stock_left(api, "TRIAL-WEEKLY", WED + WEEK + 3600) == expected  # released once a period
        assert redeem(api, members[3], "TRIAL-WEEKLY", WED + WEEK).status_code == 200
        assert stock_left(api, "TRIAL-WEEKLY", WED + WEEK) == expected - 1
        # an instant back in the week before changes nothing
        assert stock_left(api, "TRIAL-WEEKLY", WED) == expected - 1


def test_a_redemption_in_a_new_week_sees_the_new_stock(redis_client, redis_server, tmp_path):
    members = _members(redis_client, 3)
    with client_for(redis_server, redis_timeout_ms=500, rules=_rules(tmp_path), data_dir=str(tmp_path)) as api:
        assert redeem(api, members[0], "TRIAL-WEEKLY", WED).status_code == 200
        redis_client.set("stock:{r:TRIAL-WEEKLY}", 0)  # sold out this week
        refused = redeem(api, members[1], "TRIAL-WEEKLY", WED, key="k2")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "out_of_stock")
        # the quote of this week shows it sold out, the quote of next week offers it again
        assert offered(api, members[1], "TRIAL-WEEKLY", WED)["reason"] == "out_of_stock"
        assert offered(api, members[1], "TRIAL-WEEKLY", WED + WEEK)["available"] is True
        assert redeem(api, members[1], "TRIAL-WEEKLY", WED + WEEK, key="k3").status_code == 200
        assert stock_left(api, "TRIAL-WEEKLY", WED + WEEK) == 199


def test_a_low_stock_alert_then_sold_out(redis_client, redis_server, tmp_path):
    members = _members(redis_client, 4)
    with client_for(redis_server, redis_timeout_ms=500, rules=_rules(tmp_path), data_dir=str(tmp_path)) as api:
        first = alerts(api, WED)
        assert first.status_code == 200 and first.json() == {"at": WED, "alerts": []}
        assert redeem(api, members[0], "SCARCE", WED).status_code == 200  # 3 left, above 2
        assert alerts(api, WED).json()["alerts"] == []
        assert redeem(api, members[1], "SCARCE", WED).status_code == 200  # 2 left: at the threshold
        low = {"item": "SCARCE", "kind": "redemption", "name": "scarce mug", "left": 2, "threshold": 2, "state": "low"}
        assert alerts(api, WED).json()["alerts"] == [low]
        dashboard = api.get("/dashboard/data", headers={"X-Rights-Now": str(WED)}).json()
        assert dashboard["stock_alerts"] == [low]
        metrics = api.get("/metrics").text
        assert 'rights_stock_low{brand="main",item="SCARCE"} 1.0' in metrics
        assert 'rights_stock_left{brand="main",item="SCARCE"} 2.0' in metrics
        assert 'rights_stock_low{brand="main",item="OLIVE-OIL"}' not in metrics  # sets no low_stock
        assert 'rights_stock_left{brand="main",item="OLIVE-OIL"} 300.0' in metrics
        assert redeem(api, members[2], "SCARCE", WED).status_code == 200
        assert redeem(api, members[3], "SCARCE", WED).status_code == 200
        sold_out = {**low, "left": 0, "state": "sold_out"}
        assert alerts(api, WED).json()["alerts"] == [sold_out]
        assert 'rights_stock_low{brand="main",item="SCARCE"} 1.0' in api.get("/metrics").text


def test_every_brand_s_stock_is_in_the_metrics_under_its_brand(redis_client, redis_server, tmp_path, monkeypatch):
    from engine.demo import DEMO_GRAIN_RULES

    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", "stock-admin-token-0123456789")
    admin = {"Authorization": "Bearer stock-admin-token-0123456789"}
    with client_for(redis_server, redis_timeout_ms=500, data_dir=str(tmp_path)) as api:
        pushed = api.post(
            "/v1/rules", content=DEMO_GRAIN_RULES.read_bytes(), params={"author": "t", "brand": "grain"}, headers=admin
        )
        assert pushed.status_code == 201
        redis_client.set("stock:{r:MILLET-GIFT}~grain", 123)  # grain's own key: the home brand's would say 300
        metrics = api.get("/metrics").text
        assert 'rights_stock_left{brand="grain",item="MILLET-GIFT"} 123.0' in metrics
        assert 'rights_stock_left{brand="main",item="OLIVE-OIL"}' in metrics
        versions = [line for line in metrics.splitlines() if line.startswith("rights_rules_version_info{")]
        assert len(versions) == 2 and 'brand="grain",version="grain-oil@' in "\n".join(versions), versions


def test_a_released_item_alerts_in_its_week_and_not_after_the_release(redis_client, redis_server, tmp_path):
    with client_for(redis_server, redis_timeout_ms=500, rules=_rules(tmp_path), data_dir=str(tmp_path)) as api:
        assert stock_left(api, "TRIAL-WEEKLY", WED) == 200
        redis_client.set("stock:{r:TRIAL-WEEKLY}", 15)
        assert [a["item"] for a in alerts(api, WED).json()["alerts"]] == ["TRIAL-WEEKLY"]
        assert alerts(api, WED + WEEK).json()["alerts"] == []


def test_the_alerts_need_the_backend_scope(redis_client, redis_server, tmp_path):
    keys = "shop=shop-0123456789abcdef checkout; erp=erp-0123456789abcdef backend"
    with client_for(redis_server, data_dir=str(tmp_path), api_keys=keys) as api:
        refused = alerts(api, WED, **{"X-Api-Key": "shop-0123456789abcdef"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden_scope")
        assert "needs backend" in refused.json()["error"]["reason"]
        assert alerts(api, WED).status_code == 401
        assert alerts(api, WED, **{"X-Api-Key": "erp-0123456789abcdef"}).status_code == 200
        # the big screen stays open, as before
        assert api.get("/dashboard/data").status_code == 200


def test_the_alerts_route_is_documented_with_an_example(redis_client, redis_server, tmp_path):
    with client_for(redis_server, data_dir=str(tmp_path)) as api:
        doc = api.get("/openapi.json").json()["paths"]["/v1/stock/alerts"]["get"]
        example = doc["responses"]["200"]["content"]["application/json"]["example"]
        assert {a["state"] for a in example["alerts"]} == {"low", "sold_out"}


def _problems(extra: str) -> list:
    source = DEMO_RULES.read_text(encoding="utf-8") + extra
    with pytest.raises(RulesInvalid) as caught:
        check_source(source.encode())
    line = source.count("\n", 0, len(source) - len(extra)) + 1
    added = f"redemptions[{len(yaml.safe_load(DEMO_RULES.read_text(encoding='utf-8'))['redemptions'])}]"
    return [(p.place.replace(added, "redemptions[new]"), p.line - line, p.message) for p in caught.value.problems]


def test_low_stock_and_release_are_checked_with_place_and_line():
    assert _problems("  - {id: A, points: 1, stock: 5, low_stock: 5}\n") == [
        ("redemptions[new].low_stock", 0, "must be below its stock (5), not 5")
    ]
    assert _problems("  - {id: A, points: 1, low_stock: 5}\n") == [
        ("redemptions[new].low_stock", 0, "an item without a `stock` (or a `release`) never runs low")
    ]
    assert _problems(
        "  - id: A\n    points: 1\n    stock: 5\n    release: {every: month, amount: 0, starts: soon}\n"
    ) == [
        ("redemptions[new].stock", 2, "an item with a `release` has the stock its release gives; leave `stock` out"),
        ("redemptions[new].release.every", 3, "must be one of day, week, not 'month'"),
        ("redemptions[new].release.amount", 3, "must be between 1 and 1000000000, not 0"),
        (
            "redemptions[new].release.starts",
            3,
            "'soon' is not a time; write e.g. 2026-11-11T20:00:00+08:00, room_start or room_end - 5m",
        ),
    ]
    assert _problems(
        "  - {id: A, points: 1, low_stock: 300, release: {every: day, amount: 200, starts: '2026-11-02'}}\n"
    ) == [("redemptions[new].low_stock", 0, "must be below its release's amount (200), not 300")]
    assert _problems("  - {id: A, points: 1, release: {amount: 2, starts: '2026-11-02', again: 1}}\n")[0][0] in (
        "redemptions[new].release",
        "redemptions[new].release.again",
    )


def test_a_rules_diff_says_a_release_as_written():
    from engine.rules.diff import diff_tables

    source = DEMO_RULES.read_text(encoding="utf-8")
    before = check_source(source.encode())
    after = check_source((source + TRIAL % "true").encode())
    assert [c["text"] for c in diff_tables(before, after)] == ["redemption TRIAL-WEEKLY added"]
    changed = check_source((source + (TRIAL % "true").replace("amount: 200", "amount: 300")).encode())
    texts = [c["text"] for c in diff_tables(after, changed)]
    assert texts == [
        "redemption TRIAL-WEEKLY stock: 200 -> 300",
        "redemption TRIAL-WEEKLY release: 200 every week from 2026-11-02T00:00:00+08:00, what is left carried over"
        " -> 300 every week from 2026-11-02T00:00:00+08:00, what is left carried over",
    ]


def test_a_changed_schedule_is_compared_on_the_same_clock(redis_server, redis_client):
    """A new rule table may turn a weekly release daily (or move `starts`): the stored
    period start is an instant, so the new schedule releases at its first period start
    after the last release and counts its own whole periods, never a flood of them."""
    from conftest import in_a_worker

    from api.redis.keys import REDEMPTIONS, stock_key, stock_period_key

    keys = [stock_key(REDEMPTIONS, "SHIFT"), stock_period_key(REDEMPTIONS, "SHIFT")]
    redis_client.delete(*keys)

    def read(start: int, amount: int, roll_over: int, every: int) -> int:
        async def go(service):
            await service.scripts.stock_read(keys=keys, args=[start, amount, roll_over, every])

        in_a_worker(redis_server, go)
        return int(redis_client.get(keys[0]))

    assert read(MONDAY + 4 * WEEK, 200, 1, WEEK) == 200  # weekly, its fifth week: the first release
    redis_client.set(keys[0], 70)
    assert read(MONDAY + 4 * WEEK + 86400, 10, 1, 86400) == 80  # now daily: one day since, not 29
    assert read(MONDAY + 4 * WEEK + 86400, 10, 1, 86400) == 80  # once a period
    assert read(MONDAY + 4 * WEEK, 200, 0, WEEK) == 80  # back to weekly: its current start is before
    assert read(MONDAY + 5 * WEEK, 200, 0, WEEK) == 200  # ... the last release; the next one releases
