"""The big screen: counters every worker adds to Redis, the data route, and the page in a
real browser (headless Chromium through chromedriver) while a short load runs."""

from __future__ import annotations

import time

import httpx
import pytest
from browser import assert_not_blank, chromium, outside, refused_by_policy, requested, screenshot
from serving import wait_until

from bench.engine_bench import GALA_NIGHT

pytestmark = pytest.mark.slow  # real rights serve processes, a real browser


NEAR = [{"lat": 31.2304, "lon": 121.4737}, {"lat": 31.2397, "lon": 121.4998}, {"lat": 31.1940, "lon": 121.4370}]
LEADERS = (
    '{"id": "L1", "name": "人民广场 People\'s Square", "lat": 31.2310, "lon": 121.4740}\n'
    '{"id": "L2", "name": "陆家嘴 Lujiazui", "lat": 31.2397, "lon": 121.4998}\n'
    '{"id": "L3", "name": "徐家汇 Xujiahui", "lat": 31.1940, "lon": 121.4370}\n'
)


def _with_leaders(server, tmp_path) -> None:
    """Pickup leaders in the server's Redis, and known to it: a pickup order is given one."""
    from rights.cli import main

    rows = tmp_path / "leaders.jsonl"
    rows.write_text(LEADERS, encoding="utf-8")
    assert main(["leaders", "import", str(rows), "--data-dir", str(server.data_dir)]) == 0
    headers = {"X-Rights-Now": str(GALA_NIGHT)}
    with httpx.Client(base_url=server.url, timeout=10, headers=headers) as http:
        version = http.post("/v1/eligibility", json={"lines": []}).json()["rules_version"]

        def bound() -> bool:
            body = {
                "member_id": "M00002",
                "room": "gala",
                "lines": [{"sku": "MILK-1L", "qty": 1}],
                "order_id": f"P{time.time_ns()}",
                "rules_version": version,
                "fulfillment": "pickup",
                "location": NEAR[0],
            }
            return http.post("/v1/orders", json=body).json().get("leader_id") is not None

        wait_until(bound, message="the imported leaders, reloaded by the server")


def _load(base: str, rounds: int) -> None:
    """Checkouts, orders (picked up near one of three leaders, when the server knows them),
    events and a redemption in the gala room, on the gala clock."""
    headers = {"X-Rights-Now": str(GALA_NIGHT)}
    with httpx.Client(base_url=base, timeout=10, headers=headers) as http:
        version = http.post("/v1/eligibility", json={"lines": []}).json()["rules_version"]
        for n in range(rounds):
            member = f"M{n % 50 + 1:05d}"
            cart = {"member_id": member, "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]}
            assert http.post("/v1/eligibility", json=cart).status_code == 200
            if n % 5 == 0:
                order = {"order_id": f"D{time.time_ns()}", "rules_version": version, "fulfillment": "pickup"}
                http.post("/v1/orders", json={**cart, **order, "location": NEAR[n % 3]})
            if n % 7 == 0:
                http.post(
                    "/v1/events",
                    json={"event_id": f"E{time.time_ns()}", "member_id": member, "type": "share", "room": "gala"},
                )
        big = {"member_id": "M00003", "room": "gala", "lines": [{"sku": "POWDER-900", "qty": 4}]}  # silver: 1,042.00
        upgraded = http.post(
            "/v1/orders",
            json={**big, "order_id": f"U{time.time_ns()}", "rules_version": version, "fulfillment": "delivery"},
        )
        assert upgraded.json()["tier"] == {"from": "silver", "to": "gold", "reason": "spend"}, upgraded.text
        http.post(
            "/v1/redemptions",
            json={"member_id": "M00001", "redemption_id": "OATMEAL-LOWGI", "room": "gala"},
            headers={"Idempotency-Key": f"dash-{time.time_ns()}"},
        )


def _data(base: str) -> dict:
    return httpx.get(f"{base}/dashboard/data?room=gala", timeout=10).json()


def _settled(base: str, before: dict, rounds: int) -> dict:
    """The data once the load of `rounds` checkouts has reached it: the workers add their counts
    to Redis each second, and publish the latency figures apart from them. A worker adds all
    its counts at once, so the load's last request (the redemption) counted means the rest is."""

    def redeemed(data: dict) -> int:
        return next(r["redeemed"] for r in data["redemptions"] if r["id"] == "OATMEAL-LOWGI")

    def counted():
        data = _data(base)
        return (
            data["quotes"] - before["quotes"] >= rounds
            and redeemed(data) > redeemed(before)
            and data["latency"]["eligibility_requests"] - before["latency"]["eligibility_requests"] >= rounds
            and data
        )

    return wait_until(counted, message=f"the {rounds} checkouts and the redemption on the dashboard")


def test_the_figures_add_up_across_workers(serve):
    server = serve("--demo", workers=2, env={"RIGHTS_EVENTS_PER_MINUTE": "0", "RIGHTS_REDEMPTIONS_PER_MINUTE": "0"})
    before = _data(server.url)
    _load(server.url, 60)
    after = _settled(server.url, before, 60)
    assert after["quotes"] - before["quotes"] == 60
    assert sum(after["active_by_tier"].values()) >= 40  # 50 members quoted; the HyperLogLog is approximate
    assert sum(after["orders_by_tier"].values()) - sum(before["orders_by_tier"].values()) >= 10
    assert after["points_issued"] > before["points_issued"]
    oatmeal = next(r for r in after["redemptions"] if r["id"] == "OATMEAL-LOWGI")
    assert oatmeal["redeemed"] >= 1 and oatmeal["stock_left"] == 500 - oatmeal["redeemed"]
    assert after["rules_version"].startswith("dairy-gala@") and after["latency"]["eligibility_requests"] >= 60


def test_the_page_shows_the_servers_figures_in_a_real_browser(tmp_path, serve):
    from selenium.webdriver.support.ui import WebDriverWait

    started = serve("--demo", env={"RIGHTS_EVENTS_PER_MINUTE": "0", "RIGHTS_REDEMPTIONS_PER_MINUTE": "0"})
    base = started.url
    _with_leaders(started, tmp_path)
    with chromium() as browser:
        browser.get(f"{base}/dashboard?room=gala")
        wait = WebDriverWait(browser, 20)

        def shown(b) -> dict:  # every figure at one instant (the page redraws them each second)
            return b.execute_script(
                "const out = {};"
                "document.querySelectorAll('[data-testid]').forEach(e => out[e.dataset.testid] = e.textContent);"
                "return out;"
            )

        def number(text: str) -> int:
            return int(text.replace(",", ""))

        wait.until(lambda b: shown(b).get("version", "").startswith("dairy"))
        before = number(shown(browser)["quotes"])
        figures = _data(base)
        _load(base, 40)
        server = _settled(base, figures, 40)
        # the screen's redraw that first shows the settled quotes may predate the points' metrics by a second
        settled = ("quotes", "quotes"), ("points", "points_issued"), ("points-redeemed", "points_redeemed")
        wait.until(lambda b: all(number(shown(b)[mine]) == server[theirs] for mine, theirs in settled))
        screen = shown(browser)
        assert number(screen["quotes"]) > before  # the figure changed on the screen
        assert number(screen["points"]) == server["points_issued"]
        assert number(screen["points-redeemed"]) == server["points_redeemed"] > 0
        assert number(screen["orders"]) == server["orders"] >= 8  # the load's orders, every one in the room
        assert screen["gmv"] == f"{server['gmv_fen'] / 100:,.2f}" and server["gmv_fen"] > 0
        assert number(screen["tier-upgrades"]) == server["tier_upgrades"] >= 1  # M00003: silver to gold
        assert number(screen["new-members"]) == server["new_members"]
        for rank, leader in enumerate(server["top_leaders"], 1):
            assert (
                screen[f"leader-{rank}"] == leader["name"]
                and number(screen[f"leader-orders-{rank}"]) == leader["orders"]
            )
        assert (
            server["top_leaders"]
            and len(server["top_leaders"]) <= 5
            and f"leader-{len(server['top_leaders']) + 1}" not in screen
        )
        minutes = server["per_minute"]
        assert sum(minutes["gmv_fen"]) == server["gmv_fen"] and sum(minutes["quotes"]) == server["quotes"]
        for chart in ("gmv-chart", "quotes-chart"):  # a line (or, in the first minute, a point) drawn on the page
            drawn = browser.execute_script(
                f"return document.querySelectorAll('#{chart} polyline, #{chart} circle').length"
            )
            assert drawn == 1, chart
        for tier in server["tiers"]:
            assert number(screen[f"active-{tier}"]) == server["active_by_tier"][tier], tier
            assert number(screen[f"orders-{tier}"]) == server["orders_by_tier"][tier], tier
        oatmeal = next(r for r in server["redemptions"] if r["id"] == "OATMEAL-LOWGI")
        assert screen["stock-OATMEAL-LOWGI"].replace(",", "") == str(oatmeal["stock_left"])
        assert screen["version"] == server["rules_version"]
        assert outside(requested(browser)) == []  # the page and its data, from this server alone
        assert refused_by_policy(browser) == []
        assert_not_blank(screenshot(browser, tmp_path, "dashboard.png"))


def test_the_page_shows_a_stock_alert_then_sold_out_in_a_real_browser(tmp_path, serve):
    from selenium.webdriver.support.ui import WebDriverWait

    from engine.demo import DEMO_RULES

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        DEMO_RULES.read_text(encoding="utf-8")
        + "  - {id: SCARCE, name: scarce mug, points: 1, stock: 4, low_stock: 2}\n",
        encoding="utf-8",
    )
    base = serve("--demo", "--rules", str(rules), env={"RIGHTS_REDEMPTIONS_PER_MINUTE": "0"}).url

    members = iter(f"M{n:05d}" for n in range(1, 200))

    def redeem() -> None:
        """One unit, by the next demo member who may redeem it (visitors and the poor may not)."""
        for member in members:
            answer = httpx.post(
                f"{base}/v1/redemptions",
                json={"member_id": member, "redemption_id": "SCARCE"},
                headers={"Idempotency-Key": f"scarce-{member}", "X-Rights-Now": str(GALA_NIGHT)},
                timeout=10,
            )
            if answer.status_code == 200:
                return
            assert answer.json()["error"]["code"] in ("tier_too_low", "insufficient_points", "unknown_member")
        raise AssertionError("no demo member could redeem")

    with chromium() as browser:
        browser.get(f"{base}/dashboard?room=gala")
        wait = WebDriverWait(browser, 20)

        def alert(b) -> tuple:
            return b.execute_script(
                "const a = document.querySelector('[data-testid=alert-SCARCE]');"
                "const s = document.querySelector('[data-testid=stock-SCARCE]');"
                "return a ? [a.dataset.state, a.textContent, s.className] : null;"
            )

        wait.until(lambda b: b.execute_script("return !!document.querySelector('[data-testid=stock-SCARCE]')"))
        assert alert(browser) is None
        redeem()
        redeem()  # 2 left: at the threshold
        state, text, marked = wait.until(alert)
        assert (state, text) == ("low", "scarce mug: 2 left (alert at 2)") and "low" in marked
        redeem()
        redeem()
        wait.until(lambda b: (found := alert(b)) and found[0] == "sold_out")
        assert alert(browser)[1] == "scarce mug: sold out"
        assert outside(requested(browser)) == []  # still the page and its data alone
